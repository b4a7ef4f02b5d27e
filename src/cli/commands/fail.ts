import type { Command } from 'commander';
import { transitionCommand } from '../transition.js';

export function failCommand(): Command {
  return transitionCommand(
    'fail',
    'mark a pending attempt failed',
    "mark a pending attempt failed, so it never runs (the gem's fail!)",
    (tasks, id) => tasks.fail(id),
    (attempt) => `attempt ${attempt.id} (${attempt.target}.${attempt.methodName}) is failed`,
  );
}
