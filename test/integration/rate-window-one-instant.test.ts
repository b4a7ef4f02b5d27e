// A rate-limited claim of several statements (SQLite, MySQL/MariaDB: a first look, then a look by
// key) must stamp its starts no earlier than the instant it counted the window. SQLite stamped
// every start at the first look's instant while a later look counted at its own clock, and MySQL
// did the same with a key's window: starts that had left the later window but not the earlier
// one went uncounted, and a window held more than the limit (117 starts in one second for 100/s,
// in a CI run under load). The look by key is slowed here on purpose, so it runs after the window
// of the first look has moved. PostgreSQL's claim is one statement; it is here for the guarantee.
import { afterEach, describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { AsyncTask, defineTarget, type QueueFlowOptions } from '../../src/index.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import { claimParams } from '../harness/executor-harness.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness } from '../harness/postgres.js';
import { slowed } from '../harness/slowed-connection.js';
import { sqliteHarness } from '../harness/sqlite.js';
import { logStarts, peakInWindow } from '../harness/start-log.js';

const Noop = defineTarget('Noop', { run(_args: { i: number }) {} });

/** `connection` with the look by key sent `ms` after it is asked for, as under load. */
const slowLookByKey = (connection: SqlConnection, ms: number) =>
  slowed(connection, (statement) => (statement.name.includes('ClaimLimitedByKey') ? ms : 0));

const harnesses: [string, 'sqlite' | 'mysql' | 'postgres', () => Promise<Harness>][] = [
  ['sqlite', 'sqlite', () => sqliteHarness()],
  ['mysql', 'mysql', () => mysqlHarness()],
  ['postgres', 'postgres', () => postgresHarness()],
];

const periodMs = 3000;

/** Claims of the queue `rated` (flow `queues.rated`), the look by key slowed by `slowMs`. */
async function setUp(open: () => Promise<Harness>, dialect: string, rated: QueueFlowOptions) {
  const harness = await open();
  const tasks = new AsyncTask({
    driver: harness.driver,
    table: harness.table,
    targets: [Noop],
    queues: { rated },
  });
  await tasks.migrate();
  const readStarts = await logStarts(harness, dialect);
  const flow = tasks.runtime.flows.get('rated')!;
  return {
    harness,
    readStarts,
    /** Enqueues `count` attempts of `key` whose `i` start at `from`. */
    enqueue: (key: string, from: number, count: number) =>
      harness.transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: count }, (_, i) => ({
            method: Noop.run,
            args: { i: from + i },
            options: { queue: 'rated', concurrencyKey: key },
          })),
        ),
      ),
    claim: (limit: number, slowMs = 0) =>
      harness.driver.run((connection) =>
        tasks.runtime.executor(slowLookByKey(connection, slowMs)).attemptClaimLimited({
          ...claimParams('w1', { limit }),
          flow,
        }),
      ),
  };
}

/** The `i` of each claimed attempt. */
const argsOf = (records: readonly AttemptRecord[]) =>
  records.map((r) => (JSON.parse(r.methodArgs!) as { i: number }).i);

describe('a rate-limited claim of several statements', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  for (const [label, dialect, open] of harnesses) {
    it(`${label}: counts the queue's window at the instant it stamps its starts`, async () => {
      const limit = 10;
      const { harness, readStarts, enqueue, claim } = await setUp(open, dialect, {
        keyConcurrency: 1,
        rateLimit: { limit, periodMs },
      });
      closers.push(() => harness.close());
      // Five keys of one attempt (i 0-4), then one key whose backlog fills the first look of the
      // second claim (it ranks its first 50 × 4 + 256 due rows, all key `a`; i 100-699), then 20
      // keys behind it that only the look by key reaches (i 1000-1019).
      for (let i = 0; i < 5; i += 1) await enqueue(`p${i}`, i, 1);
      await enqueue('a', 100, 600);
      for (let i = 0; i < 20; i += 1) await enqueue(`b${i}`, 1000 + i, 1);

      const first = await claim(5);
      expect(argsOf(first.records)).toEqual([0, 1, 2, 3, 4]);
      // The second claim's first look runs about 1 s after these five starts (inside their
      // window), its look by key 2.5 s later (past it).
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const second = await claim(50, 2500);
      expect(second.now.getTime() - first.now.getTime()).toBeLessThan(periodMs);

      const starts = await readStarts();
      expect(starts).toHaveLength(5 + second.records.length);
      expect(peakInWindow(starts, periodMs)).toBeLessThanOrEqual(limit);
      // Used, not merely respected: the window that holds the first five had room for five more,
      // one of key `a` (the first look) and four from the look by key.
      const took = argsOf(second.records).map((i) => (i < 1000 ? 'a' : 'b'));
      expect(took.sort()).toEqual(['a', 'b', 'b', 'b', 'b']);
    }, 30_000);

    it(`${label}: counts a key's window at the instant it stamps its starts`, async () => {
      const limit = 2;
      const { harness, readStarts, enqueue, claim } = await setUp(open, dialect, {
        keyConcurrency: 100,
        rateLimit: { limit, periodMs, perKey: true },
      });
      closers.push(() => harness.close());
      // Key `b`'s first two attempts (i 0-1), then key `a`'s backlog, which fills the second
      // claim's first look (i 100-699), then more of key `b` that only the look by key reaches.
      await enqueue('b', 0, 2);
      await enqueue('a', 100, 600);
      await enqueue('b', 1000, 5);

      const first = await claim(2);
      expect(argsOf(first.records)).toEqual([0, 1]);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const second = await claim(50, 2500);
      expect(second.now.getTime() - first.now.getTime()).toBeLessThan(periodMs);

      const startsOfB = await readStarts('b');
      expect(peakInWindow(startsOfB, periodMs)).toBeLessThanOrEqual(limit);
      // Key `a` at its limit from the first look. Key `b` from the look by key, if at all: the
      // claim may count the window at its first instant (SQLite, PostgreSQL: none of `b` fits)
      // or at the look's own (MySQL: two fit, stamped after that look counted).
      const took = argsOf(second.records).map((i) => (i < 1000 ? 'a' : 'b'));
      expect(took.filter((key) => key === 'a')).toHaveLength(2);
      expect([2, 4]).toContain(startsOfB.length);
    }, 30_000);
  }
});
