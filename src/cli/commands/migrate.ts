import { Command, Option } from 'commander';
import {
  addConnectionOptions,
  addJsonOption,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { parseDuration } from '../duration.js';

export function migrateCommand(): Command {
  const command = new Command('migrate')
    .summary('create or upgrade the attempts table')
    .description(
      'create or upgrade the attempts table (versioned, idempotent, safe to run from many processes)',
    )
    .addOption(
      new Option(
        '--lock-wait <duration>',
        'how long to go on trying while another session holds the table (tries of at most 2s each)',
      )
        .default(60_000, '1m')
        .argParser(parseDuration),
    )
    .action(async (options: ConnectionOptions & JsonOption & { lockWait: number }) => {
      const migrate = { lockWaitMs: options.lockWait };
      const result = await withTasks(options, (tasks) => tasks.migrate(migrate), {
        open: { create: true },
      });
      if (options.json) {
        outJson({ table: options.table, applied: result.applied });
      } else if (result.applied.length === 0) {
        out(`table ${options.table} is up to date`);
      } else {
        out(
          `table ${options.table}: applied migration${result.applied.length === 1 ? '' : 's'} ${result.applied.join(', ')}`,
        );
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
