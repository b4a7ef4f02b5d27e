// The worker at scale on PostgreSQL: a soak of 200,000 tasks with the defaults (everything
// succeeds, unwritten outcomes stay under the bound, the heap after GC stays flat), and
// backpressure (completion writes held on a lock stop claims; memory stays bounded; everything
// completes once the lock goes), and a heartbeat beside outcome writes without a deadlock.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AsyncTask, Worker, defineTarget, type Target, type TaskMethod } from '../../src/index.js';
import { postgresHarness } from '../harness/postgres.js';
import { waitFor } from '../harness/wait-for.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = (): number => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

type PostgresHarness = Awaited<ReturnType<typeof postgresHarness>>;

/** A migrated AsyncTask for `target` on the harness's table. */
async function migrated(
  harness: PostgresHarness,
  target: Target,
): Promise<AsyncTask<pg.PoolClient>> {
  const tasks = new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [target],
  }) as unknown as AsyncTask<pg.PoolClient>;
  await tasks.migrate();
  return tasks;
}

async function load(
  harness: PostgresHarness,
  tasks: AsyncTask<pg.PoolClient>,
  method: TaskMethod<{ i: number }>,
  count: number,
): Promise<void> {
  const client = await harness.pool.connect();
  try {
    for (let from = 0; from < count; from += 5000) {
      await client.query('BEGIN');
      await tasks.enqueueMany(
        client,
        Array.from({ length: Math.min(5000, count - from) }, (_, j) => ({
          method,
          args: { i: from + j },
        })),
      );
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
}

async function statusCounts(harness: PostgresHarness): Promise<Record<string, number>> {
  const { rows } = await harness.pool.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM "${harness.schema}".async_task_attempts GROUP BY status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

describe('postgres worker at scale', () => {
  let harness: PostgresHarness;
  let worker: Worker | undefined;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await worker?.stop({ timeoutMs: 1000 });
    worker = undefined;
    await harness.close();
  });

  it('soak: one worker with defaults drains 200,000 tasks; unwritten outcomes stay under the bound and the heap after GC stays flat', async () => {
    const count = 200_000;
    let done = 0;
    const Soak = defineTarget('Soak', {
      noop(_args: { i: number }) {
        done += 1;
      },
    });
    const tasks = await migrated(harness, Soak);
    await load(harness, tasks, Soak.noop, count);

    worker = tasks.worker();
    let peakUnwritten = 0;
    const sampler = setInterval(() => {
      peakUnwritten = Math.max(peakUnwritten, worker?.unwrittenOutcomes ?? 0);
    }, 5);
    const heaps: number[] = [];
    let nextHeapAt = count / 10;
    const heapSampler = setInterval(() => {
      if (done < nextHeapAt) return;
      nextHeapAt += count / 10;
      heaps.push(heapAfterGc());
    }, 20);
    try {
      await worker.start();
      await waitFor('every handler to run', () => done === count, 120_000);
      const table = `"${harness.schema}".async_task_attempts`;
      await waitFor('every outcome written', async () => {
        const { rows } = await harness.pool.query<{ busy: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM ${table} WHERE status = 'pending')
               OR EXISTS (SELECT 1 FROM ${table} WHERE locked_until IS NOT NULL) AS busy`,
        );
        return rows[0]?.busy === false;
      });
    } finally {
      clearInterval(sampler);
      clearInterval(heapSampler);
    }
    expect(await statusCounts(harness)).toEqual({ succeeded: count });
    expect(done).toBe(count);
    expect(peakUnwritten).toBeGreaterThan(0);
    expect(peakUnwritten).toBeLessThanOrEqual(Worker.maxUnwritten + 10);
    // Samples from 10% to 100% of the drain: a leak of even 100 bytes a task would show as 18 MB.
    expect(heaps.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...heaps) - Math.min(...heaps), heaps.join(', ')).toBeLessThan(15);
  }, 180_000);

  it('backpressure: with completion writes held on a lock, claims stop at the bound; everything completes once it is released', async () => {
    const count = 20_000;
    const Fast = defineTarget('Fast', { noop(_args: { i: number }) {} });
    const tasks = await migrated(harness, Fast);
    await load(harness, tasks, Fast.noop, count);
    // A completion (running -> anything else) waits on an advisory lock the test holds; a claim
    // (pending -> running) does not, so only the writing of outcomes is held up.
    const table = `"${harness.schema}".async_task_attempts`;
    await harness.pool.query(`
      CREATE FUNCTION "${harness.schema}".hold_completions() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status = 'running' AND NEW.status <> 'running' THEN
          PERFORM pg_advisory_xact_lock_shared(4242);
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_completions BEFORE UPDATE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION "${harness.schema}".hold_completions();`);
    const holder = await harness.pool.connect();
    try {
      await holder.query('SELECT pg_advisory_lock(4242)');
      const heapBefore = heapAfterGc();
      worker = tasks.worker();
      let peakUnwritten = 0;
      const sampler = setInterval(() => {
        peakUnwritten = Math.max(peakUnwritten, worker?.unwrittenOutcomes ?? 0);
      }, 5);
      try {
        await worker.start();
        await waitFor('outcomes to pile up to the bound', () => {
          return (worker?.unwrittenOutcomes ?? 0) >= Worker.maxUnwritten;
        });
        const claimedAtBound = count - ((await statusCounts(harness))['pending'] ?? 0);
        // Claims have stopped: nothing more leaves `pending` while the lock is held.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const counts = await statusCounts(harness);
        expect(counts['succeeded'] ?? 0).toBe(0);
        expect(count - (counts['pending'] ?? 0)).toBe(claimedAtBound);
        // Held: what is unwritten plus at most two claims' worth ahead of it.
        expect(claimedAtBound).toBeLessThanOrEqual(Worker.maxUnwritten + 10 + 2 * 2000);
        expect(worker.unwrittenOutcomes).toBeLessThanOrEqual(Worker.maxUnwritten + 10);
        expect(heapAfterGc() - heapBefore).toBeLessThan(30);
      } finally {
        await holder.query('SELECT pg_advisory_unlock(4242)');
        clearInterval(sampler);
      }
      await waitFor(
        'every outcome written after the lock is released',
        async () => (await statusCounts(harness))['succeeded'] === count,
        60_000,
      );
      expect(peakUnwritten).toBeLessThanOrEqual(Worker.maxUnwritten + 10);
    } finally {
      holder.release();
    }
  }, 120_000);

  // A heartbeat extends the leases it listed when it began; runs that ended while it was under way
  // had their outcomes written meanwhile, each statement locking the rows in its own order, and
  // PostgreSQL broke the cycle after deadlock_timeout ("deadlock detected", a second lost).
  it('a worker that heartbeats every 10 ms while it drains 10,000 short tasks hits no deadlock', async () => {
    const count = 10_000;
    let done = 0;
    const Short = defineTarget('Short', {
      async work(_args: { i: number }) {
        // Long enough that many runs are under way at each heartbeat; short enough to end often.
        await new Promise((resolve) => setTimeout(resolve, 1));
        done += 1;
      },
    });
    const tasks = await migrated(harness, Short);
    await load(harness, tasks, Short.work, count);

    const errors: string[] = [];
    worker = tasks.worker({ concurrency: 50, heartbeatMs: 10 });
    worker.on('error', ({ error, during }) => {
      errors.push(`${during}: ${error instanceof Error ? error.message : String(error)}`);
    });
    await worker.start();
    await waitFor('every task to run', () => done >= count, 120_000);
    await worker.stop();

    expect(errors).toEqual([]);
    expect(await statusCounts(harness)).toEqual({ succeeded: count });
  }, 150_000);
});
