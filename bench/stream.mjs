// `npm run bench:stream -- --systems=async-task,graphile-worker --rate=10000 --seconds=60`: a
// steady stream instead of a backlog. A producer (this process) enqueues `rate` no-op tasks a
// second in transactions of `batch` for `seconds`, while one worker process runs them; then the
// producer stops and the worker finishes what is left. Every 10 s it prints the tasks started,
// the time from enqueue to start (p50, p99, max; the payload carries its enqueue time), the
// pending backlog the database shows, and the worker's CPU and RSS. Any system of
// bench/systems.mjs (PostgreSQL, MySQL/MariaDB, SQLite: the producer on a connection of its own,
// the worker on its driver's), one after the other; ASYNC_TASK_BENCH_URL and
// ASYNC_TASK_BENCH_MYSQL_URL pick the servers.
import { fork } from 'node:child_process';
import { databaseUrl, makeSystem, mysqlUrl, stampPayloads, workerSettings } from './systems.mjs';

const windowMs = 10_000;

if (process.argv[2] === '--worker') {
  // Child: the worker. Reports each window's starts and latencies to the parent.
  const [name, schema] = process.argv.slice(3);
  let latencies = [];
  const system = await makeSystem(name, schema, (args) => latencies.push(Date.now() - args.t));
  const stop = await system.startWorker();
  process.send({ ready: true });
  let peakRss = 0;
  const rssSampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 100);
  const report = setInterval(() => {
    const sorted = latencies.sort((a, b) => a - b);
    latencies = [];
    const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    const cpu = process.cpuUsage();
    process.send({
      started: sorted.length,
      p50: at(0.5),
      p99: at(0.99),
      max: sorted.at(-1) ?? NaN,
      cpuUs: cpu.user + cpu.system,
      rssMb: Math.round(Math.max(peakRss, process.memoryUsage.rss()) / 2 ** 20),
    });
    peakRss = 0;
  }, windowMs);
  process.on('message', async () => {
    clearInterval(report);
    clearInterval(rssSampler);
    await stop();
    process.exit(0);
  });
} else {
  const args = new Map(
    process.argv.slice(2).map((arg) => {
      const [key, value] = arg.replace(/^--/, '').split('=');
      return [key, value ?? 'true'];
    }),
  );
  const systems = (args.get('systems') ?? 'async-task,graphile-worker').split(',');
  const rate = Number(args.get('rate') ?? 10_000);
  const seconds = Number(args.get('seconds') ?? 60);
  const batch = Number(args.get('batch') ?? 50);
  stampPayloads();
  const hidePassword = (url) => url.replace(/\/\/[^@]*@/, '//');
  console.log(
    `# stream: ${rate.toLocaleString('en-US')} tasks/s in transactions of ${batch} for ${seconds} s, one worker process`,
  );
  for (const name of systems) {
    if (!(name in workerSettings)) throw new Error(`unknown system ${name}`);
    const schema = `stream_${name.replace(/\W/g, '_')}_${process.pid}`;
    const system = await makeSystem(name, schema, () => {});
    await system.setup();
    const server = { postgres: databaseUrl, mysql: mysqlUrl }[system.dialect];
    console.log(
      `\n## ${name} (${server ? hidePassword(server) : system.dialect}), worker settings ${JSON.stringify(workerSettings[name])}`,
    );
    console.log(
      '| s | enqueued | started | pending | p50 ms | p99 ms | max ms | worker CPU µs/task | RSS MB |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const child = fork(new URL(import.meta.url).pathname, ['--worker', name, schema]);
    await new Promise((resolve) => child.once('message', resolve));
    // PostgreSQL systems ask whether the queue is busy on a connection of their pool.
    const client = await system.pool?.connect();
    const started = performance.now();
    let enqueued = 0;
    let lastEnqueued = 0;
    let lastCpuUs = 0;
    let windows = 0;
    let total = 0;
    let draining = false;
    let settled;
    const done = new Promise((resolve) => (settled = resolve));
    child.on('message', async (w) => {
      windows += 1;
      total += w.started;
      const pending = await system.pending();
      const cpu = w.started > 0 ? ((w.cpuUs - lastCpuUs) / w.started).toFixed(1) : '';
      lastCpuUs = w.cpuUs;
      console.log(
        `| ${(windows * windowMs) / 1000} | ${enqueued - lastEnqueued} | ${w.started} | ${pending} | ${w.p50} | ${w.p99} | ${w.max} | ${cpu} | ${w.rssMb} |`,
      );
      lastEnqueued = enqueued;
      if (draining && total >= enqueued) settled();
    });
    while (performance.now() - started < seconds * 1000) {
      if (enqueued >= ((performance.now() - started) / 1000) * rate) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      await system.enqueueBatch(enqueued, batch);
      enqueued += batch;
    }
    draining = true;
    const producedMs = performance.now() - started;
    // Every outcome written: nothing pending or running.
    while (await system.busy(client)) await new Promise((resolve) => setTimeout(resolve, 5));
    const drainedMs = performance.now() - started;
    client?.release();
    await done;
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
    console.log(
      `\n${name}: enqueued ${enqueued.toLocaleString('en-US')} in ${(producedMs / 1000).toFixed(1)} s (${Math.round(enqueued / (producedMs / 1000)).toLocaleString('en-US')}/s); every outcome written at ${(drainedMs / 1000).toFixed(1)} s`,
    );
    await system.teardown();
  }
}
