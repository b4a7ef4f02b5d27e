// The plans and commit settings of the worker's hot statements on PostgreSQL. The planner's statistics are often
// stale on a queue table (analysed while a backlog was pending, read while it runs); these
// statements must stay primary-key lookups whatever the estimates say. A per-row rescan of the
// lease index once made 7,000 fenced completions take 27 s.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { bindStatements } from '../../src/dialects/postgres/executor.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { explainNested, indexPagesRead } from '../harness/claim-reads.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

describe('postgres statement plans under stale statistics', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let statements: ReturnType<typeof bindStatements>;
  let claimed: { id: string; num_attempts: number }[];

  beforeEach(async () => {
    harness = await postgresHarness();
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    statements = bindStatements({ schema: harness.schema, name: 'async_task_attempts' });
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      await tasks.enqueueMany(
        client,
        Array.from({ length: 5000 }, (_, i) => ({ method: Noop.run, args: { i } })),
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    // Statistics say: everything is pending. Then most of it starts running.
    await harness.pool.query(`ANALYZE "${harness.schema}".async_task_attempts`);
    const { rows } = await harness.pool.query<{ id: string; num_attempts: number }>(
      statements.attemptClaim.text,
      ['w1', 4000, 60_000, null, false],
    );
    claimed = rows.map((row) => ({ id: row.id, num_attempts: row.num_attempts }));
  });

  afterEach(async () => {
    await harness.close();
  });

  const plan = async (pool: pg.Pool, text: string, params: unknown[]): Promise<string> => {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, params);
    return rows.map((row) => row['QUERY PLAN']).join('\n');
  };

  it('fenced completion (with or without run history), lease extension and release look each row up once: by primary key or in a hash', async () => {
    const outcomes = JSON.stringify(
      claimed.map((c) => ({ ...c, status: 'succeeded', delay_ms: null, error: null })),
    );
    // Retries: the statement that also appends to the run history has the same fence.
    const retries = JSON.stringify(
      claimed.map((c) => ({ ...c, status: 'pending', delay_ms: 1000, error: 'Error: boom' })),
    );
    const leases = JSON.stringify(claimed);
    const plans = [
      await plan(harness.pool, statements.attemptCompleteMany.text, ['w1', outcomes]),
      await plan(harness.pool, statements.attemptCompleteUnsucceededMany.text, ['w1', retries]),
      await plan(harness.pool, statements.attemptExtendLeases.text, ['w1', leases, 60_000]),
      await plan(harness.pool, statements.attemptReleaseMany.text, ['w1', leases]),
    ];
    for (const text of plans) {
      // The id is an index condition on the primary key or a hash key, never a filter applied
      // to every pair of rows.
      expect(text).toMatch(/Index Cond: \(id = [lo]\.id\)|Hash Cond: \(\(t\.id = [lo]\.id\)/);
      expect(text).not.toMatch(/Join Filter: \(\(t\.id = |lease_idx|due_idx|finished_badly_idx/);
    }
  });

  it('all 4,000 fenced completions land in one statement, and a second try writes none', async () => {
    const outcomes = JSON.stringify(
      claimed.map((c) => ({ ...c, status: 'succeeded', delay_ms: null, error: null })),
    );
    const first = await harness.pool.query(statements.attemptCompleteMany.text, ['w1', outcomes]);
    expect(first.rowCount).toBe(4000);
    const again = await harness.pool.query(statements.attemptCompleteMany.text, ['w1', outcomes]);
    expect(again.rowCount).toBe(0);
  });
});

describe('postgres claim commit', () => {
  it('skips the WAL flush for the claim only (unless durable): off inside its transaction, on for the connection after', async () => {
    const harness = await postgresHarness({ max: 1 });
    try {
      const tasks = new AsyncTask({
        driver: harness.driver,
        table: harness.table,
        targets: [Noop],
      });
      await tasks.migrate();
      await tasks.enqueue(harness.pool, Noop.run, { i: 1 });
      const statements = bindStatements({ schema: harness.schema, name: 'async_task_attempts' });
      const client = await harness.pool.connect();
      try {
        const setting = async (): Promise<string> =>
          (await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!
            .synchronous_commit;
        expect(await setting()).toBe('on');
        await client.query('BEGIN');
        await client.query(statements.attemptClaim.text, ['w1', 10, 60_000, null, false]);
        expect(await setting()).toBe('off');
        await client.query('ROLLBACK');
        expect(await setting()).toBe('on');
        // durableClaims: the session's own setting stands.
        await client.query('BEGIN');
        await client.query(statements.attemptClaim.text, ['w1', 10, 60_000, null, true]);
        expect(await setting()).toBe('on');
        await client.query('ROLLBACK');
        // In autocommit, as workers claim: one row claimed, and nothing left behind.
        const { rowCount } = await client.query(statements.attemptClaim.text, [
          'w1',
          10,
          60_000,
          null,
          false,
        ]);
        expect(rowCount).toBe(1);
        expect(await setting()).toBe('on');
      } finally {
        client.release();
      }
    } finally {
      await harness.close();
    }
  });
});

describe('postgres claim functions of before migration 12', () => {
  it('<name>_claim and <name>_claim_except still claim, for code of before it during a rolling deploy', async () => {
    const harness = await postgresHarness();
    try {
      const tasks = new AsyncTask({
        driver: harness.driver,
        table: harness.table,
        targets: [Noop],
      });
      await tasks.migrate();
      await tasks.enqueueMany(harness.pool, [
        { method: Noop.run, args: { i: 1 } },
        { method: Noop.run, args: { i: 2 }, options: { queue: 'mail', priority: 1 } },
        { method: Noop.run, args: { i: 3 }, options: { queue: 'other', priority: -1 } },
      ]);
      const call = async (fn: string, queues: string[] | null) =>
        (
          await harness.pool.query<{ queue: string }>(
            `SELECT * FROM "${harness.schema}".${fn}($1, $2, $3, $4, $5, $6)`,
            ['old', 10, 60_000, null, queues, false],
          )
        ).rows.map((row) => row.queue);
      expect(await call('async_task_attempts_claim', ['mail'])).toEqual(['mail']);
      expect((await call('async_task_attempts_claim_except', ['other'])).sort()).toEqual([
        'default',
      ]);
      expect(await call('async_task_attempts_claim', null)).toEqual(['other']);
    } finally {
      await harness.close();
    }
  });
});

// The claim lives in a function whose SET clauses pin its plan (migration 0003): the plan of the
// statement inside is read with auto_explain, which reports nested statements to the client.
/**
 * Runs the claim on a connection of its own with auto_explain reporting every nested statement's
 * plan (and, with `buffers`, the pages each node read); returns the rows and the plans.
 */
async function explainedClaim(
  pool: pg.Pool,
  text: string,
  limit: number,
  buffers = false,
): Promise<{ rows: { priority: number }[]; notices: string[] }> {
  const client = await pool.connect();
  const notices: string[] = [];
  client.on('notice', (notice) => notices.push(notice.message ?? ''));
  try {
    await explainNested(client, buffers);
    const { rows } = await client.query<{ priority: number }>(text, [
      'w1',
      limit,
      60_000,
      null,
      false,
    ]);
    return { rows, notices };
  } finally {
    client.release();
  }
}

describe('postgres claim plan under stale statistics', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  it('walks the due index in order and stops at the limit, on a backlog the planner has no statistics for', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const statements = bindStatements({ schema: harness.schema, name: 'async_task_attempts' });
    const enqueue = async (count: number): Promise<void> => {
      const client = await harness.pool.connect();
      try {
        await client.query('BEGIN');
        await tasks.enqueueMany(
          client,
          Array.from({ length: count }, (_, i) => ({ method: Noop.run, args: { i } })),
        );
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    };
    // A burst into a table autoanalyze has not seen yet (it lags by up to a minute): the default
    // estimates promise a few due rows, and an unpinned planner fetched all 20,000 and sorted them.
    await enqueue(20_000);

    const { rows, notices } = await explainedClaim(
      harness.pool,
      statements.attemptClaim.text,
      1000,
    );
    expect(rows).toHaveLength(1000);
    // The walk of the one priority there is (migration 0012 walks one priority at a time).
    const walk = notices.find((text) => /LockRows/.test(text));
    expect(walk, notices.join('\n---\n')).toBeDefined();
    // An ordered walk that stopped after the limit: not every due row fetched, then sorted.
    expect(walk).toMatch(/Index Scan using async_task_attempts_due_idx/);
    expect(walk).toMatch(/Index Cond: \(\(priority = .+\) AND \(scheduled_at <= now\(\)\)\)/);
    expect(walk).not.toMatch(/Sort|Bitmap Heap Scan on async_task_attempts d\b|Seq Scan/);
    expect(walk).toMatch(/Limit .*actual time=\S+ rows=1000 /);
    const update = notices.find((text) => /Update on async_task_attempts/.test(text));
    expect(update).toMatch(/Index Scan using async_task_attempts_pkey/);
  });

  it('does not read the attempts scheduled for later: a claim costs the rows it takes, not the pending ones', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, table: harness.table, targets: [Noop] });
    await tasks.migrate();
    const statements = bindStatements({ schema: harness.schema, name: 'async_task_attempts' });
    const table = `"${harness.schema}".async_task_attempts`;
    // 100,000 attempts due tomorrow at the first priority and at the second; 10 due now at the
    // second and 5 at the third. One ordered walk read every entry of the first two priorities.
    const insert = (count: number, priority: number, dueIn: string) =>
      harness.pool.query(
        `INSERT INTO ${table} (target, method_name, method_args, priority, scheduled_at)
         SELECT 'Noop', 'run', json_build_object('i', g)::text, $2, now() + $3::interval
         FROM generate_series(1, $1) g`,
        [count, priority, dueIn],
      );
    await insert(50_000, -1, '1 day');
    await insert(50_000, 0, '1 day');
    await insert(10, 0, '-1 minute');
    await insert(5, 1, '-1 minute');
    await harness.pool.query(`VACUUM ANALYZE ${table}`);

    const { rows: claimed, notices } = await explainedClaim(
      harness.pool,
      statements.attemptClaim.text,
      1000,
      true,
    );
    expect(claimed.map((row) => row.priority).sort()).toEqual([
      ...Array<number>(10).fill(0),
      ...Array<number>(5).fill(1),
    ]);
    // Index pages the claim's walks and probes read: the 100,000 future entries alone fill
    // about 300.
    const pages = indexPagesRead(notices, 'async_task_attempts_due_idx');
    // Here about 30 (the walks' heap pages included); one walk over every priority read 496.
    const plans = `${pages} pages:\n${notices.join('\n---\n')}`;
    expect(pages, plans).toBeGreaterThan(0);
    expect(pages, plans).toBeLessThan(100);
  });
});
