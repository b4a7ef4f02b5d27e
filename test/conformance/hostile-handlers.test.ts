// User code that misbehaves cannot stop a worker or a runDue pass, nor leave an attempt
// `running`: a thrown value that cannot describe itself, a backoff, logger or event listener that
// throws, a handler or onError hook that never settles. And an encrypted task's error message,
// which may quote its arguments, reaches the table only encrypted, and logs and events only as a
// class name. The behaviour is the worker's, not the driver's: one driver per dialect.
import { describe, expect, it } from 'vitest';
import {
  aesGcmEncryptor,
  ConfigError,
  defineTarget,
  type Logger,
  type TaskContext,
} from '../../src/index.js';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { fixtures, itOnlyOn } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { quotedTable, rawQuery } from '../harness/schema-catalog.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { quietLogger } from '../harness/quiet-logger.js';
import { waitFor } from '../harness/wait-for.js';

const baseFixtures = ['postgres/pg', 'mysql/mysql2', 'sqlite/better-sqlite3'];
const key = Buffer.alloc(32, 7);

/** A Proxy every trap of which throws: even `instanceof` and `typeof x.then` blow up. */
function hostileProxy(): object {
  const trap = (): never => {
    throw new Error('trap');
  };
  return new Proxy(
    {},
    {
      get: trap,
      getPrototypeOf: trap,
      has: trap,
      ownKeys: trap,
      getOwnPropertyDescriptor: trap,
    },
  );
}

/** A logger that throws on every call, recording what it was given first. */
function throwingLogger(lines: string[]): Logger {
  const log = (object: object, message?: string): void => {
    lines.push(`${message ?? ''} ${JSON.stringify(object)}`);
    throw new Error('logger down');
  };
  return { debug: log, info: log, warn: log, error: log };
}

for (const fixture of fixtures) {
  if (!baseFixtures.includes(fixture.label)) continue;
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('a thrown value that cannot describe itself becomes a retried attempt, in runDue and the worker', async () => {
      const thrown = [
        () => Object.assign(Object.create(null) as object, { n: 1n }),
        hostileProxy,
        () => {
          const { proxy, revoke } = Proxy.revocable({}, {});
          revoke();
          return proxy;
        },
        () => Object.assign(new Error('x'), { name: 1n }),
        () => 1n,
        () => Symbol('s'),
      ];
      const Hostile = defineTarget(
        'Hostile',
        {
          throws(args: { i: number }) {
            // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point of the test
            throw thrown[args.i]!();
          },
        },
        { backoff: () => 60_000 },
      );
      const tasks = await migratedTasks(harness(), { targets: [Hostile] });
      const ids = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          thrown.map((_, i) => ({ method: Hostile.throws, args: { i } })),
        ),
      );
      expect(await tasks.runDue()).toMatchObject({
        claimed: thrown.length,
        retried: thrown.length,
      });
      const after = await Promise.all(ids.map((a) => tasks.get(a.id)));
      expect(after.map((a) => a?.status)).toEqual(thrown.map(() => 'pending'));
      expect(after.map((a) => a?.lastError)).toEqual([
        'NonError: an object',
        'NonError: an object',
        'NonError: an object',
        'Error: x',
        'NonError: a bigint',
        'NonError: a symbol',
      ]);

      // The same through a worker: it keeps running and leaves nothing `running`.
      for (const id of ids) await harness().makeDue(id.id);
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      let retried = 0;
      worker.on('retried', () => (retried += 1));
      await worker.start();
      await waitFor('every attempt retried by the worker', () => retried === thrown.length);
      expect((await tasks.list({ status: 'running' })).length).toBe(0);
      await worker.stop();
    });

    it('an error text no database could store (cut inside an emoji, NUL, a lone surrogate) is stored mended, and holds nothing up', async () => {
      // Before, the outcome write failed on PostgreSQL and MySQL (the JSON of the batch refused)
      // and the worker retried it forever, with every outcome behind it: runDue never returned.
      const texts = [
        { name: 'Error', message: '😀'.repeat(5000) }, // cut at 4,000 code units: inside a pair
        { name: 'Error', message: `a${'😀'.repeat(5000)}` }, // cut between pairs
        { name: 'Error', message: 'before\u0000after' },
        { name: 'Error', message: 'half \ud83d of an emoji' },
        { name: `E${'😀'.repeat(150)}`, message: 'a long name cut inside an emoji' },
      ];
      const Loud = defineTarget(
        'Loud',
        {
          fail(args: { i: number }) {
            throw Object.assign(new Error(texts[args.i]!.message), { name: texts[args.i]!.name });
          },
          fine(_args: { i: number }) {},
        },
        { maxAttempts: 1 },
      );
      const tasks = await migratedTasks(harness(), { targets: [Loud] });
      const failing = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          texts.map((_, i) => ({ method: Loud.fail, args: { i } })),
        ),
      );
      expect(await tasks.runDue()).toMatchObject({ claimed: texts.length, failed: texts.length });
      const stored = await Promise.all(failing.map((a) => tasks.get(a.id)));
      expect(stored.map((a) => a?.status)).toEqual(texts.map(() => 'failed'));
      for (const attempt of stored) {
        const text = attempt!.lastError!;
        expect(/\p{Surrogate}/u.test(text)).toBe(false);
        expect(text).not.toContain('\u0000');
        expect(text.length).toBeLessThanOrEqual(4000 + '… (truncated)'.length);
      }
      expect(stored[0]!.lastError).toMatch(/^Error: (😀)+… \(truncated\)$/);
      expect(stored[2]!.lastError).toBe('Error: before\ufffdafter');
      expect(stored[3]!.lastError).toBe('Error: half \ufffd of an emoji');
      expect(stored[4]!.lastError).toMatch(/^E(😀)+: a long name cut inside an emoji$/);
      expect(stored[0]!.runs.at(-1)?.error).toBe(stored[0]!.lastError);

      // Through a worker, with tasks enqueued behind them: every outcome is written.
      const again = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          ...texts.map((_, i) => ({ method: Loud.fail, args: { i } })),
          ...Array.from({ length: 20 }, (_, i) => ({ method: Loud.fine, args: { i } })),
        ]),
      );
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      await worker.start();
      await waitFor('every outcome written', async () => {
        const statuses = await Promise.all(again.map(async (a) => (await tasks.get(a.id))?.status));
        return statuses.every((status) => status === 'failed' || status === 'succeeded');
      });
      // The database shows the last write before the worker has heard back from it.
      await waitFor('the worker to hear every write back', () => worker.unwrittenOutcomes === 0);
      await worker.stop();
    });

    it("an outcome the database refuses (a trigger of the user's) holds nothing up: the rest lands, it is stored without its message", async () => {
      // Before, the worker retried the refused batch forever, with every outcome behind it.
      const Picky = defineTarget(
        'Picky',
        {
          work(args: { i: number }) {
            if (args.i % 10 === 3) throw new Error(`refuse me ${args.i}`);
          },
        },
        { maxAttempts: 1 },
      );
      const tasks = await migratedTasks(harness(), { targets: [Picky] });
      const table = quotedTable(harness(), fixture.dialect);
      const trigger = table.replace(/async_task_attempts(["`])$/, 'async_task_refuse$1');
      const statements = {
        postgres: [
          `CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF NEW.last_error LIKE '%refuse me%' THEN RAISE EXCEPTION 'refused'; END IF;
             RETURN NEW;
           END $$`,
          `CREATE TRIGGER refuse BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${trigger}()`,
        ],
        mysql: [
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON ${table} FOR EACH ROW
           BEGIN
             IF NEW.last_error LIKE '%refuse me%' THEN
               SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused';
             END IF;
           END`,
        ],
        sqlite: [
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON ${table}
           WHEN NEW.last_error LIKE '%refuse me%'
           BEGIN SELECT RAISE(ABORT, 'refused'); END`,
        ],
      }[fixture.dialect];
      for (const statement of statements) await rawQuery(harness(), statement);
      const attempts = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 40 }, (_, i) => ({ method: Picky.work, args: { i } })),
        ),
      );
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      await worker.start();
      await waitFor(
        'every outcome written',
        async () =>
          (await tasks.list({ status: 'running' })).length === 0 &&
          (await tasks.list({ status: 'pending' })).length === 0,
        30_000,
      );
      const stored = await Promise.all(attempts.map((a) => tasks.get(a.id)));
      stored.forEach((attempt, i) => {
        if (i % 10 === 3) {
          expect(attempt).toMatchObject({
            status: 'failed',
            lastError: 'Error: [message not stored: the database refused it]',
          });
        } else {
          expect(attempt?.status).toBe('succeeded');
        }
      });
      await waitFor('the worker to hear every write back', () => worker.unwrittenOutcomes === 0);
      await worker.stop();
    });

    /**
     * A trigger that refuses the failure's write while `flag` has a row, with `error` (SQL raising
     * it, per dialect); the flag is emptied by the test.
     */
    async function refuseFailuresWhileFlagged(
      raise: Record<'postgres' | 'mysql', string>,
      refused = "NEW.last_error LIKE '%fail once%'",
    ) {
      const table = quotedTable(harness(), fixture.dialect);
      const named = (name: string) => table.replace(/async_task_attempts(["`])$/, `${name}$1`);
      const [flag, trigger] = [named('async_task_flag'), named('async_task_refuse')];
      const statements = {
        postgres: [
          `CREATE TABLE ${flag} (n int)`,
          `CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             IF ${refused} AND EXISTS (SELECT 1 FROM ${flag}) THEN
               ${raise.postgres};
             END IF;
             RETURN NEW;
           END $$`,
          `CREATE TRIGGER refuse BEFORE UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${trigger}()`,
        ],
        mysql: [
          `CREATE TABLE ${flag} (n int)`,
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON ${table} FOR EACH ROW
           BEGIN
             IF ${refused} AND EXISTS (SELECT 1 FROM ${flag}) THEN
               ${raise.mysql};
             END IF;
           END`,
        ],
        sqlite: [
          `CREATE TABLE ${flag} (n int)`,
          `CREATE TRIGGER ${trigger} BEFORE UPDATE ON ${table}
           WHEN ${refused} AND EXISTS (SELECT 1 FROM ${flag})
           BEGIN SELECT RAISE(ABORT, 'refused'); END`,
        ],
      }[fixture.dialect];
      for (const statement of statements) await rawQuery(harness(), statement);
      await rawQuery(harness(), `INSERT INTO ${flag} (n) VALUES (1)`);
      return () => rawQuery(harness(), `DELETE FROM ${flag}`);
    }

    function mixedTarget() {
      return defineTarget(
        'Mixed',
        {
          work(args: { fail: boolean }) {
            if (args.fail) throw new Error('fail once: card declined');
          },
        },
        { maxAttempts: 1 },
      );
    }

    // Successes and other outcomes are two statements. Retried together after the second failed,
    // the successes (already written) were reported lost: runDue counted { succeeded: 0, lost: 1 },
    // the worker warned they would run again and emitted no `succeeded`.
    it("successes written before another outcome's write failed are reported as written", async () => {
      const Mixed = mixedTarget();
      const warnings: string[] = [];
      let unflagged: Promise<unknown> | undefined;
      const tasks = await migratedTasks(harness(), {
        targets: [Mixed],
        logger: quietLogger({
          warn: (_object, message) => void warnings.push(message ?? ''),
          error: () => void (unflagged ??= unflag()),
        }),
      });
      const unflag = await refuseFailuresWhileFlagged({
        postgres: "RAISE EXCEPTION 'refused'",
        mysql: "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
      });
      const [ok, bad] = await harness().transaction(async (tx) => [
        await tasks.enqueue(tx, Mixed.work, { fail: false }),
        await tasks.enqueue(tx, Mixed.work, { fail: true }),
      ]);
      expect(await tasks.runDue()).toMatchObject({ claimed: 2, succeeded: 1, failed: 1, lost: 0 });
      expect(unflagged).toBeDefined();
      expect(warnings).toEqual([]);
      expect(await tasks.get(ok.id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
      expect(await tasks.get(bad.id)).toMatchObject({
        status: 'failed',
        lastError: 'Error: fail once: card declined',
      });
    });

    // A statement timeout under a second, met twice, counted as the database refusing the
    // outcome: it was stored without its message.
    itOnlyOn(
      fixture,
      ['postgres/pg', 'mysql/mysql2'],
      'SQLite has no statement timeout a trigger can raise',
    )(
      'an outcome write that times out fast, again and again, keeps its message',
      async () => {
        const Mixed = mixedTarget();
        let failures = 0;
        const tasks = await migratedTasks(harness(), {
          targets: [Mixed],
          logger: quietLogger({
            error: (_object, message) => {
              if (message?.startsWith('could not record outcomes') && ++failures === 4)
                void unflag();
            },
          }),
        });
        const unflag = await refuseFailuresWhileFlagged({
          postgres:
            "RAISE EXCEPTION 'canceling statement due to statement timeout' USING ERRCODE = 'query_canceled'",
          mysql:
            "SIGNAL SQLSTATE '70100' SET MYSQL_ERRNO = 1317, MESSAGE_TEXT = 'Query execution was interrupted'",
        });
        const { id } = await harness().transaction((tx) =>
          tasks.enqueue(tx, Mixed.work, { fail: true }),
        );
        expect(await tasks.runDue()).toMatchObject({ claimed: 1, failed: 1 });
        expect(failures).toBeGreaterThanOrEqual(4);
        expect(await tasks.get(id)).toMatchObject({
          status: 'failed',
          lastError: 'Error: fail once: card declined',
        });
      },
      30_000,
    );

    // Its retries' backoff (up to 5 s) was waited out first: stop() took up to 5 s past it.
    // With limits, a claim is a statement per limited queue, each committed on its own. When a
    // later one failed, the attempts the earlier ones took were dropped: never run, never handed
    // back, `running` until their leases ran out (each rescue counting a run). Here queue b's
    // claim always fails, so queue a's attempt was only ever taken by a claim that then failed.
    it('attempts a claim took before one of its statements failed are run, in the worker and runDue', async () => {
      const Split = defineTarget('Split', { work(_args: { n: number }) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Split],
        queues: { a: { concurrency: 5 }, b: { concurrency: 5 } },
        logger: quietLogger(),
      });
      const unflag = await refuseFailuresWhileFlagged(
        {
          postgres: "RAISE EXCEPTION 'refused: claim of b'",
          mysql: "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused: claim of b'",
        },
        "NEW.queue = 'b' AND NEW.status = 'running'",
      );
      const enqueue = (queue: string, n: number) =>
        harness().transaction((tx) => tasks.enqueue(tx, Split.work, { n }, { queue }));
      const inB = await enqueue('b', 0);

      // runDue claims the queues in a random order: a first (taken, then b fails) or b first.
      const first = await enqueue('a', 1);
      for (let pass = 0; pass < 8; pass += 1) {
        await expect(tasks.runDue()).rejects.toThrow(/refused/);
        expect((await tasks.get(first.id))?.status).not.toBe('running');
      }
      expect(await tasks.get(first.id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });

      const second = await enqueue('a', 2);
      const worker = track(tasks.worker({ pollIntervalMs: 100, leaseMs: 60_000 }));
      const during: string[] = [];
      worker.on('error', (event) => during.push(event.during));
      await worker.start();
      await waitFor(
        "queue a's attempt to succeed beside b's failing claims",
        async () => (await tasks.get(second.id))?.status === 'succeeded',
        10_000,
      );
      expect(await tasks.get(second.id)).toMatchObject({ numAttempts: 1 });
      expect(during).toContain('claim');
      await worker.stop();

      await unflag();
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(await tasks.get(inB.id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    });

    it('stop({ timeoutMs }) resolves within a second of its limit while every outcome write fails', async () => {
      const Mixed = mixedTarget();
      let failures = 0;
      const tasks = await migratedTasks(harness(), {
        targets: [Mixed],
        logger: quietLogger({ error: () => void (failures += 1) }),
      });
      // Every write of a failure, its message left out too.
      await refuseFailuresWhileFlagged(
        {
          postgres: "RAISE EXCEPTION 'refused'",
          mysql: "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'",
        },
        "NEW.status = 'failed'",
      );
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Mixed.work, { fail: true }),
      );
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      await worker.start();
      // Long enough for the retries' backoff to reach its longest wait.
      await new Promise((resolve) => setTimeout(resolve, 7000));
      expect(failures).toBeGreaterThan(5);
      const stopping = performance.now();
      await worker.stop({ timeoutMs: 500 });
      expect(performance.now() - stopping).toBeLessThan(2000);
      expect(await tasks.get(id)).toMatchObject({ status: 'running' });
    }, 20_000);

    // Every statement under way was awaited: a lock held on the table (or a network gone
    // silent) kept stop() waiting as long, whatever its timeoutMs.
    itOnlyOn(
      fixture,
      ['postgres/pg'],
      'the lock is PostgreSQL’s LOCK TABLE; the deadline is the worker’s, the same on every dialect',
    )(
      'stop({ timeoutMs }) resolves by its deadline while its statements wait on a lock',
      async () => {
        const Slow = defineTarget('Slow', {
          async work(_args: { n: number }) {
            await new Promise((resolve) => setTimeout(resolve, 100));
          },
        });
        const warnings: string[] = [];
        const tasks = await migratedTasks(harness(), {
          targets: [Slow],
          logger: quietLogger({ warn: (_o, m) => void warnings.push(m ?? '') }),
        });
        await harness().transaction((tx) =>
          tasks.enqueueMany(
            tx,
            Array.from({ length: 40 }, (_, n) => ({ method: Slow.work, args: { n } })),
          ),
        );
        const worker = track(tasks.worker({ concurrency: 4, pollIntervalMs: 50 }));
        await worker.start();
        await waitFor(
          'a first outcome written',
          async () => (await tasks.list({ status: 'succeeded' })).length > 0,
        );
        let release = (): void => undefined;
        const released = new Promise<void>((resolve) => (release = resolve));
        let locked = (): void => undefined;
        const lockHeld = new Promise<void>((resolve) => (locked = resolve));
        const holding = harness().transaction(async (tx) => {
          await (tx as { query(text: string): Promise<unknown> }).query(
            `LOCK TABLE ${quotedTable(harness(), 'postgres')} IN ACCESS EXCLUSIVE MODE`,
          );
          locked();
          await released;
        });
        await lockHeld;
        // Outcomes and claims now wait on the lock.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const stopping = performance.now();
        await worker.stop({ timeoutMs: 300 });
        const took = performance.now() - stopping;
        release();
        await holding;
        expect(took).toBeLessThan(3500);
        expect(warnings).toContain(
          'worker stop: statements still wait past the time limit; they end in the background',
        );
      },
      30_000,
    );

    it('a progress message no database could store is stored mended', async () => {
      let reported = false;
      const Chatty = defineTarget('Chatty', {
        async work(_args: null, ctx: TaskContext) {
          ctx.progress(0.5, `half \ud83d and NUL \u0000 then ${'😀'.repeat(300)}`);
          reported = true;
          await new Promise((resolve) => setTimeout(resolve, 50));
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [Chatty] });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, Chatty.work, null));
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(reported).toBe(true);
      const attempt = await tasks.get(id);
      expect(attempt?.progressMessage).toMatch(/^half \ufffd and NUL \ufffd then (😀)+$/);
      expect(/\p{Surrogate}/u.test(attempt?.progressMessage ?? '')).toBe(false);
    });

    it('a backoff that throws falls back to the default backoff; the attempt is retried, not stuck', async () => {
      const Flaky = defineTarget(
        'Flaky',
        {
          work(_args: null) {
            throw new Error('nope');
          },
        },
        {
          backoff: () => {
            throw new Error('backoff broke');
          },
        },
      );
      const tasks = await migratedTasks(harness(), { targets: [Flaky] });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, Flaky.work, null));
      const before = Date.now();
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1 });
      const attempt = await tasks.get(id);
      expect(attempt).toMatchObject({
        status: 'pending',
        numAttempts: 1,
        lastError: 'Error: nope',
      });
      // The default backoff's first delay is about a second.
      expect(attempt!.scheduledAt.getTime()).toBeGreaterThan(before + 500);
    });

    it('a logger and event listeners that throw do not stop the worker', async () => {
      const lines: string[] = [];
      let runs = 0;
      const Mixed = defineTarget(
        'Mixed',
        {
          work(args: { fail: boolean }) {
            runs += 1;
            if (args.fail) throw new Error('planned');
          },
        },
        { backoff: () => 60_000 },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [Mixed],
        logger: throwingLogger(lines),
        onError: () => {
          throw new Error('hook broke');
        },
      });
      await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          Array.from({ length: 20 }, (_, i) => ({
            method: Mixed.work,
            args: { fail: i % 2 === 0 },
          })),
        ),
      );
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      const throwing = (): never => {
        throw new Error('listener broke');
      };
      worker.on('succeeded', throwing);
      worker.on('retried', throwing);
      worker.on('claimed', throwing);
      await worker.start();
      await waitFor('every task to run and its outcome to be written', async () => {
        const open = await tasks.list({ status: 'running' });
        return runs === 20 && open.length === 0 && worker.unwrittenOutcomes === 0;
      });
      const stats = await tasks.stats();
      expect(Object.fromEntries(stats.map((s) => [s.status, s.count]))).toEqual({
        pending: 10,
        succeeded: 10,
      });
      expect(lines.length).toBeGreaterThan(0);
      await worker.stop();
    });

    it('a handler that never settles times out: its signal aborts, the slot is freed, and it fails after maxAttempts', async () => {
      let aborted = 0;
      let ran = 0;
      const Stuck = defineTarget(
        'Stuck',
        {
          hang(_args: null, ctx: TaskContext) {
            ctx.signal.addEventListener('abort', () => (aborted += 1));
            return new Promise<never>(() => undefined);
          },
          quick(_args: null) {
            ran += 1;
          },
        },
        { backoff: () => 0, methods: { hang: { timeoutMs: 300 } } },
      );
      const hookCalls: string[] = [];
      const tasks = await migratedTasks(harness(), {
        targets: [Stuck],
        // The hook hangs too: it is bounded by the same limit.
        onError: (error) => {
          hookCalls.push(error instanceof Error ? error.name : 'non-error');
          return new Promise<never>(() => undefined);
        },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Stuck.hang, null, { maxAttempts: 2 }),
      );
      // runDue resolves although the handler never does.
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1 });
      expect(aborted).toBe(1);
      expect(await tasks.get(id)).toMatchObject({ status: 'pending', numAttempts: 1 });
      expect((await tasks.get(id))?.lastError).toMatch(/^TaskTimeoutError: .*300 ms/);

      // A worker with one slot: the hung run frees its slot, the quick task behind it runs, and
      // the hung task's second attempt is its last.
      await harness().transaction((tx) => tasks.enqueue(tx, Stuck.quick, null));
      const worker = track(tasks.worker({ concurrency: 1, pollIntervalMs: 50 }));
      await worker.start();
      await waitFor('the hung task to fail for good and the quick one to run', async () => {
        return ran === 1 && (await tasks.get(id))?.status === 'failed';
      });
      expect(await tasks.get(id)).toMatchObject({ status: 'failed', numAttempts: 2 });
      expect(hookCalls).toEqual(['TaskTimeoutError', 'TaskTimeoutError']);
      expect(aborted).toBe(2);
      await worker.stop();
    });

    it('an encrypted task’s error message is stored encrypted; logs and events carry its class only', async () => {
      const logged: string[] = [];
      const logger: Logger = {
        debug: () => undefined,
        info: (object, message) => logged.push(`${message} ${JSON.stringify(object)}`),
        warn: (object, message) => logged.push(`${message} ${JSON.stringify(object)}`),
        error: (object, message) => logged.push(`${message} ${JSON.stringify(object)}`),
      };
      const Payments = defineTarget(
        'Payments',
        {
          charge(args: { card: string }) {
            // A code that reads as a constant reaches the event (listeners test it); one that
            // may be data does not.
            const code = args.card.endsWith('SECRET') ? 'E_DECLINED' : `card ${args.card}`;
            throw Object.assign(new Error(`declined ${JSON.stringify(args)}`), { code });
          },
        },
        { backoff: () => 0 },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [Payments],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1: key }, current: 'k1' }) },
        defaults: { encryptor: 'aes' },
        logger,
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Payments.charge, { card: '4111-1111-SECRET' }),
      );
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      const events: unknown[] = [];
      worker.on('retried', ({ error }) => events.push(error));
      await worker.start();
      await waitFor('one retried event', () => events.length >= 1);
      await worker.stop();

      const runtime = tasks.runtime;
      const raw: AttemptRecord | null = await runtime.driver.run((connection) =>
        runtime.executor(connection).attemptGet(id),
      );
      expect(raw?.lastError).toMatch(/^Error: \[encrypted\] /);
      expect(raw?.lastError).not.toContain('SECRET');
      expect((await tasks.get(id))?.lastError).toBe('Error: [encrypted]');
      expect((await tasks.list())[0]?.lastError).toBe('Error: [encrypted]');
      expect(await tasks.decryptLastError(id)).toBe('Error: declined {"card":"4111-1111-SECRET"}');
      const event = events[0] as Error;
      expect(event.name).toBe('Error');
      expect(event.message).not.toContain('SECRET');
      expect(event).toMatchObject({ code: 'E_DECLINED' });
      expect(logged.join('\n')).not.toContain('SECRET');
      expect(logged.some((line) => line.includes(id))).toBe(true);
    });

    it("with encryptedTaskErrors: 'class', only the error's class is stored", async () => {
      const Payments = defineTarget(
        'Payments',
        {
          charge(args: { card: string }) {
            throw new TypeError(`declined ${args.card}`);
          },
        },
        { backoff: () => 60_000 },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [Payments],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1: key }, current: 'k1' }) },
        defaults: { encryptor: 'aes' },
        encryptedTaskErrors: 'class',
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Payments.charge, { card: 'SECRET' }),
      );
      expect(await tasks.runDue()).toMatchObject({ retried: 1 });
      expect(await tasks.decryptLastError(id)).toBe('TypeError: [message withheld]');
      await expect(() =>
        migratedTasks(harness(), {
          targets: [Payments],
          // @ts-expect-error -- not one of the two modes
          encryptedTaskErrors: 'plain',
        }),
      ).rejects.toBeInstanceOf(ConfigError);
    });

    it('refuses a worker id that the lease column cannot hold or the CLI cannot print', async () => {
      const tasks = await migratedTasks(harness(), {
        targets: [defineTarget('T', { m(_args: null) {} })],
      });
      for (const id of ['x'.repeat(201), '', ' leading', 'tab\there', 'é']) {
        expect(() => tasks.worker({ id }), JSON.stringify(id)).toThrow(ConfigError);
      }
      expect(tasks.worker({ id: 'x'.repeat(200) }).id).toHaveLength(200);
    });
  });
}
