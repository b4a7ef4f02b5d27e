import { Command } from 'commander';
import { checkSchedules } from '../../core/schedule.js';
import { inTimeZone, scheduleSummary } from '../../core/schedule-summary.js';
import { addJsonOption, integerIn, out, outJson, type JsonOption } from '../common.js';
import { CliError } from '../errors.js';
import { table } from '../format.js';
import { loadTargetsModule } from '../targets-module.js';

interface SchedulesOptions extends JsonOption {
  readonly targets: string;
  readonly next: number;
}

export function schedulesCommand(): Command {
  const command = new Command('schedules')
    .summary('list recurring tasks and their next runs')
    .description(
      'list the recurring tasks (the `schedules` export of the targets module, as `worker --targets` runs them) with their next runs; needs no database',
    )
    .requiredOption(
      '--targets <module>',
      'JavaScript module exporting `targets` and `schedules` (as for `async-task worker`)',
    )
    .option('-n, --next <count>', 'next runs to show per schedule (1-100)', integerIn(1, 100), 3)
    .action(async (options: SchedulesOptions) => {
      const module = await loadTargetsModule(options.targets);
      if (module.options.schedules === undefined || module.options.schedules.length === 0) {
        throw new CliError(
          `the targets module ${options.targets} exports no schedules: export \`schedules\`, an array of { name, cron, method, args }`,
        );
      }
      const now = new Date();
      // The worker this module configures enqueues ticks with no queue of their own to its
      // defaults' queue, or 'default'.
      const defaultQueue = module.options.defaults?.queue ?? 'default';
      const listed = checkSchedules(module.options.schedules).map((schedule) =>
        scheduleSummary(schedule, options.next, now, defaultQueue),
      );
      if (options.json) {
        outJson(
          listed.map((entry) => ({ ...entry, next: entry.next.map((d) => d.toISOString()) })),
        );
        return;
      }
      const rows = listed.map((entry) => [
        entry.name,
        entry.cron,
        entry.timezone,
        entry.target === null ? '?' : `${entry.target}.${entry.method}`,
        entry.next[0] ? inTimeZone(entry.next[0], entry.timezone) : 'never',
      ]);
      for (const line of table(['name', 'cron', 'time zone', 'method', 'next run'], rows)) {
        out(line);
      }
      if (options.next > 1) {
        for (const entry of listed) {
          out();
          out(`${entry.name}:`);
          for (const instant of entry.next) {
            out(`  ${inTimeZone(instant, entry.timezone)}  (${instant.toISOString()})`);
          }
        }
      }
    });
  return addJsonOption(command);
}
