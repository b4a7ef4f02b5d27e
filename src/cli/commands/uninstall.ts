import { Command } from 'commander';
import { UsageError } from '../errors.js';
import {
  addConnectionOptions,
  addJsonOption,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';

interface UninstallCommandOptions extends ConnectionOptions, JsonOption {
  readonly yes?: boolean;
}

export function uninstallCommand(): Command {
  const command = new Command('uninstall')
    .summary('drop the table and all that migrate created (--yes)')
    .description(
      'drop the attempts table, with every attempt in it, and everything `migrate` created with it (functions, triggers, bookkeeping); `migrate` creates it all afresh',
    )
    .option('--yes', 'confirm: the attempts and their history are deleted for good')
    .action(async (options: UninstallCommandOptions) => {
      if (options.yes !== true) {
        throw new UsageError(
          `uninstall drops table ${options.table} with every attempt in it, and everything async-task created with it; add --yes to confirm`,
        );
      }
      const { removed } = await withTasks(options, (tasks) => tasks.uninstall());
      if (options.json) {
        outJson({ table: options.table, removed });
      } else if (removed.length === 0) {
        out(`table ${options.table}: nothing to remove`);
      } else {
        out(`table ${options.table}: removed ${removed.join(', ')}`);
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
