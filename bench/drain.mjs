// Child process: drains a pre-loaded backlog with one worker and prints the result as JSON.
import { makeSystem } from './systems.mjs';

const [name, schema, countText] = process.argv.slice(2);
const count = Number(countText);
let done = 0;
let finished;
const allDone = new Promise((resolve) => (finished = resolve));
const system = await makeSystem(name, schema, () => {
  done += 1;
  if (done === count) finished();
});
const started = performance.now();
const stop = await system.startWorker();
await allDone;
const elapsedMs = performance.now() - started;
await stop();
await system.pool.end();
process.stdout.write(JSON.stringify({ elapsedMs, perSecond: count / (elapsedMs / 1000) }) + '\n');
