// `npm run bench:bulk -- <system> <system> …`: bulk enqueue of the given systems (bench/systems.mjs
// names, e.g. async-task async-task-baseline graphile-worker) in one process, transactions of
// 1,000 taking turns (the order reversed every round), so that the disk's and the machine's
// moods fall on every system alike; `npm run bench`'s bulk scenario runs one system after the
// other. The first 30 rounds warm up; the next 100 are timed. Prints tasks/s and this process's
// CPU per task for each.
import { makeSystem } from './systems.mjs';

const names = process.argv.slice(2);
if (names.length === 0) {
  console.error('usage: npm run bench:bulk -- <system> [<system> …]');
  process.exit(2);
}
const warmup = 30;
const timed = 100;
const systems = [];
for (const name of names) {
  const system = await makeSystem(
    name,
    `bulk_${name.replace(/\W/g, '_')}_${process.pid}`,
    () => {},
  );
  await system.setup();
  systems.push({ name, system, client: await system.pool.connect(), ms: 0, cpuUs: 0 });
}
try {
  for (let round = 0; round < warmup + timed; round++) {
    for (const entry of round % 2 === 0 ? systems : [...systems].reverse()) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      await entry.client.query('BEGIN');
      await entry.system.enqueueBulk(entry.client, round * 1000, 1000);
      await entry.client.query('COMMIT');
      if (round < warmup) continue;
      entry.ms += performance.now() - started;
      const used = process.cpuUsage(cpu);
      entry.cpuUs += used.user + used.system;
    }
  }
  console.log(`bulk enqueue, ${timed} transactions of 1,000 each, taking turns after ${warmup}`);
  for (const { name, ms, cpuUs } of systems) {
    const tasks = timed * 1000;
    console.log(
      `${name}: ${Math.round(tasks / (ms / 1000)).toLocaleString('en-US')} tasks/s, client CPU ${(cpuUs / tasks).toFixed(1)} µs/task`,
    );
  }
} finally {
  for (const { system, client } of systems) {
    client.release();
    await system.teardown();
  }
}
