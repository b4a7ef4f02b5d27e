// A rate limit under racing worker processes: 100 starts per second over three processes for
// about 4 s. Starts are measured where the limit is kept, at the database's claim instant: a
// trigger copies each row the claim writes to the starts table into a log the claim never prunes
// (a handler's start lags its claim by a varying delay, so handler times would prove nothing).
// One native driver per dialect: the claim under test is the dialect's.
import { describe, expect } from 'vitest';
import { fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets } from '../harness/worker-process.js';

const target = workerChildTarget();

async function sql(harness: Harness, text: string, returnsRows = false) {
  return harness.driver.run(
    async (connection) => (await connection.query({ name: '', text, returnsRows }, [])).rows,
  );
}

/** Logs every start the claim records, as epoch milliseconds; returns a reader of the log. */
async function logStarts(harness: Harness, dialect: string): Promise<() => Promise<number[]>> {
  const starts = `${harness.table}_starts`;
  const schema = harness.table.includes('.') ? `${harness.table.split('.')[0]}.` : '';
  if (dialect === 'postgres') {
    await sql(harness, `CREATE TABLE ${schema}start_log (at timestamptz NOT NULL)`);
    await sql(
      harness,
      `CREATE FUNCTION ${schema}log_start() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO ${schema}start_log VALUES (NEW.started_at); RETURN NULL; END $$`,
    );
    await sql(
      harness,
      `CREATE TRIGGER log_start AFTER INSERT ON ${starts} FOR EACH ROW EXECUTE FUNCTION ${schema}log_start()`,
    );
  } else if (dialect === 'mysql') {
    await sql(harness, `CREATE TABLE ${schema}start_log (at DATETIME(3) NOT NULL)`);
    await sql(
      harness,
      `CREATE TRIGGER ${schema}log_start AFTER INSERT ON ${starts} FOR EACH ROW INSERT INTO ${schema}start_log VALUES (NEW.started_at)`,
    );
  } else {
    await sql(harness, `CREATE TABLE start_log (at INTEGER NOT NULL)`);
    await sql(
      harness,
      `CREATE TRIGGER log_start AFTER INSERT ON "${starts}" BEGIN INSERT INTO start_log VALUES (NEW.started_at); END`,
    );
  }
  const at =
    dialect === 'postgres'
      ? '(extract(epoch FROM at) * 1000)::float8'
      : dialect === 'mysql'
        ? `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', at) DIV 1000`
        : 'at';
  return async () =>
    (await sql(harness, `SELECT ${at} AS at FROM ${schema}start_log ORDER BY 1`, true))
      .map((row) => Number(row['at']))
      .sort((a, b) => a - b);
}

/** The most starts in any window [t, t + periodMs) (the claim counts (now - periodMs, now]). */
function peakInWindow(starts: readonly number[], periodMs: number): number {
  let peak = 0;
  let end = 0;
  for (let i = 0; i < starts.length; i += 1) {
    while (end < starts.length && starts[end]! < starts[i]! + periodMs) end += 1;
    peak = Math.max(peak, end - i);
  }
  return peak;
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const newFleet = useFleets();
    const itNative = itOnNativeDrivers(
      fixture,
      "the limit is kept by the dialect's claim, below the driver, whose statements run through every driver in rate-limit.test.ts",
      'multiProcessWorkers',
    );

    itNative(
      'rate limit 100/s over three worker processes: never more than 100 starts in any second, and close to 100 in each',
      async () => {
        const queues = { rated: { rateLimit: { limit: 100, periodMs: 1000 } } };
        const tasks = await migratedTasks(harness(), { targets: [target], queues });
        const readStarts = await logStarts(harness(), fixture.dialect);
        const fleet = newFleet(
          { ...harness().childEnv(), ASYNC_TASK_WORKER_QUEUES: JSON.stringify(queues) },
          { concurrency: 40, pollIntervalMs: 50 },
        );
        await Promise.all([1, 2, 3].map((n) => fleet.start(`rate-${n}`).ready));
        // More than 5 s of work, so the processes are never short of due tasks.
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 600 }, (_, i) => ({
              method: target.slow,
              args: { ms: 1 + (i % 2) },
              options: { queue: 'rated' },
            })),
          ),
        );
        let starts: number[] = [];
        await fleet.waitFor(
          '4 s of starts',
          async () => {
            starts = await readStarts();
            return starts.length > 0 && starts.at(-1)! >= starts[0]! + 4000;
          },
          12_000,
        );
        await fleet.stopAll();
        starts = await readStarts();

        expect(peakInWindow(starts, 1000)).toBeLessThanOrEqual(100);
        // Used, not merely respected: the first 4 s hold at least 80% of the 400 allowed.
        const first4s = starts.filter((at) => at < starts[0]! + 4000).length;
        expect(first4s).toBeGreaterThanOrEqual(320);
        expect(first4s).toBeLessThanOrEqual(400);
      },
      30_000,
    );
  });
}
