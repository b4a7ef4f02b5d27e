// Every query behind the dashboard's pages reads the attempts table through an index, never a
// sequential scan, on a table big enough for the planner to care: the fast stand-in for the
// 6,000,000-row timings of bench/dashboard.mjs. Checked with a custom plan, and with the plan
// PostgreSQL settles on for a prepared statement after several runs (it may switch to a generic
// plan, one made without the parameters, if that looks no dearer).
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AsyncTask } from '../../src/index.js';
import { dashboard } from '../../src/dashboard/index.js';
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
    after?: string;
  }) => [
    filters.status ?? null,
    filters.target ?? null,
    filters.method ?? null,
    filters.queue ?? null,
    filters.before ?? null,
    50,
    filters.token ?? null,
    filters.after ?? null,
  ];
  const cases: [string, keyof ReturnType<typeof statements>, (string | number | null)[]][] = [
    ['attempts, newest first', 'attemptList', list({})],
    ['failed attempts', 'attemptList', list({ status: 'failed' })],
    ['pending attempts', 'attemptList', list({ status: 'pending' })],
    ['running attempts', 'attemptList', list({ status: 'running' })],
    ['one queue, next page', 'attemptList', list({ queue: 'reports', before: String(rows / 2) })],
    [
      'one target, in a window',
      'attemptList',
      list({ target: 'Nobody', before: String(rows / 2), after: String(rows / 4) }),
    ],
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

  it('searches a window of ids per page where no index serves the filter', async () => {
    const tasks = new AsyncTask({ driver: harness.driver, targets: [], table: harness.table });
    const handle = dashboard(tasks, { authorize: () => true });
    const page = async (query: string) =>
      (await handle(new Request(`http://127.0.0.1/api/attempts?${query}`))).json();
    // 250,000 attempts: a page reads 100,000 of them (the newest first), the last page the rest.
    expect(await page('target=Nobody')).toEqual({ attempts: [], next: '150001', partial: true });
    expect(await page('target=Nobody&before=50001')).toEqual({
      attempts: [],
      next: null,
      partial: false,
    });
    const reports = (await page('target=Reports&before=50003')) as { attempts: { id: string }[] };
    expect(reports.attempts.map((attempt) => attempt.id).slice(0, 2)).toEqual(['50000', '49997']);
  });

  for (const mode of ['force_custom_plan', 'auto']) {
    it.each(cases)(
      `%s: no sequential scan of the table (plan_cache_mode ${mode})`,
      async (_name, statement, params) => {
        const { text } = statements()[statement];
        await client.query(`SET plan_cache_mode = ${mode}`);
        await client.query('DEALLOCATE ALL');
        await client.query(`PREPARE dashboard_query AS ${text}`);
        const literals = params.map((value) =>
          value === null ? 'NULL' : typeof value === 'number' ? String(value) : `'${value}'`,
        );
        const execute = `EXECUTE dashboard_query${params.length > 0 ? `(${literals.join(', ')})` : ''}`;
        if (mode === 'auto') for (let run = 0; run < 6; run++) await client.query(execute);
        const { rows: plan } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
          `EXPLAIN (FORMAT JSON) ${execute}`,
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
