// The executor's other methods called directly on every fixture, in the style of River's
// riverdrivertest: insert (with idempotence), get, list, the management transitions, prune, the
// retention window and stats. Lease methods are in executor-claim.test.ts.
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import type { Retention } from '../../src/core/retention.js';
import type { AttemptListParams, AttemptPruneWindowParams } from '../../src/seam/executor.js';
import { fixtures } from '../harness/dialects.js';
import { claimParams, executorHarness, insertRow } from '../harness/executor-harness.js';
import { itRequires } from '../harness/it-requires.js';
import { useHarness } from '../harness/use-harness.js';

const hour = 3_600_000;
const day = 24 * hour;

const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);

/** A completion of `record`'s current run. */
const outcome = (
  record: AttemptRecord,
  status: 'succeeded' | 'failed' | 'pending',
  error: string | null = null,
) => ({ id: record.id, numAttempts: record.numAttempts, status, delayMs: 0, error });

for (const fixture of fixtures) {
  describe(`executor: ${fixture.label}`, () => {
    const harness = useHarness(fixture);
    const setup = () => executorHarness(harness(), fixture.dialect);

    it('attemptInsertMany returns the stored rows in input order; a taken token returns its holder', async () => {
      const x = await setup();
      expect(await x.run((e) => e.attemptInsertMany([]))).toEqual([]);
      const later = new Date(Math.floor(Date.now() / 1000) * 1000 + hour + 123);
      const sent = [
        insertRow({
          target: 'Shop',
          methodName: 'ship',
          methodArgs: '{"n":1}',
          encryptor: 'k1',
          maxAttempts: 5,
          queue: 'mail',
          priority: 7,
          scheduledAt: later,
        }),
        insertRow({ methodArgs: '{"n":2}', idempotenceToken: 'A' }),
        insertRow({ methodArgs: null }),
      ];
      const first = await x.run((e) => e.attemptInsertMany(sent));
      expect(first.map((result) => result.inserted)).toEqual([true, true, true]);
      const [shipped, tokenA, plain] = first.map((result) => result.record);
      expect(BigInt(shipped!.id) < BigInt(tokenA!.id)).toBe(true);
      expect(BigInt(tokenA!.id) < BigInt(plain!.id)).toBe(true);
      first.forEach(({ record }, index) => {
        const row = sent[index]!;
        expect(record).toMatchObject({
          target: row.target,
          methodName: row.methodName,
          methodArgs: row.methodArgs,
          encryptor: row.encryptor,
          maxAttempts: row.maxAttempts,
          queue: row.queue,
          priority: row.priority,
          idempotenceToken: row.idempotenceToken,
          status: 'pending',
          numAttempts: 0,
          completedAt: null,
          lockedBy: null,
          lockedUntil: null,
          lastError: null,
        });
        expect(record.updatedAt).toEqual(record.createdAt);
      });
      expect(shipped!.scheduledAt).toEqual(later);
      // Due now, by the database's clock: the same instant as its creation.
      expect(plain!.scheduledAt).toEqual(plain!.createdAt);
      for (const { record } of first) expect(record).toEqual(await x.get(record.id));

      // Tokens are per target and method; a finished attempt keeps its token.
      const expired = await x.run((e) => e.attemptSetFinalIfPending(tokenA!.id, 'expired'));
      expect(expired?.status).toBe('expired');
      const second = await x.run((e) =>
        e.attemptInsertMany([
          insertRow({ methodArgs: '{"n":3}', idempotenceToken: 'A' }),
          insertRow({ methodArgs: '{"n":4}' }),
          insertRow({ methodArgs: '{"n":5}', idempotenceToken: 'B' }),
          insertRow({ methodArgs: '{"n":6}', idempotenceToken: 'B' }),
          insertRow({ methodName: 'other', methodArgs: '{"n":7}', idempotenceToken: 'A' }),
          insertRow({ methodArgs: '{"n":8}', idempotenceToken: 'A' }),
        ]),
      );
      expect(second.map((result) => result.inserted)).toEqual([
        false,
        true,
        true,
        false,
        true,
        false,
      ]);
      const records = second.map((result) => result.record);
      expect(records[0]).toEqual(expired);
      expect(records[5]).toEqual(expired);
      expect(records[3]).toEqual(records[2]);
      expect(records.map((record) => record.methodArgs)).toEqual([
        '{"n":2}',
        '{"n":4}',
        '{"n":5}',
        '{"n":5}',
        '{"n":7}',
        '{"n":2}',
      ]);
      expect(records[4]).toMatchObject({ methodName: 'other', idempotenceToken: 'A' });
      const created = [records[1]!, records[2]!, records[4]!];
      expect(new Set(ids(created)).size).toBe(3);
      for (const record of created) {
        expect(BigInt(record.id) > BigInt(plain!.id)).toBe(true);
        expect(record).toEqual(await x.get(record.id));
      }
      expect(await x.harness.countAttempts()).toBe(6);
    });

    it('attemptGet and attemptList read rows newest first, filtered and paged by id', async () => {
      const x = await setup();
      const [r1, r2, r3, r4, r5] = await x.insert([
        { queue: 'q1' },
        { queue: 'q1', methodName: 'n' },
        { queue: 'q2', target: 'U' },
        { queue: 'q2' },
        { queue: 'q1' },
      ]);
      await x.run((e) => e.attemptSetFinalIfPending(r2!.id, 'failed'));
      expect(await x.run((e) => e.attemptGet('999999999'))).toBeNull();

      const list = (params: Partial<AttemptListParams>) =>
        x.run((e) =>
          e.attemptList({
            status: null,
            target: null,
            methodName: null,
            queue: null,
            beforeId: null,
            limit: 100,
            ...params,
          }),
        );
      const all = await list({});
      expect(ids(all)).toEqual(ids([r5!, r4!, r3!, r2!, r1!]));
      expect(all[1]).toEqual(await x.get(r4!.id));
      expect(ids(await list({ status: 'pending' }))).toEqual(ids([r5!, r4!, r3!, r1!]));
      expect(ids(await list({ status: 'failed' }))).toEqual([r2!.id]);
      expect(await list({ status: 'running' })).toEqual([]);
      expect(ids(await list({ target: 'T' }))).toEqual(ids([r5!, r4!, r2!, r1!]));
      expect(ids(await list({ methodName: 'm' }))).toEqual(ids([r5!, r4!, r3!, r1!]));
      expect(ids(await list({ queue: 'q2' }))).toEqual(ids([r4!, r3!]));
      expect(ids(await list({ target: 'T', methodName: 'm', queue: 'q1' }))).toEqual(
        ids([r5!, r1!]),
      );
      expect(ids(await list({ limit: 2 }))).toEqual(ids([r5!, r4!]));
      expect(ids(await list({ limit: 2, beforeId: r4!.id }))).toEqual(ids([r3!, r2!]));
      expect(ids(await list({ limit: 2, beforeId: r2!.id }))).toEqual([r1!.id]);
      expect(await list({ beforeId: r1!.id })).toEqual([]);
    });

    it('attemptSetFinalIfPending and attemptSetPendingIfFinished change only the statuses they name', async () => {
      const x = await setup();
      const [p1, p2, waiting, run, exhausted, done] = await x.insert([
        { scheduledAt: new Date(Date.now() + hour) },
        { scheduledAt: new Date(Date.now() + hour) },
        { scheduledAt: new Date(Date.now() + hour) },
        {},
        { maxAttempts: 1 },
        {},
      ]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      const [running, failing, succeeding] = claimed.records;
      expect(ids(claimed.records)).toEqual([run!.id, exhausted!.id, done!.id]);
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          outcome(failing!, 'failed', 'Fatal: once'),
          outcome(succeeding!, 'succeeded'),
        ]),
      );

      const expired = await x.run((e) => e.attemptSetFinalIfPending(p1!.id, 'expired'));
      expect(expired).toMatchObject({ id: p1!.id, status: 'expired', numAttempts: 0 });
      expect(expired!.completedAt!.getTime()).toBeGreaterThanOrEqual(claimed.now.getTime());
      expect(expired).toEqual(await x.get(p1!.id));
      const failed = await x.run((e) => e.attemptSetFinalIfPending(p2!.id, 'failed'));
      expect(failed).toMatchObject({ id: p2!.id, status: 'failed' });
      expect(failed!.completedAt).not.toBeNull();
      for (const id of [p1!.id, running!.id, done!.id, '999999999']) {
        expect(await x.run((e) => e.attemptSetFinalIfPending(id, 'failed'))).toBeNull();
      }
      expect(await x.get(running!.id)).toEqual(running);

      for (const id of [waiting!.id, running!.id, done!.id, '999999999']) {
        expect(await x.run((e) => e.attemptSetPendingIfFinished(id))).toBeNull();
      }
      const unexpired = await x.run((e) => e.attemptSetPendingIfFinished(p1!.id));
      expect(unexpired).toMatchObject({
        status: 'pending',
        completedAt: null,
        numAttempts: 0,
        maxAttempts: 3,
      });
      expect(unexpired!.scheduledAt).toEqual(unexpired!.updatedAt);
      expect(unexpired).toEqual(await x.get(p1!.id));
      expect(await x.run((e) => e.attemptSetPendingIfFinished(p1!.id))).toBeNull();
      // Out of attempts: room for one more run, and due now.
      const retried = await x.run((e) => e.attemptSetPendingIfFinished(exhausted!.id));
      expect(retried).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        maxAttempts: 2,
        lastError: 'Fatal: once',
        completedAt: null,
        lockedBy: null,
      });
      const again = await x.run((e) => e.attemptClaim(claimParams('w2')));
      expect(again.records.map(({ id, numAttempts }) => ({ id, numAttempts }))).toEqual([
        { id: p1!.id, numAttempts: 1 },
        { id: exhausted!.id, numAttempts: 2 },
      ]);
    });

    it('attemptPrune deletes finished attempts completed before the cutoff, up to the limit', async () => {
      const x = await setup();
      const rows = await x.insert([{}, {}, {}, {}, {}, {}, { queue: 'other' }]);
      const [s1, f1, s2, pending, running, recent, expired] = rows;
      const claimed = await x.run((e) =>
        e.attemptClaim(claimParams('w1', { queues: ['default'] })),
      );
      expect(claimed.records).toHaveLength(6);
      const held = new Map(claimed.records.map((record) => [record.id, record]));
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          outcome(held.get(s1!.id)!, 'succeeded'),
          outcome(held.get(f1!.id)!, 'failed', 'Fatal: no'),
          outcome(held.get(s2!.id)!, 'succeeded'),
          outcome(held.get(recent!.id)!, 'succeeded'),
        ]),
      );
      await x.run((e) => e.attemptReleaseMany('w1', [held.get(pending!.id)!]));
      await x.run((e) => e.attemptSetFinalIfPending(expired!.id, 'expired'));
      await x.age([s1!.id, f1!.id, s2!.id, pending!.id, running!.id, expired!.id], 2 * hour);

      const cutoff = new Date(Date.now() - hour);
      const prune = (before: Date, limit: number, afterId = '0') =>
        x.run((e) => e.attemptPrune({ before, afterId, limit }));
      expect(await prune(new Date(Date.now() - 3 * hour), 10)).toEqual({
        deleted: 0,
        nextAfterId: null,
      });
      // A batch goes on from where the last stopped: the rows before it stay.
      expect(await prune(cutoff, 10, f1!.id)).toEqual({ deleted: 2, nextAfterId: null });
      expect(await prune(cutoff, 1)).toEqual({ deleted: 1, nextAfterId: s1!.id });
      expect(await prune(cutoff, 1, s1!.id)).toEqual({ deleted: 1, nextAfterId: f1!.id });
      expect(await prune(cutoff, 10, f1!.id)).toEqual({ deleted: 0, nextAfterId: null });
      const left = async () =>
        ids(
          await x.run((e) =>
            e.attemptList({
              status: null,
              target: null,
              methodName: null,
              queue: null,
              beforeId: null,
              limit: 100,
            }),
          ),
        ).reverse();
      expect(await left()).toEqual([pending!.id, running!.id, recent!.id]);
      expect(await prune(new Date(Date.now() + hour), 10)).toEqual({
        deleted: 1,
        nextAfterId: null,
      });
      expect(await left()).toEqual([pending!.id, running!.id]);
    });

    const retention: Retention = { succeededMs: hour, failedMs: day, expiredMs: null };
    const window = (afterId: string, limit: number): AttemptPruneWindowParams => ({
      afterId,
      limit,
      retention,
    });

    it('attemptPruneWindow deletes, window by window, finished attempts past their status’s retention', async () => {
      const x = await setup();
      const rows = await x.insert(Array.from({ length: 8 }, () => ({})));
      const [sOld, fYoung, pending, eOld, fOld, running, sOld2, sRecent] = rows;
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1')));
      const held = new Map(claimed.records.map((record) => [record.id, record]));
      const lease = (record: AttemptRecord | undefined) => held.get(record!.id)!;
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          outcome(lease(sOld), 'succeeded'),
          outcome(lease(fYoung), 'failed', 'E: 1'),
          outcome(lease(fOld), 'failed', 'E: 2'),
          outcome(lease(sOld2), 'succeeded'),
          outcome(lease(sRecent), 'succeeded'),
        ]),
      );
      await x.run((e) => e.attemptReleaseMany('w1', [lease(pending), lease(eOld)]));
      await x.run((e) => e.attemptSetFinalIfPending(eOld!.id, 'expired'));
      await x.age([sOld!.id, fYoung!.id, pending!.id, sOld2!.id], 2 * hour);
      await x.age([fOld!.id, running!.id], 2 * day);
      await x.age([eOld!.id], 30 * day);

      const prune = (params: AttemptPruneWindowParams) =>
        x.run((e) => e.attemptPruneWindow(params));
      expect(await prune(window('0', 3))).toEqual({
        locked: true,
        deleted: 1,
        lastId: pending!.id,
        done: false,
      });
      expect(await prune(window(pending!.id, 3))).toEqual({
        locked: true,
        deleted: 1,
        lastId: running!.id,
        done: false,
      });
      // The window ends on an attempt created too recently to be pruned: the sweep is done.
      expect(await prune(window(running!.id, 3))).toEqual({
        locked: true,
        deleted: 1,
        lastId: sRecent!.id,
        done: true,
      });
      expect(await prune(window(sRecent!.id, 3))).toEqual({
        locked: true,
        deleted: 0,
        lastId: null,
        done: true,
      });
      expect(await x.harness.countAttempts()).toBe(5);
      for (const gone of [sOld!, fOld!, sOld2!]) {
        expect(await x.run((e) => e.attemptGet(gone.id))).toBeNull();
      }
      for (const kept of [fYoung!, pending!, eOld!, running!, sRecent!]) {
        expect((await x.get(kept.id)).id).toBe(kept.id);
      }
    });

    // It holds one transaction open while another acts: SQLite's single writer cannot.
    itRequires(fixture, 'concurrentTransactions')(
      'attemptPruneWindow reads and deletes nothing while another session holds the table’s prune lock',
      async () => {
        const x = await setup();
        const [a] = await x.insert([{}]);
        const claimed = (await x.run((e) => e.attemptClaim(claimParams('w1')))).records;
        await x.run((e) => e.attemptCompleteMany('w1', [outcome(claimed[0]!, 'succeeded')]));
        await x.age([a!.id], 2 * hour);

        const blocked = await x.holdingPruneLock(() =>
          x.run((e) => e.attemptPruneWindow(window('0', 10))),
        );
        expect(blocked).toMatchObject({ locked: false, deleted: 0, lastId: null });
        expect((await x.get(a!.id)).status).toBe('succeeded');
        expect(await x.run((e) => e.attemptPruneWindow(window('0', 10)))).toEqual({
          locked: true,
          deleted: 1,
          lastId: a!.id,
          done: false,
        });
      },
    );

    it('attemptStats counts each status in each queue that has attempts, exactly', async () => {
      const x = await setup();
      expect(await x.run((e) => e.attemptStats())).toEqual([]);
      const [, , , , , expired] = await x.insert([
        { queue: 'q1' },
        { queue: 'q1' },
        { queue: 'q1' },
        { queue: 'q1' },
        { queue: 'q1', scheduledAt: new Date(Date.now() + hour) },
        { queue: 'q2' },
        { queue: 'q2' },
        { queue: 'q2' },
      ]);
      const claimed = await x.run((e) => e.attemptClaim(claimParams('w1', { queues: ['q1'] })));
      expect(claimed.records).toHaveLength(4);
      const [ok1, bad, , ok2] = claimed.records;
      await x.run((e) =>
        e.attemptCompleteMany('w1', [
          outcome(ok1!, 'succeeded'),
          outcome(bad!, 'failed', 'E: x'),
          outcome(ok2!, 'succeeded'),
        ]),
      );
      await x.run((e) => e.attemptSetFinalIfPending(expired!.id, 'expired'));

      const stats = await x.run((e) => e.attemptStats());
      const key = (row: { queue: string; status: string }) => `${row.queue}/${row.status}`;
      expect([...stats].sort((a, b) => (key(a) < key(b) ? -1 : 1))).toEqual([
        { queue: 'q1', status: 'failed', count: 1, approximate: false },
        { queue: 'q1', status: 'pending', count: 1, approximate: false },
        { queue: 'q1', status: 'running', count: 1, approximate: false },
        { queue: 'q1', status: 'succeeded', count: 2, approximate: false },
        { queue: 'q2', status: 'expired', count: 1, approximate: false },
        { queue: 'q2', status: 'pending', count: 2, approximate: false },
      ]);
    });
  });
}
