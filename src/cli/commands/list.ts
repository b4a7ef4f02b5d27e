import { Command, Option } from 'commander';
import { attemptStatuses } from '../../core/attempt.js';
import type { ListOptions } from '../../async-task.js';
import {
  addConnectionOptions,
  addJsonOption,
  attemptId,
  integerIn,
  note,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { attemptJson, attemptTable } from '../format.js';

interface ListCommandOptions extends ConnectionOptions, JsonOption {
  readonly status?: ListOptions['status'];
  readonly target?: string;
  readonly method?: string;
  readonly queue?: string;
  readonly token?: string;
  readonly limit: number;
  readonly before?: string;
}

export function listCommand(): Command {
  const command = new Command('list')
    .summary('list attempts, newest first')
    .description('list attempts, newest first')
    .addOption(new Option('-s, --status <status>', 'only this status').choices(attemptStatuses))
    .option('--target <name>', 'only attempts of this target (e.g. OrderClient)')
    .option('--method <name>', 'only attempts of this method (e.g. fulfill)')
    .option('-q, --queue <name>', 'only this queue')
    .option('--token <token>', 'only the attempts holding this idempotence token, exactly')
    .addOption(
      new Option('-n, --limit <n>', 'at most this many (1-1000)')
        .default(50)
        .argParser(integerIn(1, 1000)),
    )
    .addOption(
      new Option('--before <id>', 'only attempts older than this id (the next page)').argParser(
        attemptId,
      ),
    )
    .action(async (options: ListCommandOptions) => {
      const attempts = await withTasks(options, (tasks) =>
        tasks.list({
          limit: options.limit,
          ...(options.status === undefined ? {} : { status: options.status }),
          ...(options.target === undefined ? {} : { target: options.target }),
          ...(options.method === undefined ? {} : { methodName: options.method }),
          ...(options.queue === undefined ? {} : { queue: options.queue }),
          ...(options.token === undefined ? {} : { idempotenceToken: options.token }),
          ...(options.before === undefined ? {} : { before: options.before }),
        }),
      );
      if (options.json) {
        outJson(attempts.map(attemptJson));
        return;
      }
      if (attempts.length === 0) {
        out('no attempts match');
        return;
      }
      for (const line of attemptTable(attempts)) out(line);
      const last = attempts.at(-1);
      if (attempts.length === options.limit && last) {
        note(`more may follow: add --before ${last.id} for the next page`);
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
