import { Command } from 'commander';
import type { AsyncTask } from '../async-task.js';
import type { Attempt } from '../core/attempt.js';
import {
  addConnectionOptions,
  addJsonOption,
  attemptId,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from './common.js';
import { attemptJson } from './format.js';

/**
 * A command that moves one attempt to another status (`retry`, `expire`, `fail`). A transition
 * the attempt's status does not allow is an InvalidStateError: exit code 1, one line.
 */
export function transitionCommand(
  name: string,
  summary: string,
  description: string,
  apply: (tasks: AsyncTask<unknown>, id: string) => Promise<Attempt>,
  describe: (attempt: Attempt) => string,
): Command {
  const command = new Command(name)
    .summary(summary)
    .description(description)
    .argument('<id>', 'the attempt id', attemptId)
    .action(async (id: string, options: ConnectionOptions & JsonOption) => {
      const attempt = await withTasks(options, (tasks) => apply(tasks, id));
      if (options.json) outJson(attemptJson(attempt));
      else out(describe(attempt));
    });
  return addJsonOption(addConnectionOptions(command));
}
