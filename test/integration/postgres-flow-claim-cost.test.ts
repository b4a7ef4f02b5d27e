// What a claim of a queue with flow control reads on PostgreSQL, counted by the server in the
// claim's own transaction (pg_stat_get_xact_tuples_returned per index): it must not grow with the
// due rows of other queues, nor with its own queue's backlog. Both once did: an empty limited
// queue's claim read every due row of a 20,000-task unlimited backlog (the due index holds every
// queue's rows), and a limited queue's claim ranked its whole backlog within keys.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueFlowOptions } from '../../src/core/flow.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { keyedTasks } from '../harness/keyed-tasks.js';
import { postgresHarness } from '../harness/postgres.js';

const Noop = defineTarget('FlowCost', { run(_args: { i: number }) {} });

describe('postgres: the reads and plans of a limited claim', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;

  beforeEach(async () => {
    harness = await postgresHarness();
  });

  afterEach(async () => {
    await harness.close();
  });

  /**
   * Index tuples the limited claim of `queue` (room 10, `concurrency` as given) returned, and the
   * rows it claimed.
   */
  async function claimReads(
    queue: string,
    concurrency: number | null = 100,
  ): Promise<{ read: number; claimed: number }> {
    const client = await harness.pool.connect();
    const table = `"${harness.schema}".async_task_attempts`;
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query(
        `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
           'w1', 10, 60000, NULL, $1, $2, 1, false, NULL, NULL, NULL, true)`,
        [queue, concurrency],
      );
      const { rows } = await client.query<{ read: string }>(
        `SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid))::bigint AS read
         FROM pg_index WHERE indrelid = $1::regclass`,
        [table],
      );
      return { read: Number(rows[0]!.read), claimed: rowCount ?? 0 };
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('reads neither the other queues’ backlog nor its own beyond its first look', async () => {
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues: { idle: { concurrency: 100 }, busy: { concurrency: 100 } },
    });
    await tasks.migrate();
    const client = await harness.pool.connect();
    try {
      await client.query('BEGIN');
      for (const queue of ['open', 'busy']) {
        await tasks.enqueueMany(
          client,
          Array.from({ length: 20_000 }, (_, i) => ({
            method: Noop.run,
            args: { i },
            options: { queue, ...(queue === 'busy' ? { concurrencyKey: `k${i % 50}` } : {}) },
          })),
        );
      }
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await harness.pool.query(`ANALYZE "${harness.schema}".async_task_attempts`);

    const idle = await claimReads('idle');
    expect(idle.claimed).toBe(0);
    expect(idle.read).toBeLessThan(100);
    const busy = await claimReads('busy');
    expect(busy.claimed).toBe(10);
    // Its first look: room * 4 + 256 due rows, plus the few running rows it counts.
    expect(busy.read).toBeLessThan(10 * 4 + 256 + 100);
  });

  // With every key at its limit the first look falls short, and the second one ranked every due
  // row of the priority within its key: O(due backlog) per claim, 110 ms at 100,000 due over
  // 1,000 busy keys. It walks the keys now, one descent of the key-leading index per key.
  it('reads the queue’s keys, not its backlog, when every key is busy', async () => {
    const tasks = await keyedTasks(harness, Noop);
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: 20_000 }, (_, i) => ({
          method: Noop.run,
          args: { i },
          options: { queue: 'keyed', concurrencyKey: `k${i % 1000}` },
        })),
      ),
    );
    // On a connection of its own, closed after: a backend's counts of a transaction can stay
    // unflushed into its next one, which claimReads counts.
    const lessor = await harness.pool.connect();
    const { rows } = await lessor.query<{ leased: string }>(
      `SELECT count(*) AS leased FROM "${harness.schema}".async_task_attempts_claim_limited(
         'w0', 1000, 60000, NULL, 'keyed', NULL, 1, false, NULL, NULL, NULL, true)`,
    );
    lessor.release(true);
    expect(Number(rows[0]!.leased)).toBe(1000);
    // Without the leased rows' old entries, which the first scans would step over.
    await harness.pool.query(`VACUUM ANALYZE "${harness.schema}".async_task_attempts`);

    const busy = await claimReads('keyed', null);
    expect(busy.claimed).toBe(0);
    // The first look (10 * 4 + 256 rows), the 1,000 running rows each look counts, and one entry
    // per key: about 3,300, and up to 2,000 more while a concurrent snapshot keeps vacuum from
    // removing the leased rows' old entries. Ranking the backlog read more than 20,000.
    expect(busy.read).toBeLessThan(10_000);
  });

  /**
   * The plans of the claiming UPDATE and of the looks that chose its rows (the statements that
   * set v_ids) in each of eight limited claims (rolled back) of one session,
   * on 20,000 attempts of `queue` in a table without statistics. PL/pgSQL keeps a statement's
   * plan per session and after five runs may keep a generic one (planned without the
   * parameters' values): eight claims cover both. auto_explain reports the function's plans.
   */
  async function claimPlans(
    queues: Readonly<Record<string, QueueFlowOptions>>,
    key: ((i: number) => string) | null,
    claim: { room: number; keyConcurrency: number; busy?: number },
  ): Promise<{ updates: string[]; looks: string[] }> {
    const tasks = new AsyncTask({
      driver: harness.driver,
      table: harness.table,
      targets: [Noop],
      queues,
    });
    await tasks.migrate();
    await harness.pool.query(
      `ALTER TABLE "${harness.schema}".async_task_attempts SET (autovacuum_enabled = false)`,
    );
    const client = await harness.pool.connect();
    const notices: string[] = [];
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    const claimSql = `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
      'w1', $1, 60000, NULL, 'solo', NULL, $2, false, NULL, NULL, NULL, true)`;
    const updates: string[] = [];
    const looks: string[] = [];
    try {
      await client.query('BEGIN');
      await tasks.enqueueMany(
        client,
        Array.from({ length: 20_000 }, (_, i) => ({
          method: Noop.run,
          args: { i },
          options: key ? { queue: 'solo', concurrencyKey: key(i) } : { queue: 'solo' },
        })),
      );
      await client.query('COMMIT');
      // Some attempts running (busy keys), as in a drain.
      await client.query(claimSql, [claim.busy ?? claim.room, claim.keyConcurrency]);
      await client.query(`LOAD 'auto_explain'`);
      await client.query(`SET auto_explain.log_min_duration = 0`);
      await client.query(`SET auto_explain.log_nested_statements = on`);
      await client.query(`SET auto_explain.log_level = notice`);
      for (let run = 1; run <= 8; run += 1) {
        notices.length = 0;
        await client.query('BEGIN');
        const { rowCount } = await client.query(claimSql, [claim.room, claim.keyConcurrency]);
        await client.query('ROLLBACK');
        expect(rowCount, `claim ${run}`).toBeGreaterThan(0);
        const update = notices.find((text) =>
          /Update on async_task_attempts t(_\d+)?\b/.test(text),
        );
        expect(update, `claim ${run}: ${notices.join('\n---\n')}`).toBeDefined();
        updates.push(update!);
        looks.push(...notices.filter((text) => /Query Text: v_ids := ARRAY\(/.test(text)));
      }
    } finally {
      client.release();
    }
    return { updates, looks };
  }

  // The claiming UPDATE re-checks that each row is still pending, the predicate of the partial
  // queue-leading index: where the planner thought that index small, it read all of it to find
  // the 100 claimed ids instead of looking them up by primary key, 60 ms per claim, and a queue
  // with `concurrency: 100` drained at 2,000/s.
  it('looks the claimed rows up by primary key', async () => {
    const { updates } = await claimPlans({ solo: { concurrency: 100_000 } }, null, {
      room: 100,
      keyConcurrency: 1,
    });
    for (const [run, plan] of updates.entries()) {
      expect(plan, `claim ${run + 1}`).toMatch(
        /Index Scan using async_task_attempts_pkey on async_task_attempts t(_\d+)?\b/,
      );
    }
  });

  // The counts per key joined to the ranked rows in a nested loop: every ranked row compared with
  // every busy key, 130 ms for the first look of a claim in a queue of 1,000 keys. The one nested
  // loop each look has is its walk: the first look's over the claim's priorities, the look by
  // key's over the keys with room, each an ordered index scan.
  it('joins the running attempts per key by hash or merge, not in a nested loop', async () => {
    // 500 keys busy, room 600: the first look takes the other 500 keys' first rows and falls
    // short, so the look by key runs too.
    const { looks } = await claimPlans({ solo: { keyConcurrency: 1 } }, (i) => `k${i % 1000}`, {
      room: 600,
      keyConcurrency: 1,
      busy: 500,
    });
    // The look by key's outer side: the keys with their rooms (the CTE, or inlined, its join).
    const walks = [
      /^-> +Function Scan on unnest p /,
      /^-> +(?:CTE Scan on rooms f|Hash Left Join|Merge Left Join) /,
    ];
    for (const [index, walk] of walks.entries()) {
      const plans = looks.filter((plan) => plan.includes(index === 0 ? 'unnest(' : 'RECURSIVE'));
      expect(plans.length, `look ${index + 1}`).toBe(8);
      for (const plan of plans) {
        expect(plan).toMatch(
          /(?:Hash|Merge) Cond: \(\w+\.concurrency_key = \w+\.concurrency_key\)/,
        );
        const loops = [...plan.matchAll(/Nested Loop.*\n\s*(.*)/g)].map((match) => match[1]);
        expect(loops, plan).toEqual([expect.stringMatching(walk)]);
      }
    }
  });
});
