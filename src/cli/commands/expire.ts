import type { Command } from 'commander';
import { transitionCommand } from '../transition.js';

export function expireCommand(): Command {
  return transitionCommand(
    'expire',
    'mark a pending attempt expired',
    "mark a pending attempt expired, so it never runs (the gem's expire!)",
    (tasks, id) => tasks.expire(id),
    (attempt) => `attempt ${attempt.id} (${attempt.target}.${attempt.methodName}) is expired`,
  );
}
