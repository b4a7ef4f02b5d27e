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

function emptyCounts(): Counts {
  return { pending: 0, running: 0, succeeded: 0, failed: 0, expired: 0, total: 0 };
}

export function statsCommand(): Command {
  const command = new Command('stats')
    .summary('count attempts per status and queue')
    .description('count attempts per status and per queue')
    .action(async (options: ConnectionOptions & JsonOption) => {
      const rows = await withTasks(options, (tasks) => tasks.stats());
      const byStatus = emptyCounts();
      const byQueue = new Map<string, Counts>();
      for (const { status, queue, count } of rows) {
        let counts = byQueue.get(queue);
        if (!counts) byQueue.set(queue, (counts = emptyCounts()));
        counts[status] += count;
        counts.total += count;
        byStatus[status] += count;
        byStatus.total += count;
      }
      if (options.json) {
        const { total, ...statuses } = byStatus;
        outJson({ total, byStatus: statuses, byQueue: Object.fromEntries(byQueue) });
        return;
      }
      if (byStatus.total === 0) {
        out(`no attempts in ${options.table}`);
        return;
      }
      const columns = [...attemptStatuses, 'total'] as const;
      const line = (name: string, counts: Counts): string[] => [
        name,
        ...columns.map((status) => formatCount(counts[status])),
      ];
      const rowsOut = [...byQueue].map(([queue, counts]) => line(queue, counts));
      if (byQueue.size > 1) rowsOut.push(line('(all queues)', byStatus));
      for (const text of table(
        ['QUEUE', ...columns.map((c) => c.toUpperCase())],
        rowsOut,
        new Set(columns.map((_, i) => i + 1)),
      )) {
        out(text);
      }
    });
  return addJsonOption(addConnectionOptions(command));
}
