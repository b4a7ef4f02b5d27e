// Worker events: each outcome is announced with its duration; a database failure is an 'error'
// event, not a crash; encrypted arguments reach no event and no log line.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AsyncTask,
  DatabaseError,
  PermanentError,
  aesGcmEncryptor,
  defineTarget,
  type Driver,
  type Logger,
  type TaskContext,
  type WorkerEvents,
} from '../../src/index.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { recorderTarget } from '../harness/recorder-target.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

/** Pieces of the secret arguments; none may show up in an event or a log line. */
const secret = { cardNumber: '4111111111111111', holder: 'Zoë Plaintext-Canary' };
const secretPieces = ['4111111111111111', 'Plaintext-Canary', 'Zoë', 'cardNumber', 'holder'];

/** JSON that keeps what errors carry (their own properties, message and cause). */
function serialise(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item instanceof Error
      ? { ...item, name: item.name, message: item.message, stack: item.stack, cause: item.cause }
      : item,
  );
}

/** A logger that keeps every line it is given, serialised. */
function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (object: object, message?: string): void => {
      lines.push(serialise({ level, object, message }));
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The harness's driver, with an outage switch: while `down`, every statement the worker sends
 * through it fails as an unreachable database would.
 */
function switchableDriver(harness: Harness): {
  driver: Driver<unknown, unknown>;
  down: boolean;
} {
  const inner = harness.driver;
  const state = { down: false, driver: inner };
  const outage = (): Promise<never> =>
    Promise.reject(new DatabaseError('could not get a connection from the pool: injected outage'));
  state.driver = Object.assign(Object.create(inner) as Driver<unknown, unknown>, {
    run: <T>(fn: Parameters<typeof inner.run<T>>[0]) => (state.down ? outage() : inner.run(fn)),
    transaction: <T>(fn: Parameters<typeof inner.transaction<T>>[0]) =>
      state.down ? outage() : inner.transaction(fn),
  });
  return state;
}

const key = randomBytes(32).toString('base64');

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const aboveDriver = itOnNativeDrivers(
      fixture,
      `the events, listeners and loggers under test are the worker's; each driver's errors and reads run in ${coveredBy('conformance/worker-events.test.ts', "a database outage is an 'error' event, not a crash")} and ${coveredBy('conformance/worker-events.test.ts', 'attempts claimed together each have Dates of their own')}`,
    );

    aboveDriver(
      'claimed, succeeded, retried, failed and rescued fire with durations; encrypted args reach no event or log line',
      async () => {
        const logger = capturingLogger();
        const events: { name: keyof WorkerEvents; payload: unknown }[] = [];
        // The handler needs the worker built below.
        const late = {} as { rescuedIds: Set<string> };
        const target = defineTarget(
          'Payments',
          {
            charge(_args: typeof secret) {},
            flaky(_args: typeof secret) {
              throw new Error('card declined');
            },
            refuse(_args: typeof secret) {
              throw new PermanentError('card blocked');
            },
            async hang(_args: typeof secret, ctx: TaskContext) {
              if (ctx.attempt.numAttempts > 1) return;
              // Play a worker that stalled past its lease; this worker's own rescuer takes it back.
              await harness().expireLease(ctx.attempt.id);
              const id = ctx.attempt.id;
              await waitFor('the rescue', () => late.rescuedIds.has(id));
            },
          },
          { backoff: () => 0, maxAttempts: 2 },
        );
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          encryptors: { aes: aesGcmEncryptor({ keys: { k1: key }, current: 'k1' }) },
          defaults: { encryptor: 'aes' },
          logger,
          onError: () => undefined,
        });
        // No heartbeat during the test (it would extend the lease the handler expired).
        const worker = track(
          tasks.worker({
            leaseMs: 60_000,
            heartbeatMs: 30_000,
            rescueIntervalMs: 100,
            pollIntervalMs: 100,
          }),
        );
        late.rescuedIds = new Set();
        worker.on('rescued', (payload) => late.rescuedIds.add(payload.attempt.id));
        for (const name of [
          'claimed',
          'succeeded',
          'retried',
          'failed',
          'rescued',
          'error',
        ] as const) {
          worker.on(name, (payload: unknown) => events.push({ name, payload }));
        }
        await worker.start();
        const attempts = await harness().transaction((tx) =>
          tasks.enqueueMany(tx, [
            { method: target.charge, args: secret },
            { method: target.flaky, args: secret },
            { method: target.refuse, args: secret },
            { method: target.hang, args: secret },
          ]),
        );
        const [charge, flaky, refuse, hang] = attempts.map((attempt) => attempt.id);

        await waitFor(
          'every task to finish',
          async () => {
            const rows = await Promise.all(attempts.map((attempt) => tasks.get(attempt.id)));
            return rows.every((row) => row?.status === 'succeeded' || row?.status === 'failed');
          },
          20_000,
        );
        await worker.stop();

        const ofKind = (name: keyof WorkerEvents) =>
          events
            .filter((event) => event.name === name)
            .map((event) => event.payload as { attempt?: { id: string }; durationMs: number });
        const ids = (name: keyof WorkerEvents) =>
          ofKind(name).map((payload) => payload.attempt?.id);
        // A set: the stalled first run of `hang` also returns normally; its outcome is fenced off
        // (the attempt was rescued), yet the worker still announces that run (see the report).
        expect(new Set(ids('succeeded'))).toEqual(new Set([charge, hang]));
        expect(ids('retried')).toEqual([flaky]);
        expect(ids('failed').sort()).toEqual([flaky, refuse].sort());
        expect(ids('rescued')).toEqual([hang]);
        expect(ofKind('error')).toEqual([]);
        const claimed = ofKind('claimed') as unknown as { count: number; durationMs: number }[];
        expect(claimed.reduce((sum, event) => sum + event.count, 0)).toBe(6);
        for (const name of ['claimed', 'succeeded', 'retried', 'failed', 'rescued'] as const) {
          for (const payload of ofKind(name)) {
            expect(payload.durationMs, `${name}.durationMs`).toBeTypeOf('number');
            expect(payload.durationMs, `${name}.durationMs`).toBeGreaterThanOrEqual(0);
          }
        }
        expect(await tasks.get(hang!)).toMatchObject({ status: 'succeeded', numAttempts: 2 });

        const lines = [...events.map((event) => serialise(event)), ...logger.lines];
        expect(logger.lines.length).toBeGreaterThan(0);
        for (const line of lines) {
          for (const piece of secretPieces) expect(line).not.toContain(piece);
        }
      },
    );

    it("a database outage is an 'error' event, not a crash; the worker carries on when it is back", async () => {
      const logger = capturingLogger();
      const ran: string[] = [];
      const target = recorderTarget((id) => ran.push(id));
      const switchable = switchableDriver(harness());
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const working = new AsyncTask({
        driver: switchable.driver,
        table: harness().table,
        targets: [target],
        logger,
      });
      const worker = track(working.worker({ pollIntervalMs: 50, rescueIntervalMs: 50 }));
      const errors: WorkerEvents['error'][0][] = [];
      worker.on('error', (event) => errors.push(event));
      await worker.start();

      switchable.down = true;
      await waitFor('claim and rescue errors', () =>
        ['claim', 'rescue'].every((during) => errors.some((event) => event.during === during)),
      );
      expect(errors.every((event) => event.error instanceof DatabaseError)).toBe(true);
      expect(logger.lines.some((line) => line.includes('worker claim failed'))).toBe(true);

      switchable.down = false;
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.record, { n: 1 }),
      );
      await waitFor('the task to run after the outage', () => ran.includes(id), 10_000);
      await worker.stop();
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', numAttempts: 1 });
    });

    aboveDriver(
      'an async listener or logger that rejects is logged and ignored, not an unhandled rejection: the worker carries on',
      async () => {
        const unhandled: unknown[] = [];
        const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
        process.on('unhandledRejection', onUnhandled);
        try {
          const lines: string[] = [];
          const rejecting =
            (level: string) =>
            (object: object, message?: string): Promise<void> => {
              lines.push(serialise({ level, object, message }));
              return Promise.reject(new Error('log sink down'));
            };
          const logger = {
            debug: rejecting('debug'),
            info: rejecting('info'),
            warn: rejecting('warn'),
            error: rejecting('error'),
          };
          const Flaky = defineTarget(
            'Flaky',
            {
              fail(_args: { n: number }): void {
                throw new Error('handler failed');
              },
              pass(_args: { n: number }): void {},
            },
            { maxAttempts: 1 },
          );
          const tasks = await migratedTasks(harness(), { targets: [Flaky], logger });
          const worker = track(tasks.worker({ pollIntervalMs: 50 }));
          let heard = 0;
          const tracker = async (): Promise<void> => {
            heard += 1;
            await Promise.resolve();
            throw new Error('error tracker unreachable');
          };
          // An async listener is what is tested: users write them, whatever the lint rule says.
          // eslint-disable-next-line @typescript-eslint/no-misused-promises
          worker.on('failed', tracker);
          // eslint-disable-next-line @typescript-eslint/no-misused-promises
          worker.on('succeeded', tracker);
          await worker.start();

          const failing = await harness().transaction((tx) =>
            tasks.enqueue(tx, Flaky.fail, { n: 1 }),
          );
          await waitFor('the failure to be recorded', async () => {
            return (await tasks.get(failing.id))?.status === 'failed';
          });
          const passing = await harness().transaction((tx) =>
            tasks.enqueue(tx, Flaky.pass, { n: 2 }),
          );
          await waitFor('the next task to succeed', async () => {
            return (await tasks.get(passing.id))?.status === 'succeeded';
          });
          await waitFor('both listeners to have run', () => heard === 2);
          await worker.stop();
          // Rejections surface a turn later: give them one.
          await new Promise((resolve) => setTimeout(resolve, 50));
          expect(unhandled).toEqual([]);
          expect(lines.some((line) => line.includes("'failed' event rejected"))).toBe(true);
          expect(lines.some((line) => line.includes("'succeeded' event rejected"))).toBe(true);
        } finally {
          process.off('unhandledRejection', onUnhandled);
        }
      },
    );

    it("attempts claimed together each have Dates of their own: a handler changing its attempt's changes no other", async () => {
      const seen: { createdAt: number; scheduledAt: number }[] = [];
      const target = defineTarget('Clock', {
        touch(_args: { n: number }, ctx: TaskContext) {
          const { attempt } = ctx;
          seen.push({
            createdAt: attempt.createdAt.getTime(),
            scheduledAt: attempt.scheduledAt.getTime(),
          });
          attempt.createdAt.setTime(0);
          attempt.scheduledAt.setTime(0);
          attempt.updatedAt.setTime(0);
        },
      });
      const tasks = await migratedTasks(harness(), { targets: [target] });
      // One transaction: one created_at and scheduled_at for all, so one claim takes them together.
      const enqueued = await harness().transaction((tx) =>
        tasks.enqueueMany(
          tx,
          [1, 2, 3, 4].map((n) => ({ method: target.touch, args: { n } })),
        ),
      );
      const succeeded: { createdAt: number; updatedAt: number }[] = [];
      const worker = track(tasks.worker({ concurrency: 1, pollIntervalMs: 50 }));
      worker.on('succeeded', ({ attempt }) =>
        succeeded.push({
          createdAt: attempt.createdAt.getTime(),
          updatedAt: attempt.updatedAt.getTime(),
        }),
      );
      await worker.start();
      await waitFor('every task to run', () => succeeded.length === 4);
      await worker.stop();
      const createdAt = enqueued[0]!.createdAt.getTime();
      expect(seen).toEqual(
        enqueued.map((a) => ({ createdAt, scheduledAt: a.scheduledAt.getTime() })),
      );
      for (const attempt of succeeded) {
        expect(attempt.createdAt).toBe(createdAt);
        expect(attempt.updatedAt).toBeGreaterThan(0);
      }
    });
  });
}
