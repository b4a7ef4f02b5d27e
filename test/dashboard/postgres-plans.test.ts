// Every query behind the dashboard's pages reads the attempts table through an index, never a
// sequential scan, on a table big enough for the planner to care: the fast stand-in for the
// 6,000,000-row timings of bench/dashboard.mjs. Checked with custom and with generic plans (named
// statements are prepared, and PostgreSQL may switch them to a generic plan).
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncTask } from '../../src/index.js';
import { bindStatements } from '../../src/dialects/postgres/executor.js';
import { fillAttempts, rowShape } from '../../bench/dashboard-fill.mjs';
import { postgresHarness } from '../harness/postgres.js';

const rows = 250_000;

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Plans?: readonly PlanNode[];
}

function scans(node: PlanNode): string[] {
  const own = node['Relation Name'] ? [`${node['Node Type']} on ${node['Relation Name']}`] : [];
  return [...own, ...(node.Plans ?? []).flatMap(scans)];
}

describe('dashboard queries on a large PostgreSQL table', () => {
  let harness: Awaited<ReturnType<typeof postgresHarness>>;
  let client: pg.PoolClient;

  beforeAll(async () => {
    harness = await postgresHarness();
    await new AsyncTask({ driver: harness.driver, targets: [], table: harness.table }).migrate();
    await fillAttempts(harness.pool, `"${harness.schema}".async_task_attempts`, rows);
    client = await harness.pool.connect();
  }, 120_000);

  afterAll(async () => {
    client?.release();
    await harness?.close();
  });

  const statements = () => bindStatements({ schema: harness.schema, name: 'async_task_attempts' });
  const last = rowShape(rows - 10);
  const list = (filters: {
    status?: string;
    target?: string;
    method?: string;
    queue?: string;
    before?: string;
    token?: string;
  }) => [
    filters.status ?? null,
    filters.target ?? null,
    filters.method ?? null,
    filters.queue ?? null,
    filters.before ?? null,
    50,
    filters.token ?? null,
  ];
  const cases: [string, keyof ReturnType<typeof statements>, (string | number | null)[]][] = [
    ['attempts, newest first', 'attemptList', list({})],
    ['failed attempts', 'attemptList', list({ status: 'failed' })],
    ['pending attempts', 'attemptList', list({ status: 'pending' })],
    ['running attempts', 'attemptList', list({ status: 'running' })],
    ['one queue, next page', 'attemptList', list({ queue: 'reports', before: String(rows / 2) })],
    [
      'one token',
      'attemptList',
      list({ target: last.target, method: last.method, token: last.token! }),
    ],
    ['one attempt', 'attemptGet', [String(rows - 5)]],
    ['workers (leases)', 'attemptListLeased', [1000]],
    ['outcomes per minute', 'attemptOutcomesLastHour', []],
    ['queue counts', 'attemptStatsEstimated', [1]],
  ];

  for (const mode of ['force_custom_plan', 'force_generic_plan']) {
    it.each(cases)(
      `%s: no sequential scan of the table (${mode})`,
      async (_name, statement, params) => {
        const { text } = statements()[statement];
        await client.query(`SET plan_cache_mode = ${mode}`);
        await client.query('DEALLOCATE ALL');
        await client.query(`PREPARE dashboard_query AS ${text}`);
        const literals = params.map((value) =>
          value === null ? 'NULL' : typeof value === 'number' ? String(value) : `'${value}'`,
        );
        const { rows: plan } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
          `EXPLAIN (FORMAT JSON) EXECUTE dashboard_query${params.length > 0 ? `(${literals.join(', ')})` : ''}`,
        );
        const seen = scans(plan[0]!['QUERY PLAN'][0]!.Plan);
        if (process.env['SHOW_PLANS'])
          console.log(JSON.stringify(plan[0]!['QUERY PLAN'][0]!.Plan, null, 1));
        expect(seen.length).toBeGreaterThan(0);
        expect(seen.filter((scan) => scan.startsWith('Seq Scan'))).toEqual([]);
      },
    );
  }
});
