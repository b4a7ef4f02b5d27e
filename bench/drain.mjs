// Child process: drains a pre-loaded backlog with one worker and prints the result as JSON.
// The clock stops when the database shows every task finished (no row pending or running),
// not when the last handler returns: an outcome waiting in memory is not done.
// Run with --expose-gc so the heap after a forced GC can be sampled.
import { makeSystem } from './systems.mjs';

const [name, schema, countText] = process.argv.slice(2);
const count = Number(countText);
let done = 0;
let handlersDone;
const allRan = new Promise((resolve) => (handlersDone = resolve));
const system = await makeSystem(name, schema, () => {
  done += 1;
  if (done === count) handlersDone(performance.now());
});

// Sampled while the drain runs: resident memory, and outcomes finished but not yet written.
let peakUnwritten = 0;
let peakRss = 0;
const heapSamples = [];
const sample = () => {
  const unwritten = system.unwritten();
  if (unwritten !== undefined) peakUnwritten = Math.max(peakUnwritten, unwritten);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
};
const sampler = setInterval(sample, 20);
// Heap after a forced GC at each tenth of the drain: flat means nothing builds up per task. Only
// on drains of 100,000 or more: on a short one ten forced collections are a tenth of its time.
let nextHeapAt = count >= 100_000 ? count / 10 : Infinity;
const heapSampler = setInterval(() => {
  if (done < nextHeapAt || !global.gc) return;
  nextHeapAt += count / 10;
  global.gc();
  heapSamples.push({ done, heapMb: process.memoryUsage().heapUsed / 2 ** 20 });
}, 50);

const cpuBefore = process.cpuUsage();
const started = performance.now();
const stop = await system.startWorker();
const lastHandlerAt = await allRan;
// Every outcome written: poll the database until nothing is pending or running.
const client = system.pool ? await system.pool.connect() : undefined;
while (await system.busy(client)) await new Promise((resolve) => setTimeout(resolve, 2));
const durableAt = performance.now();
client?.release();
const cpu = process.cpuUsage(cpuBefore);
sample();
clearInterval(sampler);
clearInterval(heapSampler);
if (global.gc && count >= 100_000) {
  global.gc();
  heapSamples.push({ done, heapMb: process.memoryUsage().heapUsed / 2 ** 20 });
}
await stop();
await (system.pool ? system.pool.end() : system.close?.());
const elapsedMs = durableAt - started;
process.stdout.write(
  JSON.stringify({
    elapsedMs,
    perSecond: count / (elapsedMs / 1000),
    handlersMs: lastHandlerAt - started,
    cpuUsPerTask: (cpu.user + cpu.system) / count,
    peakRssMb: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    peakUnwritten: system.unwritten() === undefined ? null : peakUnwritten,
    heapSamples,
  }) + '\n',
);
