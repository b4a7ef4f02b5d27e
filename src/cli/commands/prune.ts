import { Command, Option } from 'commander';
import {
  addConnectionOptions,
  addJsonOption,
  integerIn,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { parseDuration } from '../duration.js';
import { Progress, formatCount } from '../progress.js';

interface PruneCommandOptions extends ConnectionOptions, JsonOption {
  readonly olderThan: { readonly text: string; readonly ms: number };
  readonly batchSize: number;
  readonly progress: boolean;
}

export function pruneCommand(): Command {
  const command = new Command('prune')
    .summary('delete finished attempts older than a duration')
    .description(
      'delete finished attempts (succeeded, failed, expired) completed longer ago than a duration',
    )
    .addOption(
      new Option('--older-than <duration>', 'e.g. 7d, 12h, 30m, 1h30m')
        .argParser((text) => ({ text: text.trim(), ms: parseDuration(text) }))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--batch-size <n>', 'most rows one DELETE removes (1-100000)')
        .default(1000)
        .argParser(integerIn(1, 100_000)),
    )
    .option('--no-progress', 'no progress display on stderr')
    .action(async (options: PruneCommandOptions) => {
      const olderThan = new Date(Date.now() - options.olderThan.ms);
      const progress = new Progress({
        label: 'pruning',
        unit: 'deleted',
        enabled: options.progress,
      });
      const deleted = await withTasks(options, (tasks) =>
        tasks.prune({
          olderThan,
          batchSize: options.batchSize,
          onProgress: (count) => progress.update(count),
        }),
      );
      progress.finish();
      if (options.json) {
        outJson({ deleted, olderThan: olderThan.toISOString() });
      } else {
        out(
          `deleted ${formatCount(deleted)} finished attempt${deleted === 1 ? '' : 's'} completed more than ${options.olderThan.text} ago (before ${olderThan.toISOString()})`,
        );
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
