// A run's time limit when its handler returns something to wait on. The worker awaits the
// handler's promise as it is and keeps the limit with a deadline beside it, so: a run that
// settles after its limit is reported once, as timed out, and its late settlement changes
// nothing; a thenable that is not a promise is waited on and bounded the same way; a value whose
// `then` cannot even be read is the handler's error (its onError hook, its backoff), not a failure
// of the worker's; and with telemetry, whose run span ends with the run, a run past its limit
// ends it as failed. The behaviour is the worker's, not the driver's: one driver per dialect.
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineTarget, type Worker } from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { enableAsyncContext, OtelRecorder } from '../harness/otel.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';

const baseFixtures = ['postgres/pg', 'mysql/mysql2', 'sqlite/better-sqlite3'];

beforeAll(() => enableAsyncContext());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every outcome event a worker emits, as `<event> <attempt id>`. */
function outcomes(worker: Worker): string[] {
  const seen: string[] = [];
  worker.on('succeeded', ({ attempt }) => seen.push(`succeeded ${attempt.id}`));
  worker.on('retried', ({ attempt }) => seen.push(`retried ${attempt.id}`));
  worker.on('failed', ({ attempt }) => seen.push(`failed ${attempt.id}`));
  worker.on('cancelled', ({ attempt }) => seen.push(`cancelled ${attempt.id}`));
  return seen;
}

for (const fixture of fixtures) {
  if (!baseFixtures.includes(fixture.label)) continue;
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();

    it('a run that settles after its time limit is reported once, as timed out; its late settlement changes nothing', async () => {
      let settledLate = 0;
      const Late = defineTarget(
        'Late',
        {
          async resolves(_args: null) {
            await sleep(600);
            settledLate += 1;
          },
          async rejects(_args: null) {
            await sleep(600);
            settledLate += 1;
            throw new Error('too late to matter');
          },
        },
        { methods: { resolves: { timeoutMs: 150 }, rejects: { timeoutMs: 150 } } },
      );
      const hookCalls: string[] = [];
      const tasks = await migratedTasks(harness(), {
        targets: [Late],
        onError: (error) => void hookCalls.push(error instanceof Error ? error.name : '?'),
      });
      const ids = await harness().transaction(async (tx) => [
        (await tasks.enqueue(tx, Late.resolves, null, { maxAttempts: 1 })).id,
        (await tasks.enqueue(tx, Late.rejects, null, { maxAttempts: 1 })).id,
      ]);
      const worker = track(tasks.worker({ pollIntervalMs: 50 }));
      const seen = outcomes(worker);
      await worker.start();
      await waitFor('both runs to fail for good at their limit', async () => {
        const stored = await Promise.all(ids.map((id) => tasks.get(id)));
        return stored.every((attempt) => attempt?.status === 'failed');
      });
      // Well past the handlers' own ends.
      await waitFor('both handlers to settle', () => settledLate === 2);
      await sleep(200);
      for (const id of ids) {
        expect(await tasks.get(id)).toMatchObject({ status: 'failed', numAttempts: 1 });
        expect((await tasks.get(id))?.lastError).toMatch(/^TaskTimeoutError: .*150 ms/);
      }
      expect(seen.sort()).toEqual(ids.map((id) => `failed ${id}`).sort());
      expect(hookCalls).toEqual(['TaskTimeoutError', 'TaskTimeoutError']);
      expect(worker.running).toBe(0);
      await worker.stop();
    });

    it('a thenable that is not a promise is waited on, and bounded by the time limit', async () => {
      let calledBack = 0;
      const Thenables = defineTarget(
        'Thenables',
        {
          callsBack(_args: null) {
            return {
              then(resolve: (value: unknown) => void) {
                setTimeout(() => {
                  calledBack += 1;
                  resolve('done');
                }, 20);
              },
            };
          },
          neverCallsBack(_args: null) {
            return { then: () => undefined };
          },
        },
        { backoff: () => 0, methods: { neverCallsBack: { timeoutMs: 150 } } },
      );
      const tasks = await migratedTasks(harness(), { targets: [Thenables] });
      const [good, stuck] = await harness().transaction(async (tx) => [
        (await tasks.enqueue(tx, Thenables.callsBack, null)).id,
        (await tasks.enqueue(tx, Thenables.neverCallsBack, null, { maxAttempts: 1 })).id,
      ]);
      expect(await tasks.runDue()).toMatchObject({ claimed: 2, succeeded: 1, failed: 1 });
      expect(calledBack).toBe(1);
      expect(await tasks.get(good)).toMatchObject({ status: 'succeeded' });
      expect((await tasks.get(stuck))?.lastError).toMatch(/^TaskTimeoutError: .*150 ms/);
    });

    it("a value whose `then` cannot be read is the handler's error: its onError hook runs and its backoff applies", async () => {
      const Unreadable = defineTarget(
        'Unreadable',
        {
          returnsTrap(_args: null) {
            return {
              get then(): never {
                throw new Error('then is a trap');
              },
            };
          },
        },
        { backoff: () => 60_000 },
      );
      const hookCalls: string[] = [];
      const tasks = await migratedTasks(harness(), {
        targets: [Unreadable],
        onError: (error) => void hookCalls.push(error instanceof Error ? error.message : '?'),
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Unreadable.returnsTrap, null),
      );
      const before = Date.now();
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, retried: 1 });
      const stored = await tasks.get(id);
      expect(stored?.lastError).toMatch(/then is a trap/);
      // The target's backoff (a minute), not a worker's retry of a run that failed on its own.
      expect(stored!.scheduledAt.getTime() - before).toBeGreaterThan(50_000);
      expect(hookCalls).toEqual(['then is a trap']);
    });

    it('with telemetry, a run past its limit ends its span as failed, and the slot is freed', async () => {
      const otel = new OtelRecorder();
      const Stuck = defineTarget(
        'Stuck',
        { hang: (_args: null) => new Promise<never>(() => undefined) },
        { methods: { hang: { timeoutMs: 150 } } },
      );
      const tasks = await migratedTasks(harness(), {
        targets: [Stuck],
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
          queueDepthCacheMs: 0,
        }),
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, Stuck.hang, null, { maxAttempts: 1 }),
      );
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, failed: 1 });
      expect((await tasks.get(id))?.lastError).toMatch(/^TaskTimeoutError: .*150 ms/);
      const runs = otel.spans().filter((span) => span.kind === SpanKind.CONSUMER);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({
        status: { code: SpanStatusCode.ERROR },
        attributes: { 'async_task.outcome': 'failed' },
      });
    });
  });
}
