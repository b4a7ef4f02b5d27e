// Every query behind the dashboard's pages reads the attempts table through an index, never a
// sequential scan, on a table big enough for the planner to care: the fast stand-in for the
// 6,000,000-row timings of bench/dashboard.mjs. Checked with a custom plan, and with the plan
// PostgreSQL settles on for a prepared statement after several runs (it may switch to a generic
// plan, one made without the parameters, if that looks no dearer).
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tickToken } from '../../src/core/schedule.js';
import { AsyncTask, defineTarget } from '../../src/index.js';
import { dashboard } from '../../src/dashboard/index.js';
import { bindStatements } from '../../src/dialects/postgres/executor.js';
import { fillAttempts, rowShape } from '../../bench/dashboard-fill.mjs';
import { postgresHarness } from '../harness/postgres.js';

const rows = 250_000;

interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly 'Index Name'?: string;
  readonly 'Scan Direction'?: string;
  readonly Plans?: readonly PlanNode[];
}

/** Schedules ticking every minute, in the filled table: `nightly`'s, and `nightly:2`'s, whose
 * tokens sort inside `nightly`'s range and after its ticks. */
const tickRows = [
  ['nightly', 1, 60_000],
  ['nightly:2', 60_001, 120_000],
] as const;
const tickStart = Date.UTC(2026, 0, 1);
/** The newest tick of `nightly`: that of the last Reports row (id % 3 = 2) it was written on. */
const newestTick = new Date(tickStart + 59_999 * 60_000);
const tickRange = (name: string) => [
  'Reports',
  'nightly',
  tickToken(name, new Date('0000-01-01T00:00:00.000Z')),
  tickToken(name, new Date('9999-12-31T23:59:59.999Z')),
  `schedule:${name}:`,
];

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
    const table = `"${harness.schema}".async_task_attempts`;
    await fillAttempts(harness.pool, table, rows);
    // A schedule's ticks as the scheduler writes them, one a minute, on the filled rows of its
    // method (ids stay as the fill made them), and a schedule whose name extends it, whose tokens
    // sort inside its range and after its ticks; then a stale window of rate-limit starts.
    for (const [name, from, to] of tickRows) {
      await harness.pool.query(
        `UPDATE ${table} SET idempotence_token = 'schedule:' || $1 || ':' ||
           to_char(to_timestamp($2 / 1000.0 + id * 60) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
         WHERE target = 'Reports' AND id BETWEEN $3 AND $4`,
        [name, tickStart, from, to],
      );
    }
    await harness.pool.query(
      `INSERT INTO "${harness.schema}".async_task_attempts_starts (queue, concurrency_key, started_at)
       SELECT (ARRAY['mail', 'reports'])[g % 2 + 1], 'key-' || g % 100,
         now() - g * interval '1 second'
       FROM generate_series(1, 200000) AS g`,
    );
    await harness.pool.query(
      `VACUUM ANALYZE ${table}, "${harness.schema}".async_task_attempts_starts`,
    );
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
      'pending attempts of one target, in a window',
      'attemptList',
      list({
        status: 'pending',
        target: 'Nobody',
        before: String(rows / 2),
        after: String(rows / 4),
      }),
    ],
    [
      'one token without its target, in a window',
      'attemptList',
      list({ token: 'no-such-token', before: String(rows / 2), after: String(rows / 4) }),
    ],
    [
      'one token',
      'attemptList',
      list({ target: last.target, method: last.method, token: last.token! }),
    ],
    ['one attempt', 'attemptGet', [String(rows - 5)]],
    ['outcomes per minute', 'attemptOutcomesLastHour', []],
    ['queue counts', 'attemptStatsEstimated', [1]],
    ["a schedule's newest tick", 'attemptGetLastInTokenRange', tickRange('nightly')],
    ['rate-limit starts in the window', 'startCount', ['mail', 60_000]],
  ];

  it("finds a schedule's newest tick by a backward walk of the idempotence index, stepping over another schedule's ticks", async () => {
    const { text } = statements().attemptGetLastInTokenRange;
    const { rows: found } = await client.query<{ idempotence_token: string }>(
      text,
      tickRange('nightly'),
    );
    expect(found.map((row) => row.idempotence_token)).toEqual([tickToken('nightly', newestTick)]);
    const { rows: plan } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) ${text}`,
      tickRange('nightly'),
    );
    const scan = plan[0]!['QUERY PLAN'][0]!.Plan.Plans?.[0];
    expect(scan).toMatchObject({
      'Node Type': 'Index Scan',
      'Index Name': 'async_task_attempts_idempotence_idx',
      'Scan Direction': 'Backward',
    });
  });

  it('answers the schedules and limits page and its API in under 200 ms', async () => {
    const Reports = defineTarget('Reports', { nightly(_args: object) {} });
    const tasks = new AsyncTask({
      driver: harness.driver,
      targets: [Reports],
      table: harness.table,
      schedules: [
        { name: 'nightly', cron: '* * * * *', method: Reports.nightly, args: {} },
        { name: 'nightly:2', cron: '* * * * *', method: Reports.nightly, args: {} },
        { name: 'weekly', cron: '0 3 * * 1', method: Reports.nightly, args: {} },
      ],
      queues: {
        mail: { concurrency: 10, rateLimit: { limit: 100, periodMs: 60_000, perKey: true } },
        reports: { rateLimit: { limit: 100, periodMs: 3_600_000 } },
      },
    });
    const handle = dashboard(tasks, { authorize: () => true });
    for (const path of ['/api/schedules', '/api/limits', '/schedules']) {
      const timings: number[] = [];
      // Nine runs: the suite runs beside this test, and the best of eight is less at its mercy
      // than the best of three (once 211 ms on a machine loaded 3.5 times over; 35-46 ms alone).
      for (let run = 0; run < 9; run++) {
        const started = performance.now();
        const response = await handle(new Request(`http://127.0.0.1${path}`));
        await response.arrayBuffer();
        expect(response.status).toBe(200);
        timings.push(performance.now() - started);
      }
      // The first run prepares the statements: the best of the others is the steady state.
      expect(Math.min(...timings.slice(1)), path).toBeLessThan(200);
    }
    const { schedules } = (await (
      await handle(new Request('http://127.0.0.1/api/schedules'))
    ).json()) as { schedules: { name: string; lastTick: { tick: string } | null }[] };
    expect(schedules.map((schedule) => [schedule.name, schedule.lastTick?.tick ?? null])).toEqual([
      ['nightly', newestTick.toISOString()],
      ['nightly:2', new Date(tickStart + 119_999 * 60_000).toISOString()],
      ['weekly', null],
    ]);
  });

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
    // A status with a target walked every attempt of that status (a sequential scan behind a
    // pending backlog); a token alone, the whole idempotence index.
    for (const query of [
      'status=pending&target=Nobody',
      'status=failed&target=Nobody',
      'token=nope',
    ]) {
      expect(await page(query), query).toEqual({ attempts: [], next: '150001', partial: true });
    }
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
