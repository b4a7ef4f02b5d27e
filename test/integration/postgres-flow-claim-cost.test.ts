// What a claim of a queue with flow control reads on PostgreSQL, counted by the server in the
// claim's own transaction (pg_stat_get_xact_tuples_returned per index): it must not grow with the
// due rows of other queues, nor with its own queue's backlog. Both once did: an empty limited
// queue's claim read every due row of a 20,000-task unlimited backlog (the due index holds every
// queue's rows), and a limited queue's claim ranked its whole backlog within keys.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueFlowOptions } from '../../src/core/flow.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
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

  /** Index tuples the limited claim of `queue` (room 10) returned, and the rows it claimed. */
  async function claimReads(queue: string): Promise<{ read: number; claimed: number }> {
    const client = await harness.pool.connect();
    const table = `"${harness.schema}".async_task_attempts`;
    try {
      await client.query('BEGIN');
      const { rowCount } = await client.query(
        `SELECT * FROM "${harness.schema}".async_task_attempts_claim_limited(
           'w1', 10, 60000, NULL, $1, 100, 1, false, NULL, NULL, NULL, true)`,
        [queue],
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

  /**
   * The plan of the claiming UPDATE in each of eight limited claims (rolled back) of one session,
   * on 20,000 attempts of `queue` in a table without statistics. PL/pgSQL keeps a statement's
   * plan per session and after five runs may keep a generic one (planned without the
   * parameters' values): eight claims cover both. auto_explain reports the function's plans.
   */
  async function claimPlans(
    queues: Readonly<Record<string, QueueFlowOptions>>,
    key: ((i: number) => string) | null,
    claim: { room: number; keyConcurrency: number },
  ): Promise<string[]> {
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
    const plans: string[] = [];
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
      await client.query(claimSql, [claim.room, claim.keyConcurrency]);
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
        plans.push(update!);
      }
    } finally {
      client.release();
    }
    return plans;
  }

  // The claiming UPDATE re-checks that each row is still pending, the predicate of the partial
  // queue-leading index: where the planner thought that index small, it read all of it to find
  // the 100 claimed ids instead of looking them up by primary key, 60 ms per claim, and a queue
  // with `concurrency: 100` drained at 2,000/s.
  it('looks the claimed rows up by primary key', async () => {
    const plans = await claimPlans({ solo: { concurrency: 100_000 } }, null, {
      room: 100,
      keyConcurrency: 1,
    });
    for (const [run, plan] of plans.entries()) {
      expect(plan, `claim ${run + 1}`).toMatch(
        /Index Scan using async_task_attempts_pkey on async_task_attempts t(_\d+)?\b/,
      );
    }
  });

  // The counts per key joined to the ranked rows in a nested loop: every ranked row compared with
  // every busy key, 130 ms for the first look of a claim in a queue of 1,000 keys. The one nested
  // loop a plan has (since migration 0013) is the walk's: over the claim's priorities, each an
  // ordered index scan.
  it('joins the running attempts per key by hash or merge, not in a nested loop', async () => {
    const plans = await claimPlans({ solo: { keyConcurrency: 1 } }, (i) => `k${i % 1000}`, {
      room: 500,
      keyConcurrency: 1,
    });
    for (const [run, plan] of plans.entries()) {
      expect(plan, `claim ${run + 1}`).toMatch(
        /(?:Hash|Merge) Cond: \(\w+\.concurrency_key = \w+\.concurrency_key\)/,
      );
      const loops = [...plan.matchAll(/Nested Loop.*\n\s*(.*)/g)].map((match) => match[1]);
      expect(loops, `claim ${run + 1}: ${plan}`).toEqual([
        expect.stringMatching(/^-> +Function Scan on unnest p /),
      ]);
    }
  });
});
