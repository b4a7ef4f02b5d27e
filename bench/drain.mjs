// Child process: drains a pre-loaded backlog with one worker and prints the result as JSON.
// The clock stops when the database shows every task finished (no row pending or running),
// not when the last handler returns: an outcome waiting in memory is not done.
// Run with --expose-gc so the heap after a forced GC can be sampled.
import { readFileSync, readdirSync } from 'node:fs';
import { makeSystem } from './systems.mjs';

/**
 * CPU ms of this process's threads other than the main one (V8's compiler and GC helpers,
 * libuv's pool), from /proc (Linux; undefined elsewhere). A cold process spends a large share of
 * a short drain compiling hot code on them: this shows how much.
 */
function helperCpuMs() {
  try {
    const tick = 10; // ms per clock tick (USER_HZ is 100 on Linux)
    let helpers = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (Number(tid) === process.pid) continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      helpers += (Number(fields[11]) + Number(fields[12])) * tick;
    }
    return helpers;
  } catch {
    return undefined;
  }
}

const [name, schema, countText, mode] = process.argv.slice(2);
// `heap`: also take the heap after a forced GC at each tenth of the drain. A run that does is
// not timed: each forced full collection costs its pause and makes V8 throw away and compile
// again the optimized code of the hot functions (3-4 us of worker CPU per task at 200,000).
const sampleHeap = mode === 'heap';
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
// Heap after a forced GC at each tenth of the drain: flat means nothing builds up per task.
let nextHeapAt = sampleHeap ? count / 10 : Infinity;
const heapSampler = setInterval(() => {
  if (done < nextHeapAt || !global.gc) return;
  nextHeapAt += count / 10;
  global.gc();
  heapSamples.push({ done, heapMb: process.memoryUsage().heapUsed / 2 ** 20 });
}, 50);

const helpersBefore = helperCpuMs();
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
const helpersAfter = helperCpuMs();
sample();
clearInterval(sampler);
clearInterval(heapSampler);
if (global.gc && sampleHeap) {
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
    // Exited helper threads are not counted; V8's and libuv's live as long as the process.
    helperCpuUsPerTask:
      helpersBefore === undefined || helpersAfter === undefined
        ? null
        : ((helpersAfter - helpersBefore) * 1000) / count,
    peakRssMb: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    peakUnwritten: system.unwritten() === undefined ? null : peakUnwritten,
    heapSamples,
  }) + '\n',
);
