// A separate process calling runDue until no task is left, for the conformance suite.
// Protocol on stdio: prints `ready`, waits for a `go` line on stdin, prints `ran <id>` for each
// task it performs, and `done <count>` at the end.
import { createInterface } from 'node:readline';
import { AsyncTask } from '../../src/index.js';
import { driverFromEnv } from './child-driver.js';
import { recorderTarget } from './recorder-target.js';

const { driver, table, close } = await driverFromEnv();
let ran = 0;
const tasks = new AsyncTask({
  driver,
  table,
  targets: [
    recorderTarget((id) => {
      ran += 1;
      process.stdout.write(`ran ${id}\n`);
    }),
  ],
});
// Warm up the pool and the schema check before the start line, so both children start together.
await tasks.list({ limit: 1 });

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => {
  lines.on('line', (line) => {
    if (line === 'go') resolve();
  });
});
process.stdout.write('ready\n');
await go;
lines.close();

for (;;) {
  const result = await tasks.runDue({ limit: 100, concurrency: 8 });
  if (result.claimed > 0) continue;
  // Nothing claimed: done once nothing is pending (rows the other child holds are not ours).
  if ((await tasks.list({ status: 'pending', limit: 1 })).length === 0) break;
}
process.stdout.write(`done ${ran}\n`);
await close();
