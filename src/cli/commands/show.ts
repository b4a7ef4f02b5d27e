import { Command } from 'commander';
import {
  addConnectionOptions,
  addJsonOption,
  attemptId,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { attemptDetail } from '../../dashboard/data.js';
import { CliError } from '../errors.js';
import { attemptDetails, attemptJson } from '../format.js';

export function showCommand(): Command {
  const command = new Command('show')
    .summary('show one attempt')
    .description(
      'show one attempt, with the lease of a running one (encrypted arguments are never shown)',
    )
    .argument('<id>', 'the attempt id', attemptId)
    .action(async (id: string, options: ConnectionOptions & JsonOption) => {
      const attempt = await withTasks(options, (tasks) => attemptDetail(tasks, id));
      if (!attempt) throw new CliError(`no attempt with id ${id} in ${options.table}`);
      if (options.json) {
        outJson({
          ...attemptJson(attempt),
          lockedBy: attempt.lockedBy,
          lockedUntil: attempt.lockedUntil?.toISOString() ?? null,
        });
      } else for (const line of attemptDetails(attempt, attempt)) out(line);
    });
  return addJsonOption(addConnectionOptions(command));
}
