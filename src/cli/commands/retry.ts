import type { Command } from 'commander';
import { transitionCommand } from '../transition.js';

export function retryCommand(): Command {
  return transitionCommand(
    'retry',
    'put a failed or expired attempt back to pending',
    'put a failed or expired attempt back to pending, due now (with room for one more run)',
    (tasks, id) => tasks.retry(id),
    (attempt) =>
      `attempt ${attempt.id} (${attempt.target}.${attempt.methodName}) is pending again: due now, run ${attempt.numAttempts + 1} of at most ${attempt.maxAttempts}`,
  );
}
