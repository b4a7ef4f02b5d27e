// The look by key of PostgreSQL's limited claim (migration 14) must take the rows the ranking of
// every due row took (migration 13): the same claim, cheaper. Both functions run on the same
// rows, each in a transaction rolled back, over mixed keys and rows without one, several
// priorities, rows due later, busy keys, starts in the window, and every kind of limit.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('KeyLook', { run(_args: { i: number }) {} });

/** A small deterministic generator, so a failure names a case that can be run again. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('postgres: the limited claim by key takes what the ranking of every due row took', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let table: string;

  beforeAll(async () => {
    harness = await postgresHarness();
    table = `"${harness.schema}".async_task_attempts`;
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { q: { keyConcurrency: 1 } },
    });
    await tasks.migrate();
    // Migration 13's function beside the current one, under another name.
    const before = readFileSync(
      new URL(
        '../../src/dialects/postgres/migrations/0013_limited_claim_by_priority.sql',
        import.meta.url,
      ),
      'utf8',
    )
      .replace('"{{name}}_claim_limited"(', '"{{name}}_claim_limited_0013"(')
      .replaceAll('{{schema}}', `"${harness.schema}".`)
      .replaceAll('{{table}}', table)
      .replaceAll('{{name}}', 'async_task_attempts');
    await harness.pool.query(before);
  });

  afterAll(async () => {
    await harness.close();
  });

  /** Fills queue q with `count` rows of seed `seed`: keys, priorities, due times, busy rows. */
  async function fill(seed: number, count: number): Promise<void> {
    const next = random(seed);
    await harness.pool.query(`TRUNCATE ${table}, "${harness.schema}".async_task_attempts_starts`);
    const keys = 1 + Math.floor(next() * 12);
    const rows = Array.from({ length: count }, () => {
      const key = next() < 0.2 ? null : `k${Math.floor(next() * keys)}`;
      const priority = [0, 0, 1, 5][Math.floor(next() * 4)]!;
      // Seconds from now: mostly due, some due later.
      const due = next() < 0.15 ? 60 + next() * 600 : -next() * 600;
      const running = next() < 0.15;
      return { key, priority, due, running };
    });
    await harness.pool.query(
      `INSERT INTO ${table} (target, method_name, method_args, queue, concurrency_key, priority,
         scheduled_at, status, locked_by, locked_until, num_attempts)
       SELECT 'KeyLook', 'run', '{}', 'q', r.key, r.priority,
         now() + r.due * interval '1 second',
         CASE WHEN r.running THEN 'running' ELSE 'pending' END,
         CASE WHEN r.running THEN 'w0' END,
         CASE WHEN r.running THEN now() + interval '1 hour' END,
         CASE WHEN r.running THEN 1 ELSE 0 END
       FROM json_to_recordset($1::json) AS r(key text, priority smallint, due float8, running boolean)`,
      [JSON.stringify(rows)],
    );
    // Starts in the window, for per-key rate limits: some keys, and rows without a key.
    await harness.pool.query(
      `INSERT INTO "${harness.schema}".async_task_attempts_starts (queue, concurrency_key, started_at)
       SELECT 'q', CASE WHEN g % 4 = 0 THEN NULL ELSE 'k' || (g % ${keys}) END, now()
       FROM generate_series(1, $1) AS g`,
      [Math.floor(next() * 20)],
    );
    await harness.pool.query(`ANALYZE ${table}`);
  }

  /** The ids the function `name` claims with these parameters, rolled back. */
  async function claimed(name: string, params: unknown[]): Promise<number[]> {
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(
        `SELECT id FROM "${harness.schema}".${name}('w1', $1, 60000, $2, 'q', $3, $4, $5, $6,
           60000, $7, true)`,
        params,
      );
      return rows.map((row) => Number(row.id)).sort((a, b) => a - b);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  const limits = [
    { name: 'one per key', concurrency: null, keyConcurrency: 1, rate: null, perKey: null },
    { name: 'three per key', concurrency: null, keyConcurrency: 3, rate: null, perKey: null },
    { name: 'queue and key', concurrency: 40, keyConcurrency: 2, rate: null, perKey: null },
    { name: 'rate per key', concurrency: null, keyConcurrency: 4, rate: 3, perKey: true },
    { name: 'rate per queue', concurrency: null, keyConcurrency: 2, rate: 25, perKey: false },
  ] as const;

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: every limit, room and horizon, fair or not`, async () => {
      await fill(seed, 150 + seed * 60);
      let compared = 0;
      for (const limit of limits) {
        for (const fair of [false, true]) {
          for (const room of [1, 7, 60, 500]) {
            for (const horizon of [null, new Date(Date.now() - 300_000)]) {
              const params = [
                room,
                horizon,
                limit.concurrency,
                limit.keyConcurrency,
                fair,
                limit.rate,
                limit.perKey,
              ];
              const now = await claimed('async_task_attempts_claim_limited', params);
              const before = await claimed('async_task_attempts_claim_limited_0013', params);
              expect(
                now,
                `${limit.name}, fair ${fair}, room ${room}, horizon ${horizon?.toISOString() ?? 'none'}`,
              ).toEqual(before);
              compared += now.length;
            }
          }
        }
      }
      // The cases claim something: a comparison of empty claims would prove nothing.
      expect(compared).toBeGreaterThan(500);
    });
  }
});
