// Chaos on MySQL/MariaDB and SQLite:
// - MySQL: the workers' connections killed (KILL from another connection, picked in
//   information_schema.PROCESSLIST) while they run a claim or a completion (the handler's
//   side insert, the fenced outcome UPDATE or its COMMIT): nothing lost, no double success.
// - SQLite: a worker process killed (SIGKILL) every 0.5 s in CI, 1 s in full, mostly inside a write transaction:
//   the file stays usable (integrity_check) and nothing is lost.
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlHarness, mysqlUrl } from '../harness/mysql.js';
import { Database, sqliteHarness } from '../harness/sqlite.js';
import { formatTable, recordRow, sized, type ChaosRow } from './chaos-report.js';
import { drainUnderFaults, nextVictim, pause, recovered, rescued } from './drain-under-faults.js';

const lease = { leaseMs: 2000, heartbeatMs: 500, rescueIntervalMs: 500 };
const workerOptions = { concurrency: 8, pollIntervalMs: 200, ...lease };

type Phase = 'claim' | 'completion';

/** What a statement of a worker belongs to, from its text (src/dialects/mysql/queries.ts). */
function phaseOf(info: string): Phase | null {
  if (info.includes('FOR UPDATE SKIP LOCKED') || info.includes("SET t.status = 'running'")) {
    return 'claim';
  }
  if (info.includes('side_effects') || info.includes('$.delayMs') || /^\s*COMMIT/i.test(info)) {
    return 'completion';
  }
  return null;
}

describe('chaos: MySQL/MariaDB and SQLite', () => {
  const rows: ChaosRow[] = [];
  afterAll(() => {
    if (rows.length > 0) console.info(`\n${formatTable(rows)}\n`);
  });

  function record(row: ChaosRow): void {
    rows.push(row);
    recordRow(row);
    expect(row.lost, `lost tasks: ${row.lostDetails?.join('; ')}`).toBe(0);
    expect(row.doubleSuccesses, 'double successes').toBe(0);
  }

  describe('MySQL/MariaDB', () => {
    let harness: Awaited<ReturnType<typeof mysqlHarness>> | undefined;
    let admin: mysql.Connection | undefined;
    beforeAll(async () => {
      harness = await mysqlHarness();
      admin = await mysql.createConnection({ uri: mysqlUrl });
    });
    afterAll(async () => {
      await admin?.end();
      await harness?.close();
    });

    const count = sized(2000, 20_000);
    const workers = sized(3, 4);
    it(
      `connections killed mid-claim and mid-completion: ${workers} processes, ${count} tasks`,
      async () => {
        const kills: Record<Phase, number> = { claim: 0, completion: 0 };
        const { row } = await drainUnderFaults({
          scenario: 'MySQL: KILL connections mid-claim/completion',
          harness: harness!,
          count,
          workers,
          workerOptions,
          timeoutMs: sized(240_000, 900_000),
          inject: async (context) => {
            const { fleet, tasks } = context;
            const recoveries: Promise<number>[] = [];
            const done = (): boolean => context.drained();
            while (!done()) {
              // Alternate: look for the phase killed least so far, take the other if none.
              const wanted: Phase = kills.claim <= kills.completion ? 'claim' : 'completion';
              let victim: { id: number; phase: Phase } | undefined;
              const until = Date.now() + 2000;
              while (victim === undefined && Date.now() < until && !done()) {
                const [found] = await admin!.query<mysql.RowDataPacket[]>(
                  `SELECT ID AS id, INFO AS info FROM information_schema.PROCESSLIST
                   WHERE DB = ? AND ID <> CONNECTION_ID() AND INFO IS NOT NULL`,
                  [harness!.database],
                );
                const candidates = found
                  .map((p) => ({ id: Number(p['id']), phase: phaseOf(String(p['info'])) }))
                  .filter((p): p is { id: number; phase: Phase } => p.phase !== null);
                victim =
                  candidates.find((p) => p.phase === wanted) ??
                  (Date.now() > until - 1000 ? candidates[0] : undefined);
              }
              if (victim === undefined) continue;
              const at = Date.now();
              const inFlight = fleet.alive().flatMap((worker) => worker.inFlight());
              // Gone already (the statement ended) is fine: ER_NO_SUCH_THREAD.
              const killed = await admin!.query(`KILL ${victim.id}`).then(
                () => true,
                () => false,
              );
              if (killed) {
                kills[victim.phase] += 1;
                const recovery = rescued(fleet, tasks, inFlight, at, 'in flight at a KILL');
                recovery.catch(() => undefined);
                recoveries.push(recovery);
              }
              await pause(sized(300, 500), done);
            }
            return {
              description: `${kills.claim} KILL mid-claim, ${kills.completion} mid-completion`,
              recoveriesMs: await Promise.all(recoveries),
            };
          },
        });
        record(row);
        expect(kills.claim + kills.completion, 'connections killed').toBeGreaterThan(0);
      },
      sized(300_000, 1_200_000),
    );
  });

  describe('SQLite', () => {
    let harness: Awaited<ReturnType<typeof sqliteHarness>> | undefined;
    beforeAll(async () => {
      harness = await sqliteHarness();
    });
    afterAll(async () => {
      await harness?.close();
    });

    const count = sized(5000, 30_000);
    const workers = 3;
    const killEveryMs = sized(500, 1000);
    it(
      `a worker process killed mid-transaction every ${killEveryMs} ms: ${workers} processes, ${count} tasks; the file stays usable`,
      async () => {
        const { row } = await drainUnderFaults({
          scenario: `SQLite: kill -9 a worker every ${killEveryMs / 1000} s`,
          harness: harness!,
          count,
          workers,
          workerOptions,
          timeoutMs: sized(240_000, 900_000),
          inject: async (context) => {
            const { fleet, tasks } = context;
            const done = (): boolean => context.drained();
            const recoveries: Promise<number>[] = [];
            let kills = 0;
            while (!done()) {
              // One with runs in flight: most of that time is inside ctx.transaction.
              const victim = await nextVictim(
                fleet,
                killEveryMs,
                done,
                (worker) => worker.inFlight().length > 0,
              );
              if (victim === undefined) break;
              const at = Date.now();
              await fleet.kill(victim);
              kills += 1;
              fleet.start(`replacement-${kills}`);
              const recovery = recovered(fleet, tasks, victim, at);
              recovery.catch(() => undefined);
              recoveries.push(recovery);
            }
            return {
              description: `${kills} × kill -9`,
              recoveriesMs: await Promise.all(recoveries),
            };
          },
        });
        record(row);
        // Usable: intact, and writable by a new connection.
        const db = new Database(harness!.file);
        try {
          expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
          db.prepare('INSERT INTO side_effects (key) VALUES (?)').run('after-the-kills');
        } finally {
          db.close();
        }
      },
      sized(300_000, 1_200_000),
    );
  });
});
