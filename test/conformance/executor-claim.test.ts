// The executor's lease methods called directly on every fixture, in the style of River's
// riverdrivertest: claim, complete (with its fence), extend, release, rescue. The behaviour suite
// reaches them through AsyncTask; this one pins each method's own contract (src/seam/executor.ts).
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import type { AttemptCompletion } from '../../src/seam/executor.js';
import { fixtures } from '../harness/dialects.js';
import { claimParams, executorHarness } from '../harness/executor-harness.js';
import { itRequires } from '../harness/it-requires.js';
import { useHarness } from '../harness/use-harness.js';

const hour = 3_600_000;

const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);

/** Ids in ascending numeric order (for results whose order the interface leaves open). */
const sorted = (list: readonly string[]): string[] =>
  [...list].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));

const ago = (ms: number): Date => new Date(Date.now() - ms);

/** A completion of `record`'s current run. */
function outcome(
  record: Pick<AttemptRecord, 'id' | 'numAttempts'>,
  status: AttemptCompletion['status'],
  more: Partial<AttemptCompletion> = {},
): AttemptCompletion {
  return {
    id: record.id,
    numAttempts: record.numAttempts,
    status,
    delayMs: 0,
    error: null,
    ...more,
  };
}

for (const fixture of fixtures) {
  describe(`executor: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    it('attemptClaim takes due pending attempts by priority, scheduled time and id, up to the limit', async () => {
      const x = await setup();
      const tie = ago(30_000);
      const [late, early, urgent, tie1, tie2, future] = await x.insert([
        { scheduledAt: ago(1_000) },
        { scheduledAt: ago(60_000) },
        { scheduledAt: ago(500), priority: -5 },
        { scheduledAt: tie },
        { scheduledAt: tie },
        { scheduledAt: new Date(Date.now() + hour) },
      ]);

      const none = await x.run((e) => e.attemptClaim(claimParams('w1', { limit: 0 })));
      expect(none.records).toEqual([]);

      const first = await x.run((e) =>
        e.attemptClaim(claimParams('w1', { limit: 2, leaseMs: 90_000, durable: true })),
      );
      expect(ids(first.records)).toEqual([urgent!.id, early!.id]);
      for (const record of first.records) {
        expect(record).toMatchObject({ status: 'running', lockedBy: 'w1', numAttempts: 1 });
        expect(record.lockedUntil!.getTime() - first.now.getTime()).toBeCloseTo(90_000, -1);
        // What the claim returns is what it stored.
        expect(record).toEqual(await x.get(record.id));
      }

      // More room than due attempts: the rest, in order; the future one stays.
      const rest = await x.run((e) => e.attemptClaim(claimParams('w2', { limit: 10 })));
      expect(ids(rest.records)).toEqual([tie1!.id, tie2!.id, late!.id]);
      expect(rest.records.map((record) => record.lockedBy)).toEqual(['w2', 'w2', 'w2']);

      // Rows another worker leased are not claimed again.
      const again = await x.run((e) => e.attemptClaim(claimParams('w3', { limit: 10 })));
      expect(again.records).toEqual([]);
      expect(await x.get(future!.id)).toMatchObject({
        status: 'pending',
        numAttempts: 0,
        lockedBy: null,
      });
      expect(await x.get(urgent!.id)).toMatchObject({ status: 'running', lockedBy: 'w1' });
    });

    it('attemptClaim keeps to its queues and its horizon', async () => {
      const x = await setup();
      const horizon = ago(5_000);
      const [a, b, c, d, atHorizon] = await x.insert([
        { queue: 'q1', scheduledAt: ago(10_000) },
        { queue: 'q2', scheduledAt: ago(10_000) },
        { queue: 'q3', scheduledAt: ago(10_000) },
        { queue: 'q1', scheduledAt: ago(1_000) },
        { queue: 'q2', scheduledAt: horizon },
      ]);
      const claim = (overrides: Parameters<typeof claimParams>[1]) =>
        x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));

      expect(await claim({ queues: [] })).toEqual([]);
      expect(await claim({ queues: ['q1', 'q2'], horizon })).toEqual([a!.id, b!.id, atHorizon!.id]);
      expect(await claim({ queues: ['q3', 'nowhere'] })).toEqual([c!.id]);
      expect(await claim({ horizon })).toEqual([]);
      expect(await claim({})).toEqual([d!.id]);
    });

    // The claim of named queues, and that of every queue but some, read each queue's own stretch
    // of the queue-leading index (PostgreSQL migration 17, queue-claim-queries.ts on SQLite):
    // the rows they take are still the first due ones across those queues.
    it('attemptClaim of some queues takes their first due rows across them, by priority and due time', async () => {
      const x = await setup();
      const older = await x.insert(
        Array.from({ length: 30 }, (_, i) => ({ queue: 'big', scheduledAt: ago(100_000 + i) })),
      );
      const [q1a, q1b, q1urgent, q2a, q2b, q3] = await x.insert([
        { queue: 'q1', scheduledAt: ago(30_000) },
        { queue: 'q1', scheduledAt: ago(10_000) },
        { queue: 'q1', scheduledAt: ago(1_000), priority: -1 },
        { queue: 'q2', scheduledAt: ago(20_000) },
        { queue: 'q2', scheduledAt: ago(5_000) },
        { queue: 'q3', scheduledAt: ago(15_000), priority: 1 },
      ]);
      const claim = (overrides: Parameters<typeof claimParams>[1]) =>
        x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));

      expect(await claim({ queues: ['q2', 'q1', 'q2'], limit: 3 })).toEqual(
        ids([q1urgent!, q1a!, q2a!]),
      );
      expect(await claim({ exceptQueues: ['big'], limit: 3 })).toEqual(ids([q1b!, q2b!, q3!]));
      expect(await claim({ exceptQueues: ['big'] })).toEqual([]);
      expect(await claim({ queues: ['q1', 'q2', 'q3'] })).toEqual([]);
      expect(sorted(await claim({ limit: 100 }))).toEqual(sorted(ids(older)));
    });

    it('attemptClaim of some queues takes rows with a concurrency key too, in due order', async () => {
      const x = await setup();
      const now = Date.now();
      const [first, keyed, last] = await x.insert([
        { queue: 'q1', scheduledAt: new Date(now - 3_000) },
        { queue: 'q1', scheduledAt: new Date(now - 2_000), concurrencyKey: 'k' },
        { queue: 'q1', scheduledAt: new Date(now - 1_000) },
        { queue: 'big', scheduledAt: new Date(now - 9_000) },
      ]);
      const claim = (overrides: Parameters<typeof claimParams>[1]) =>
        x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));
      expect(await claim({ queues: ['q1'], limit: 2 })).toEqual(ids([first!, keyed!]));
      expect(await claim({ exceptQueues: ['big'] })).toEqual(ids([last!]));
    });

    it('attemptClaim of more queues than one claim reads by queue still takes them in due order', async () => {
      const x = await setup();
      // 40 queues (more than the 32 read one by one), one row each, the oldest in queue 39.
      const now = Date.now();
      const rows = await x.insert(
        Array.from({ length: 40 }, (_, i) => ({
          queue: `q${i}`,
          scheduledAt: new Date(now - 1_000 - 10 * i),
        })),
      );
      const claim = (overrides: Parameters<typeof claimParams>[1]) =>
        x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));
      const named = Array.from({ length: 40 }, (_, i) => `q${i}`);
      expect(await claim({ queues: named, limit: 2 })).toEqual(ids([rows[39]!, rows[38]!]));
      expect(await claim({ exceptQueues: ['q37'], limit: 2 })).toEqual(ids([rows[36]!, rows[35]!]));
      expect(await claim({ exceptQueues: ['q37'], limit: 100 })).toEqual(
        ids(rows.slice(0, 35).reverse()),
      );
    });

    // A claim goes on from one priority to the next ones with a due row, several per statement
    // where the dialect reads them so (32 on MySQL and SQLite), past those with nothing due.
    it('attemptClaim across 80 priorities takes the due rows by priority, past those due later', async () => {
      const x = await setup();
      const now = Date.now();
      const later = new Date(now + hour);
      // Priorities 0..79: each one due now and one due in an hour; every third none due; in
      // queue q1 or q2 by turns.
      const due = await x.insert(
        Array.from({ length: 80 }, (_, p) => ({
          priority: p,
          queue: `q${(p % 2) + 1}`,
          scheduledAt: p % 3 === 2 ? later : new Date(now - 1_000 - p),
        })),
      );
      await x.insert(Array.from({ length: 80 }, (_, p) => ({ priority: p, scheduledAt: later })));
      const expected = due.filter((_, p) => p % 3 !== 2);
      const claim = (overrides: Parameters<typeof claimParams>[1]) =>
        x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));
      expect(await claim({ limit: 1 })).toEqual(ids(expected.slice(0, 1)));
      expect(await claim({ limit: 40 })).toEqual(ids(expected.slice(1, 41)));
      const tail = expected.slice(41);
      const ofQ2 = tail.filter((r) => r.queue === 'q2').slice(0, 5);
      expect(await claim({ queues: ['q2'], limit: 5 })).toEqual(ids(ofQ2));
      expect(await claim({ limit: 100 })).toEqual(ids(tail.filter((r) => !ofQ2.includes(r))));
      expect(await claim({ limit: 100 })).toEqual([]);
    });

    // It holds one transaction open while another acts: SQLite's single writer cannot.
    itRequires(fixture, 'concurrentTransactions')(
      'attemptClaim skips rows another transaction holds locked, without waiting',
      async () => {
        const x = await setup();
        const [a, b, c] = await x.insert([
          { scheduledAt: ago(3_000) },
          { scheduledAt: ago(2_000) },
          { scheduledAt: ago(1_000) },
        ]);
        const during = await x.holdingRows([a!.id], () =>
          x.run((e) => e.attemptClaim(claimParams('w1'))),
        );
        expect(ids(during.records)).toEqual([b!.id, c!.id]);
        const after = await x.run((e) => e.attemptClaim(claimParams('w2')));
        expect(ids(after.records)).toEqual([a!.id]);
        expect(after.records[0]).toMatchObject({ numAttempts: 1, lockedBy: 'w2' });
      },
      // A claim that waited on the lock would never return: fail fast instead.
      15_000,
    );

    // The claims of some queues lock each queue's rows as they read them (SKIP LOCKED), after
    // reading the queues' shares without locks when there are several.
    itRequires(fixture, 'concurrentTransactions')(
      'attemptClaim of some queues skips rows another transaction holds locked, without waiting',
      async () => {
        const x = await setup();
        const now = Date.now();
        const [a1, b1, a2, b2] = await x.insert([
          { queue: 'a', scheduledAt: new Date(now - 4_000) },
          { queue: 'b', scheduledAt: new Date(now - 3_000) },
          { queue: 'a', scheduledAt: new Date(now - 2_000) },
          { queue: 'b', scheduledAt: new Date(now - 1_000) },
          { queue: 'big', scheduledAt: new Date(now - 9_000) },
        ]);
        const claim = (overrides: Parameters<typeof claimParams>[1]) =>
          x.run((e) => e.attemptClaim(claimParams('w', overrides))).then((r) => ids(r.records));
        // One row held: MariaDB's lock of two ids by primary key also held the rows beside them.
        const during = await x.holdingRows([a1!.id], async () => ({
          some: await claim({ queues: ['a', 'b'], limit: 1 }),
          a: await claim({ queues: ['a'] }),
          b: await claim({ queues: ['b'] }),
        }));
        expect(during).toEqual({ some: [a2!.id], a: [], b: [b1!.id, b2!.id] });
        expect(await claim({ exceptQueues: ['big'] })).toEqual([a1!.id]);
      },
      15_000,
    );

    it('attemptCompleteMany writes only runs still held under that worker and attempt count', async () => {
      const x = await setup();
      await x.insert([{}, {}, {}, {}, {}]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      const [s, f, p, wrongCount, otherWorker] = claimed.records;
      expect(claimed.records).toHaveLength(5);

      expect(await x.run((e) => e.attemptCompleteMany('w1', []))).toEqual([]);
      const written = await x.run((e) =>
        e.attemptCompleteMany('w1', [
          outcome(s!, 'succeeded'),
          outcome(s!, 'succeeded'), // named twice: written, and returned, once
          outcome(f!, 'failed', { error: 'Fatal: no such order' }),
          outcome(p!, 'pending', { delayMs: hour, error: 'Retry: later' }),
          outcome(wrongCount!, 'succeeded', { numAttempts: 2 }),
        ]),
      );
      expect(sorted(written)).toEqual([s!.id, f!.id, p!.id]);
      expect(
        await x.run((e) => e.attemptCompleteMany('w2', [outcome(otherWorker!, 'failed')])),
      ).toEqual([]);
      // A finished run cannot be completed twice.
      expect(
        await x.run((e) => e.attemptCompleteMany('w1', [outcome(s!, 'failed', { error: 'E: x' })])),
      ).toEqual([]);

      const released = { lockedBy: null, lockedUntil: null };
      const succeeded = await x.get(s!.id);
      expect(succeeded).toMatchObject({ status: 'succeeded', lastError: null, ...released });
      expect(succeeded.scheduledAt).toEqual(s!.scheduledAt);
      expect(succeeded.completedAt!.getTime()).toBeGreaterThanOrEqual(claimed.now.getTime());
      expect(succeeded.completedAt!.getTime()).toBeLessThan(claimed.now.getTime() + 60_000);
      const failed = await x.get(f!.id);
      expect(failed).toMatchObject({ status: 'failed', lastError: 'Fatal: no such order' });
      expect(failed.completedAt).not.toBeNull();
      const retried = await x.get(p!.id);
      expect(retried).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        completedAt: null,
        lastError: 'Retry: later',
        ...released,
      });
      const delay = retried.scheduledAt.getTime() - claimed.now.getTime();
      expect(delay).toBeGreaterThanOrEqual(hour);
      expect(delay).toBeLessThan(hour + 60_000);
      for (const record of [wrongCount!, otherWorker!]) {
        expect(await x.get(record.id)).toEqual(record);
      }
      // Scheduled an hour ahead: not due.
      expect((await x.run((e) => e.attemptClaim(claimParams('w1')))).records).toEqual([]);
    });

    it('attemptCompleteMany with a null error keeps the previous one; pending with no delay is due again', async () => {
      const x = await setup();
      const [a] = await x.insert([{}]);
      const first = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records[0]!;
      expect(
        await x.run((e) =>
          e.attemptCompleteMany('w1', [outcome(first, 'pending', { error: 'Boom: first' })]),
        ),
      ).toEqual([a!.id]);
      const second = (await x.run((e) => e.attemptClaim(claimParams('w2')))).records[0]!;
      expect(second).toMatchObject({ id: a!.id, numAttempts: 2, lastError: 'Boom: first' });
      // The first run's fence is gone: its worker's late completion writes nothing.
      expect(await x.run((e) => e.attemptCompleteMany('w1', [outcome(first, 'failed')]))).toEqual(
        [],
      );
      expect(
        await x.run((e) => e.attemptCompleteMany('w2', [outcome(second, 'succeeded')])),
      ).toEqual([a!.id]);
      expect(await x.get(a!.id)).toMatchObject({
        status: 'succeeded',
        numAttempts: 2,
        lastError: 'Boom: first',
      });
    });

    it('attemptExtendLeases pushes held leases forward and returns only those', async () => {
      const x = await setup();
      await x.insert([{}, {}, {}, {}]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      const [a, b, done, other] = claimed.records;
      await x.run((e) => e.attemptCompleteMany('w1', [outcome(done!, 'succeeded')]));

      expect(await x.run((e) => e.attemptExtendLeases('w1', [], hour))).toEqual([]);
      const held = await x.run((e) =>
        e.attemptExtendLeases(
          'w1',
          [a!, a!, { id: b!.id, numAttempts: 2 }, done!, other!].map(({ id, numAttempts }) => ({
            id,
            numAttempts,
          })),
          hour,
        ),
      );
      expect(sorted(held)).toEqual([a!.id, other!.id]);
      expect(await x.run((e) => e.attemptExtendLeases('w2', [a!], hour))).toEqual([]);

      const extended = (await x.get(a!.id)).lockedUntil!.getTime() - claimed.now.getTime();
      expect(extended).toBeGreaterThanOrEqual(hour);
      expect(extended).toBeLessThan(hour + 60_000);
      expect(await x.get(b!.id)).toEqual(b);
      expect(await x.get(done!.id)).toMatchObject({ status: 'succeeded', lockedUntil: null });
    });

    it('attemptReleaseMany hands held runs back to pending without counting them', async () => {
      const x = await setup();
      const [a, b, c] = await x.insert([
        { scheduledAt: ago(3_000) },
        { scheduledAt: ago(2_000) },
        { scheduledAt: ago(1_000) },
      ]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      expect(ids(claimed.records)).toEqual([a!.id, b!.id, c!.id]);
      const [heldA, heldB, heldC] = claimed.records;
      expect(heldA!.numAttempts).toBe(1);
      // c is on its second run.
      await x.run((e) =>
        e.attemptCompleteMany('w1', [outcome(heldC!, 'pending', { error: 'Retry: once' })]),
      );
      const cSecond = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records[0]!;
      expect(cSecond).toMatchObject({ id: c!.id, numAttempts: 2 });

      expect(await x.run((e) => e.attemptReleaseMany('w1', []))).toEqual([]);
      expect(await x.run((e) => e.attemptReleaseMany('w2', [heldB!]))).toEqual([]);
      const released = await x.run((e) =>
        // heldA twice: released, and counted down, once.
        e.attemptReleaseMany('w1', [heldA!, heldA!, { id: heldB!.id, numAttempts: 2 }, cSecond]),
      );
      expect(sorted(released)).toEqual([a!.id, c!.id]);

      expect(await x.get(a!.id)).toMatchObject({
        status: 'pending',
        numAttempts: 0,
        lockedBy: null,
        lockedUntil: null,
        completedAt: null,
        scheduledAt: a!.scheduledAt,
      });
      expect(await x.get(c!.id)).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        lockedBy: null,
        lastError: 'Retry: once',
      });
      expect(await x.get(b!.id)).toEqual(heldB);
      // Released runs are claimable at once, and the released run was not counted.
      const reclaimed = await x.run((e) => e.attemptClaim(claimParams('w3')));
      expect(reclaimed.records.map(({ id, numAttempts }) => ({ id, numAttempts }))).toEqual([
        { id: a!.id, numAttempts: 1 },
        { id: c!.id, numAttempts: 2 },
      ]);
    });

    it('attemptRescueExpired returns expired leases to pending, or failed when out of attempts', async () => {
      const x = await setup();
      const [again, last, live, idle] = await x.insert([
        { maxAttempts: 3, scheduledAt: ago(3_000) },
        { maxAttempts: 1, scheduledAt: ago(2_000) },
        { maxAttempts: 1, scheduledAt: ago(1_000) },
        { maxAttempts: 1, scheduledAt: new Date(Date.now() + hour) },
      ]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      expect(ids(claimed.records)).toEqual([again!.id, last!.id, live!.id]);
      const [heldAgain, heldLast, heldLive] = claimed.records;
      expect(await x.run((e) => e.attemptRescueExpired(10))).toEqual([]);
      await x.harness.expireLease(again!.id);
      await x.harness.expireLease(last!.id);

      const first = await x.run((e) => e.attemptRescueExpired(1));
      expect(first).toHaveLength(1);
      const second = await x.run((e) => e.attemptRescueExpired(10));
      expect(second).toHaveLength(1);
      expect(await x.run((e) => e.attemptRescueExpired(10))).toEqual([]);
      const rescued = [...first, ...second];
      expect(sorted(ids(rescued))).toEqual([again!.id, last!.id]);
      for (const record of rescued) expect(record).toEqual(await x.get(record.id));

      const lastError = 'LeaseExpired: the lease of worker w1 ran out before it finished';
      const pending = rescued.find((record) => record.id === again!.id);
      const failed = rescued.find((record) => record.id === last!.id);
      expect(pending).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        completedAt: null,
        lockedBy: null,
        lockedUntil: null,
        lastError,
      });
      expect(pending!.scheduledAt.getTime()).toBeGreaterThanOrEqual(claimed.now.getTime());
      expect(failed).toMatchObject({
        status: 'failed',
        numAttempts: 1,
        lockedBy: null,
        lockedUntil: null,
        lastError,
        scheduledAt: last!.scheduledAt,
      });
      expect(failed!.completedAt!.getTime()).toBeGreaterThanOrEqual(claimed.now.getTime());
      expect(await x.get(live!.id)).toEqual(heldLive);
      expect(await x.get(idle!.id)).toMatchObject({ status: 'pending', numAttempts: 0 });

      // The rescued runs' worker is fenced off; the pending one runs again.
      expect(
        await x.run((e) =>
          e.attemptCompleteMany('w1', [
            outcome(heldAgain!, 'succeeded'),
            outcome(heldLast!, 'succeeded'),
          ]),
        ),
      ).toEqual([]);
      const reclaimed = await x.run((e) => e.attemptClaim(claimParams('w2')));
      expect(reclaimed.records.map(({ id, numAttempts }) => ({ id, numAttempts }))).toEqual([
        { id: again!.id, numAttempts: 2 },
      ]);
    });
  });
}
