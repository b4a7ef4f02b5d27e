import { Command } from 'commander';
import { attemptStatuses, type AttemptStatus } from '../../core/attempt.js';
import {
  addConnectionOptions,
  addJsonOption,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { formatCount } from '../progress.js';
import { table } from '../format.js';

type Counts = Record<AttemptStatus, number> & { total: number };

/** A queue's (or all queues') counts, and which of them include an estimate. */
interface Tally {
  readonly counts: Counts;
  readonly approximate: Set<AttemptStatus | 'total'>;
}

function emptyTally(): Tally {
  return {
    counts: { pending: 0, running: 0, succeeded: 0, failed: 0, expired: 0, total: 0 },
    approximate: new Set(),
  };
}

function add(tally: Tally, status: AttemptStatus, count: number, approximate: boolean): void {
  tally.counts[status] += count;
  tally.counts.total += count;
  if (approximate) tally.approximate.add(status).add('total');
}

export function statsCommand(): Command {
  const command = new Command('stats')
    .summary('count attempts per status and queue')
    .description(
      'count attempts per status and per queue; on a large table the succeeded counts are estimates, marked ~',
    )
    .action(async (options: ConnectionOptions & JsonOption) => {
      const rows = await withTasks(options, (tasks) => tasks.stats());
      const all = emptyTally();
      const byQueue = new Map<string, Tally>();
      for (const { status, queue, count, approximate } of rows) {
        let tally = byQueue.get(queue);
        if (!tally) byQueue.set(queue, (tally = emptyTally()));
        add(tally, status, count, approximate);
        add(all, status, count, approximate);
      }
      if (options.json) {
        const { total, ...statuses } = all.counts;
        outJson({
          total,
          byStatus: statuses,
          byQueue: Object.fromEntries([...byQueue].map(([queue, tally]) => [queue, tally.counts])),
          // Whether any count above includes an estimate (succeeded attempts of a large table).
          approximate: all.approximate.size > 0,
        });
        return;
      }
      if (all.counts.total === 0) {
        out(`no attempts in ${options.table}`);
        return;
      }
      const columns = [...attemptStatuses, 'total'] as const;
      const line = (name: string, tally: Tally): string[] => [
        name,
        ...columns.map(
          (status) =>
            `${tally.approximate.has(status) ? '~' : ''}${formatCount(tally.counts[status])}`,
        ),
      ];
      const rowsOut = [...byQueue].map(([queue, tally]) => line(queue, tally));
      if (byQueue.size > 1) rowsOut.push(line('(all queues)', all));
      for (const text of table(
        ['QUEUE', ...columns.map((c) => c.toUpperCase())],
        rowsOut,
        new Set(columns.map((_, i) => i + 1)),
      )) {
        out(text);
      }
      if (all.approximate.size > 0) {
        out("~ estimated: a large table's succeeded attempts are sampled, not counted");
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
