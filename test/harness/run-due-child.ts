// A separate process calling runDue until no task is left, for the conformance suite.
// Protocol on stdio: prints `ready`, waits for a `go` line on stdin, prints `started` when its
// first handler starts and holds every handler until a `continue` line (so that both children
// have claimed work before either finishes any, however the machine schedules them), prints
// `ran <id>` for each task it performs, and `done <count>` at the end.
import { createInterface } from 'node:readline';
import { AsyncTask, defineTarget, type TaskContext } from '../../src/index.js';
import { driverFromEnv } from './child-driver.js';
import { recorderTargetName } from './recorder-target.js';

const { driver, table, close } = await driverFromEnv();
let ran = 0;
let started = false;
let release!: () => void;
const released = new Promise<void>((resolve) => (release = resolve));
const tasks = new AsyncTask({
  driver,
  table,
  targets: [
    defineTarget(recorderTargetName, {
      async record(_args: { n: number }, ctx: TaskContext): Promise<void> {
        if (!started) {
          started = true;
          process.stdout.write('started\n');
        }
        await released;
        ran += 1;
        process.stdout.write(`ran ${ctx.attempt.id}\n`);
      },
    }),
  ],
});
// Warm up the pool and the schema check before the start line, so both children start together.
await tasks.list({ limit: 1 });

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => {
  lines.on('line', (line) => {
    if (line === 'go') resolve();
    if (line === 'continue') {
      release();
      lines.close();
    }
  });
});
process.stdout.write('ready\n');
await go;

for (;;) {
  const result = await tasks.runDue({ limit: 100, concurrency: 8 });
  if (result.claimed > 0) continue;
  // Nothing claimed: done once nothing is pending (rows the other child holds are not ours).
  if ((await tasks.list({ status: 'pending', limit: 1 })).length === 0) break;
}
process.stdout.write(`done ${ran}\n`);
await close();
