import { Command } from 'commander';
import {
  addConnectionOptions,
  addJsonOption,
  out,
  outJson,
  withTasks,
  type ConnectionOptions,
  type JsonOption,
} from '../common.js';
import { clip, printable, shortTime, table } from '../format.js';

export function workersCommand(): Command {
  const command = new Command('workers')
    .summary('list the live workers')
    .description(
      'list the workers alive now, oldest first: each writes its row when it starts and at every heartbeat, and removes it when it stops; one that died stays listed until three heartbeats (at least a lease) after its last',
    )
    .action(async (options: ConnectionOptions & JsonOption) => {
      const workers = await withTasks(options, (tasks) => tasks.workers());
      if (options.json) {
        outJson(
          workers.map((worker) => ({
            ...worker,
            startedAt: worker.startedAt.toISOString(),
            lastSeenAt: worker.lastSeenAt.toISOString(),
            aliveUntil: worker.aliveUntil.toISOString(),
          })),
        );
        return;
      }
      if (workers.length === 0) {
        out(`no live workers on ${options.table}`);
        return;
      }
      const rows = workers.map((worker) => [
        printable(worker.id),
        clip(worker.hostname, 40),
        String(worker.pid),
        worker.queues === null ? '(all)' : clip(worker.queues.join(','), 60),
        String(worker.concurrency),
        String(worker.running),
        shortTime(worker.startedAt),
        shortTime(worker.lastSeenAt),
      ]);
      const header = ['ID', 'HOST', 'PID', 'QUEUES', 'CONCURRENCY', 'RUNNING', 'STARTED', 'SEEN'];
      for (const line of table(header, rows, new Set([2, 4, 5]))) out(line);
    });
  return addJsonOption(addConnectionOptions(command));
}
