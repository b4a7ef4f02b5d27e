// Chaos on PostgreSQL, against a private cluster this file starts (initdb on a free port) and
// removes, so that restarting it or terminating its backends touches no other test:
// - the server restarted twice mid-run, then pg_terminate_backend on every worker connection;
// - a half-open connection: a proxy between one worker and the server stops forwarding without
//   closing; the others rescue its leases, and it carries on once the proxy forwards again;
// - PgBouncer (Debian's package) in transaction pooling mode, with a terminated server
//   connection mid-run: pollOnly workers with preparedStatements: false drain through it.
// Worker processes are test/harness/worker-child.ts; they report every run and commit.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresHarness } from '../harness/postgres.js';
import { formatTable, recordRow, sized, type ChaosRow } from './chaos-report.js';
import { drainUnderFaults, pause, rescued, type InjectorContext } from './drain-under-faults.js';
import {
  BlackHoleProxy,
  havePgBouncer,
  privateCluster,
  startPgBouncer,
  type PrivateCluster,
} from './servers.js';

type PostgresHarness = Awaited<ReturnType<typeof postgresHarness>>;

const lease = { leaseMs: 2000, heartbeatMs: 500, rescueIntervalMs: 500 };
const workerOptions = { concurrency: 8, pollIntervalMs: 200, ...lease };
const count = sized(2000, 20_000);
const workers = sized(3, 4);

/** Until `done` has grown by at least `by` since `from` tasks; the time since `since`. */
async function progressAfter(
  context: InjectorContext,
  from: number,
  since: number,
  what: string,
  by = 20,
): Promise<number> {
  await context.fleet.waitFor(
    what,
    () => context.drained() || context.fleet.done.size >= from + by,
    60_000,
  );
  return Date.now() - since;
}

/** Until `fraction` of the tasks reported done (or all finished). */
async function untilDone(context: InjectorContext, fraction: number): Promise<void> {
  await context.fleet.waitFor(
    `${fraction * 100}% of the tasks to be done`,
    () => context.drained() || context.fleet.done.size >= fraction * context.count,
    120_000,
  );
}

describe('chaos: PostgreSQL server faults (private cluster)', () => {
  const rows: ChaosRow[] = [];
  let cluster: PrivateCluster | undefined;
  let admin: pg.Pool;
  let harness: PostgresHarness | undefined;
  beforeAll(async () => {
    cluster = await privateCluster();
    admin = new pg.Pool({ connectionString: cluster.url, max: 2 });
    admin.on('error', () => undefined);
  }, 120_000);
  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await cluster?.destroy();
    if (rows.length > 0) console.info(`\n${formatTable(rows)}\n`);
  }, 60_000);

  /** A harness (own schema) on the private cluster, closed after the test. */
  async function newHarness(): Promise<PostgresHarness> {
    await harness?.close().catch(() => undefined);
    harness = await postgresHarness({ url: cluster!.url });
    return harness;
  }
  afterAll(async () => {
    await harness?.close().catch(() => undefined);
  });

  /** Terminates the backends named `name` (picked first, then terminated by pid). */
  async function terminate(name: string): Promise<number> {
    const { rows: pids } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [name],
    );
    for (const { pid } of pids) await admin.query('SELECT pg_terminate_backend($1::int)', [pid]);
    return pids.length;
  }

  function record(row: ChaosRow): void {
    rows.push(row);
    recordRow(row);
    expect(row.lost, `lost tasks: ${row.lostDetails?.join('; ')}`).toBe(0);
    expect(row.doubleSuccesses, 'double successes').toBe(0);
  }

  it(
    `restarted twice and every worker connection terminated: ${workers} processes, ${count} tasks`,
    async () => {
      const h = await newHarness();
      const name = `at-chaos-${randomBytes(4).toString('hex')}`;
      let errorsSeen = 0;
      const { row } = await drainUnderFaults({
        scenario: 'PostgreSQL: server restarts, pg_terminate_backend',
        harness: h,
        childEnv: {
          ...h.childEnv(),
          ASYNC_TASK_CHILD_PG_POOL: JSON.stringify({ application_name: name }),
        },
        count,
        workers,
        workerOptions,
        timeoutMs: sized(240_000, 600_000),
        inject: async (context) => {
          const recoveries: number[] = [];
          for (const fraction of [0.2, 0.45]) {
            await untilDone(context, fraction);
            const at = Date.now();
            const done = context.fleet.done.size;
            await cluster!.restart();
            recoveries.push(await progressAfter(context, done, at, 'progress after a restart'));
          }
          await untilDone(context, 0.7);
          const at = Date.now();
          const done = context.fleet.done.size;
          const terminated = await terminate(name);
          recoveries.push(await progressAfter(context, done, at, 'progress after terminations'));
          await context.fleet.waitFor(
            'the drain',
            () => context.drained(),
            sized(240_000, 600_000),
          );
          errorsSeen = context.fleet.all.reduce((n, worker) => n + worker.errors.length, 0);
          return {
            description: `2 × restart, ${terminated} backends terminated`,
            recoveriesMs: recoveries,
          };
        },
      });
      record(row);
      expect(errorsSeen, 'the workers noticed the outages').toBeGreaterThan(0);
    },
    sized(300_000, 900_000),
  );

  it(
    `a half-open connection (a proxy that stops forwarding): its leases are rescued, it recovers`,
    async () => {
      const h = await newHarness();
      const proxy = new BlackHoleProxy(cluster!.port);
      await proxy.listen();
      const holdMs = sized(5000, 15_000);
      // The worker behind the proxy (w1). pg's client-side timeouts are what notice a connection
      // that accepts writes and never answers (TCP keepalive would be answered by the proxy's
      // kernel, statement_timeout by a server that never sees the statement); the server's
      // idle_in_transaction_session_timeout ends a session whose client vanished inside
      // ctx.transaction, which otherwise holds the attempt's row lock (after the fenced
      // completion UPDATE, before COMMIT) and keeps every rescuer off it.
      const victimPool = {
        query_timeout: 3000,
        connectionTimeoutMillis: 3000,
        idle_in_transaction_session_timeout: 3000,
      };
      let detected = false;
      try {
        const { row } = await drainUnderFaults({
          scenario: 'PostgreSQL: half-open connection (black hole)',
          harness: h,
          count,
          workers,
          workerEnv: (label) =>
            label === 'w1'
              ? {
                  ASYNC_TASK_CHILD_URL: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`,
                  ASYNC_TASK_CHILD_PG_POOL: JSON.stringify(victimPool),
                }
              : {},
          workerOptions,
          timeoutMs: sized(240_000, 600_000),
          inject: async (context) => {
            const { fleet, tasks } = context;
            context.hold(true);
            const victim = fleet.all.find((worker) => worker.label === 'w1')!;
            const others = fleet.all.filter((worker) => worker !== victim);
            await fleet.waitFor('w1 to be running tasks', () => victim.starts.length >= 20, 60_000);
            proxy.blackHole();
            const at = Date.now();
            const errorsBefore = victim.errors.length;
            const inFlight = victim.inFlight();
            const rescueMs = await rescued(fleet, tasks, inFlight, at, 'w1 held');
            await pause(at + holdMs - Date.now());
            detected = victim.errors.length > errorsBefore;
            // The others leave: what is left (and what comes) is w1's to do once it can.
            await Promise.all(others.map((worker) => worker.stopAndExit()));
            proxy.resume();
            const resumedAt = Date.now();
            const doneAtResume = victim.done.size;
            await context.enqueueMore(sized(300, 2000));
            context.hold(false);
            await fleet.waitFor(
              'w1 to commit tasks again after the proxy resumed',
              () => victim.done.size >= doneAtResume + 20,
              60_000,
            );
            const resumeMs = Date.now() - resumedAt;
            return {
              description: `${holdMs / 1000} s black hole (${inFlight.length} runs held), resumed in ${(resumeMs / 1000).toFixed(1)} s`,
              recoveriesMs: [rescueMs, resumeMs],
            };
          },
        });
        record(row);
        expect(detected, 'w1 reported errors while its connection was a black hole').toBe(true);
      } finally {
        proxy.resume();
        await proxy.close();
      }
    },
    sized(300_000, 900_000),
  );

  it(
    `PgBouncer (transaction pooling): pollOnly workers with preparedStatements: false drain, a server connection terminated mid-run`,
    async () => {
      expect(
        await havePgBouncer(),
        'PgBouncer is needed: apt-get install -y pgbouncer (Debian)',
      ).toBe(true);
      const h = await newHarness();
      const bouncer = await startPgBouncer(cluster!.port);
      const name = `at-chaos-${randomBytes(4).toString('hex')}`;
      try {
        const { row } = await drainUnderFaults({
          scenario: 'PostgreSQL: PgBouncer transaction mode, pollOnly',
          harness: h,
          childEnv: {
            ...h.childEnv(),
            ASYNC_TASK_CHILD_URL: bouncer.url('postgres'),
            ASYNC_TASK_CHILD_PG_POOL: JSON.stringify({ application_name: name }),
            ASYNC_TASK_CHILD_PG_DRIVER: JSON.stringify({ preparedStatements: false }),
          },
          count,
          workers,
          workerOptions: { ...workerOptions, pollOnly: true },
          timeoutMs: sized(240_000, 600_000),
          inject: async (context) => {
            await untilDone(context, 0.4);
            const at = Date.now();
            const done = context.fleet.done.size;
            const terminated = await terminate(name);
            const recoveryMs = await progressAfter(
              context,
              done,
              at,
              'progress after terminations',
            );
            return {
              description: `${terminated} server connections terminated`,
              recoveriesMs: [recoveryMs],
            };
          },
        });
        record(row);
      } finally {
        await bouncer.stop();
      }
    },
    sized(300_000, 900_000),
  );
});
