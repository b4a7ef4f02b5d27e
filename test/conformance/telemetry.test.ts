// async-task/opentelemetry on each dialect (its native client: the trace context is the dialect's
// SQL and row mapping, which every driver of a dialect shares): the producer span's context is
// stored with the attempt and read back by get and by the claim, so the run's span joins the
// enqueue's trace; attributes follow the messaging conventions and never carry arguments.
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { aesGcmEncryptor, defineTarget, type TaskContext } from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import { mysqlFixture } from '../harness/mysql.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { enableAsyncContext, OtelRecorder, total, type SpanRecord } from '../harness/otel.js';
import { postgresFixture } from '../harness/postgres.js';
import { sqliteFixture } from '../harness/sqlite.js';
import { useHarness } from '../harness/use-harness.js';

const secret = 'card-4242-4242-4242-4242';

beforeAll(() => enableAsyncContext());

/** No attribute, event attribute or status of any span mentions `text`. */
function mentions(spans: readonly SpanRecord[], text: string): string[] {
  return spans.flatMap((span) =>
    JSON.stringify([span.attributes, span.events, span.status]).includes(text) ? [span.name] : [],
  );
}

for (const fixture of [postgresFixture, sqliteFixture, mysqlFixture]) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('links the run to the enqueue: one trace, stored context as parent and link', async () => {
      const otel = new OtelRecorder();
      const Billing = defineTarget('Billing', {
        async charge(_args: { card: string }, ctx: TaskContext) {
          await ctx.transaction(async () => {});
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [Billing],
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
        }),
      });
      const request = otel.tracerProvider.getTracer('app').startSpan('POST /orders');
      const attempt = await context.with(trace.setSpan(context.active(), request), () =>
        harness().transaction((tx) =>
          tasks.enqueue(tx, Billing.charge, { card: secret }, { queue: 'billing' }),
        ),
      );
      request.end();

      // Stored with the row, read back through the dialect's row mapping.
      const stored = await tasks.runtime.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptGet(attempt.id),
      );
      const carrier = JSON.parse(stored!.traceContext!) as Record<string, string>;
      const requestContext = request.spanContext();
      expect(carrier['traceparent']).toMatch(
        new RegExp(`^00-${requestContext.traceId}-[0-9a-f]{16}-01$`),
      );

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      const spans = otel.spans();
      const producer = spans.find((span) => span.kind === SpanKind.PRODUCER)!;
      const consumer = spans.find((span) => span.kind === SpanKind.CONSUMER)!;
      const transaction = spans.find((span) => span.name === 'transaction billing')!;
      expect(producer).toMatchObject({
        name: 'enqueue billing',
        traceId: requestContext.traceId,
        parentSpanId: requestContext.spanId,
        attributes: {
          'messaging.system': 'async_task',
          'messaging.destination.name': 'billing',
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'enqueue',
          'messaging.message.id': attempt.id,
          'async_task.target': 'Billing',
          'async_task.method': 'charge',
        },
      });
      expect(carrier['traceparent']).toBe(`00-${producer.traceId}-${producer.spanId}-01`);
      expect(consumer).toMatchObject({
        name: 'process billing',
        traceId: requestContext.traceId,
        parentSpanId: producer.spanId,
        links: [{ traceId: producer.traceId, spanId: producer.spanId }],
        attributes: {
          'messaging.system': 'async_task',
          'messaging.destination.name': 'billing',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.message.id': attempt.id,
          'async_task.target': 'Billing',
          'async_task.method': 'charge',
          'async_task.attempt': 1,
          'async_task.outcome': 'succeeded',
        },
        status: { code: SpanStatusCode.UNSET },
      });
      expect(transaction).toMatchObject({
        kind: SpanKind.INTERNAL,
        traceId: requestContext.traceId,
        parentSpanId: consumer.spanId,
      });
      expect(mentions(spans, secret)).toEqual([]);
    });

    it('gives a bulk enqueue one span whose context every row carries', async () => {
      const otel = new OtelRecorder();
      const Mail = defineTarget('Mail', { async send(_args: { to: string }) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Mail],
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
        }),
      });
      await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: Mail.send, args: { to: 'a@example.com' } },
          { method: Mail.send, args: { to: 'b@example.com' } },
        ]),
      );
      expect(await tasks.runDue()).toMatchObject({ succeeded: 2 });

      const spans = otel.spans();
      const [producer, ...others] = spans.filter((span) => span.kind === SpanKind.PRODUCER);
      expect(others).toEqual([]);
      expect(producer).toMatchObject({
        name: 'enqueue_many default',
        parentSpanId: null,
        attributes: { 'messaging.batch.message_count': 2, 'messaging.operation.type': 'send' },
      });
      const runs = spans.filter((span) => span.kind === SpanKind.CONSUMER);
      expect(runs.map((run) => [run.traceId, run.parentSpanId])).toEqual([
        [producer!.traceId, producer!.spanId],
        [producer!.traceId, producer!.spanId],
      ]);
      expect(mentions(spans, 'example.com')).toEqual([]);
    });

    it('marks failed runs with the error, never the arguments, and counts outcomes', async () => {
      const otel = new OtelRecorder();
      const Billing = defineTarget('Billing', {
        charge(args: { card: string; fail: 'retry' | 'permanent' | 'no' }) {
          if (args.fail === 'no') return;
          // The message quotes the arguments: the span of an encrypted task must not.
          throw new TypeError(`declined ${args.card}`);
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [Billing],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1: randomBytes(32) }, current: 'k1' }) },
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
          queueDepthCacheMs: 0,
        }),
      });
      const [encrypted, , , toExpire] = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          {
            method: Billing.charge,
            args: { card: secret, fail: 'retry' },
            options: { encryptor: 'aes' },
          },
          {
            method: Billing.charge,
            args: { card: 'plain-card', fail: 'permanent' },
            options: { maxAttempts: 1 },
          },
          {
            method: Billing.charge,
            args: { card: secret, fail: 'no' },
            options: { encryptor: 'aes' },
          },
          {
            method: Billing.charge,
            args: { card: secret, fail: 'no' },
            options: { queue: 'later', scheduledAt: new Date(Date.now() + 3_600_000) },
          },
        ]),
      );
      await tasks.expire(toExpire!.id);
      expect(await tasks.runDue()).toMatchObject({ succeeded: 1, retried: 1, failed: 1 });

      const runs = otel.spans().filter((span) => span.kind === SpanKind.CONSUMER);
      const runOf = (id: string): SpanRecord =>
        runs.find((run) => run.attributes['messaging.message.id'] === id)!;
      expect(runOf(encrypted!.id)).toMatchObject({
        status: { code: SpanStatusCode.ERROR, message: 'TypeError' },
        attributes: { 'async_task.outcome': 'retried' },
        events: [{ name: 'exception', attributes: { 'exception.type': 'TypeError' } }],
      });
      expect(runOf(encrypted!.id).events[0]!.attributes).not.toHaveProperty('exception.message');
      const plain = runs.find((run) => run.attributes['async_task.outcome'] === 'failed')!;
      expect(plain.status).toEqual({
        code: SpanStatusCode.ERROR,
        message: 'TypeError: declined plain-card',
      });
      expect(mentions(otel.spans(), secret)).toEqual([]);

      const points = await otel.metrics();
      const billing = { 'messaging.destination.name': 'default', 'async_task.target': 'Billing' };
      expect(total(points, 'async_task.enqueued')).toBe(4);
      expect(total(points, 'async_task.started', billing)).toBe(3);
      expect(total(points, 'async_task.succeeded', billing)).toBe(1);
      expect(total(points, 'async_task.retried', billing)).toBe(1);
      expect(total(points, 'async_task.failed', billing)).toBe(1);
      expect(total(points, 'async_task.expired', { 'messaging.destination.name': 'later' })).toBe(
        1,
      );
      expect(total(points, 'async_task.run.duration', billing)).toBe(3);
      expect(total(points, 'async_task.pickup.latency', billing)).toBe(3);
      const depth = (queue: string, status: string): number =>
        total(points, 'async_task.queue.depth', {
          'messaging.destination.name': queue,
          'async_task.status': status,
        });
      expect([depth('default', 'pending'), depth('default', 'succeeded')]).toEqual([1, 1]);
      expect([depth('default', 'failed'), depth('later', 'expired')]).toEqual([1, 1]);
      expect(JSON.stringify(points)).not.toContain(secret);
    });

    it('counts what the rescuer and cancel write; a schedule tick has a producer span its run joins', async () => {
      const otel = new OtelRecorder();
      const late = {} as { tasks: Awaited<ReturnType<typeof migratedTasks>> };
      const Hung = defineTarget('Hung', {
        async work(args: { cancel: boolean }, ctx: TaskContext) {
          if (ctx.attempt.numAttempts > 1) return;
          // Play a worker whose lease ran out while it hung (after a cancel, for one of them).
          if (args.cancel) await late.tasks.cancel(ctx.attempt.id);
          await harness().expireLease(ctx.attempt.id);
          await late.tasks.runDue({ queues: ['nothing-here'] });
        },
      });
      const Reports = defineTarget('Reports', { nightly(_args: { kind: string }) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Hung, Reports],
        schedules: [
          {
            name: 'nightly',
            cron: '0 3 * * *',
            method: Reports.nightly,
            args: { kind: 'sales' },
            options: { queue: 'reports' },
          },
        ],
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
          queueDepthCacheMs: 0,
        }),
      });
      late.tasks = tasks;
      const [, , , pending] = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: Hung.work, args: { cancel: false }, options: { queue: 'retryable' } },
          {
            method: Hung.work,
            args: { cancel: false },
            options: { queue: 'exhausted', maxAttempts: 1 },
          },
          { method: Hung.work, args: { cancel: true }, options: { queue: 'cancelled' } },
          {
            method: Hung.work,
            args: { cancel: false },
            options: { queue: 'cancelled-pending', scheduledAt: new Date(Date.now() + 3_600_000) },
          },
        ]),
      );
      expect(await tasks.cancel(pending!.id)).toMatchObject({ outcome: 'cancelled' });
      expect(
        await tasks.runDue({ concurrency: 1, queues: ['retryable', 'exhausted', 'cancelled'] }),
      ).toMatchObject({ claimed: 3, lost: 3 });
      expect(await tasks.runDue({ queues: ['reports'] })).toMatchObject({ succeeded: 1 });

      const points = await otel.metrics();
      const inQueue = (queue: string) => ({ 'messaging.destination.name': queue });
      expect(total(points, 'async_task.retried', inQueue('retryable'))).toBe(1);
      expect(total(points, 'async_task.failed', inQueue('exhausted'))).toBe(1);
      expect(total(points, 'async_task.expired', inQueue('cancelled'))).toBe(1);
      expect(total(points, 'async_task.retried', inQueue('cancelled'))).toBe(0);
      expect(total(points, 'async_task.expired', inQueue('cancelled-pending'))).toBe(1);
      expect(total(points, 'async_task.enqueued', inQueue('reports'))).toBe(1);
      expect(total(points, 'async_task.succeeded', inQueue('reports'))).toBe(1);

      const spans = otel.spans();
      const tick = spans.find((span) => span.name === 'schedule reports')!;
      expect(tick).toMatchObject({
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.operation.name': 'schedule',
          'async_task.target': 'Reports',
          'async_task.method': 'nightly',
        },
      });
      expect(spans.find((span) => span.name === 'process reports')).toMatchObject({
        kind: SpanKind.CONSUMER,
        traceId: tick.traceId,
        parentSpanId: tick.spanId,
        attributes: { 'messaging.message.id': tick.attributes['messaging.message.id'] },
      });
    });

    it('stores no trace context without telemetry', async () => {
      const Mail = defineTarget('Mail', { async send(_args: { to: string }) {} });
      const tasks = await migratedTasks(harness(), { targets: [Mail] });
      const attempt = await harness().transaction((tx) =>
        tasks.enqueue(tx, Mail.send, { to: 'a@example.com' }),
      );
      const stored = await tasks.runtime.driver.run((connection) =>
        tasks.runtime.executor(connection).attemptGet(attempt.id),
      );
      expect(stored).toMatchObject({ id: attempt.id, traceContext: null });
    });
  });
}
