// async-task/opentelemetry across processes (issue #13): an enqueue in this process, under the
// application's span, and its run in a worker process with its own SDK share one trace, the run's
// span a child of the enqueue's (through the context stored in the row); the worker's metrics
// count 1,000 runs. PostgreSQL with pg: the claim that reads the stored context is its own.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SpanKind, context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import { migratedTasks } from '../harness/new-tasks.js';
import {
  enableAsyncContext,
  OtelRecorder,
  total,
  type MetricPoint,
  type SpanRecord,
} from '../harness/otel.js';
import { postgresFixture, postgresHarness } from '../harness/postgres.js';
import { tracedTarget } from '../harness/traced-target.js';
import { useHarness } from '../harness/use-harness.js';
import { waitFor } from '../harness/wait-for.js';
import { compiledScript } from '../harness/child-command.js';

const childScript = fileURLToPath(new URL('../harness/telemetry-child.ts', import.meta.url));
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));
const count = 1000;

describe('postgres/pg', () => {
  const harness = useHarness(postgresFixture);

  it('joins enqueue and run in one trace across a worker process; metrics count 1,000 runs', async () => {
    enableAsyncContext();
    const otel = new OtelRecorder();
    const tasks = await migratedTasks(harness(), {
      targets: [tracedTarget],
      telemetry: openTelemetry({
        tracerProvider: otel.tracerProvider,
        meterProvider: otel.meterProvider,
        propagator: otel.propagator,
      }),
    });
    const child = spawn(process.execPath, [compiledScript(childScript)], {
      cwd: repositoryRoot,
      env: { ...process.env, ...harness().childEnv() },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const output = createInterface({ input: child.stdout });
    const lines: string[] = [];
    output.on('line', (line) => lines.push(line));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const request = otel.tracerProvider.getTracer('app').startSpan('POST /notes');
    let tracedId: string;
    try {
      await waitFor('the worker process to be ready', () => lines.includes('ready'), 30_000);

      const traced = await context.with(trace.setSpan(context.active(), request), () =>
        harness().transaction((tx) => tasks.enqueue(tx, tracedTarget.note, { n: 0 })),
      );
      request.end();
      tracedId = traced.id;
      const items = Array.from({ length: count - 1 }, (_, i) => ({
        method: tracedTarget.note,
        args: { n: i + 1 },
      }));
      await harness().transaction((tx) => tasks.enqueueMany(tx, items));
      await waitFor(
        `${count} attempts to succeed`,
        async () =>
          (await tasks.stats()).find((row) => row.status === 'succeeded')?.count === count,
        60_000,
      );
      child.stdin.end('stop\n');
      expect(await exited).toBe(0);
    } finally {
      child.kill();
    }

    const report = JSON.parse(lines.at(-1)!) as { spans: SpanRecord[]; points: MetricPoint[] };
    const producer = otel
      .spans()
      .find((span) => span.attributes['messaging.message.id'] === tracedId)!;
    expect(producer).toMatchObject({
      kind: SpanKind.PRODUCER,
      traceId: request.spanContext().traceId,
      parentSpanId: request.spanContext().spanId,
    });
    const run = report.spans.find(
      (span) =>
        span.kind === SpanKind.CONSUMER && span.attributes['messaging.message.id'] === tracedId,
    );
    expect(run).toMatchObject({
      name: 'process default',
      traceId: producer.traceId,
      parentSpanId: producer.spanId,
      links: [{ traceId: producer.traceId, spanId: producer.spanId }],
    });
    const transaction = report.spans.find(
      (span) => span.name === 'transaction default' && span.parentSpanId === run!.spanId,
    );
    expect(transaction).toMatchObject({ traceId: producer.traceId });
    expect(report.spans.filter((span) => span.kind === SpanKind.CONSUMER)).toHaveLength(count);

    const series = { 'messaging.destination.name': 'default', 'async_task.target': 'Traced' };
    expect(total(await otel.metrics(), 'async_task.enqueued', series)).toBe(count);
    expect({
      started: total(report.points, 'async_task.started', series),
      succeeded: total(report.points, 'async_task.succeeded', series),
      retried: total(report.points, 'async_task.retried', series),
      failed: total(report.points, 'async_task.failed', series),
      runs: total(report.points, 'async_task.run.duration', series),
      pickups: total(report.points, 'async_task.pickup.latency', series),
    }).toEqual({
      started: count,
      succeeded: count,
      retried: 0,
      failed: 0,
      runs: count,
      pickups: count,
    });
  });

  it('runs what the SQL enqueue function wrote, or a row with an unreadable context, in a trace of its own', async () => {
    enableAsyncContext();
    const pg = await postgresHarness();
    try {
      const otel = new OtelRecorder();
      const tasks = await migratedTasks(pg, {
        targets: [tracedTarget],
        telemetry: openTelemetry({
          tracerProvider: otel.tracerProvider,
          meterProvider: otel.meterProvider,
          propagator: otel.propagator,
        }),
      });
      const fromSql = await pg.pool.query<{ id: string }>(
        `SELECT "${pg.schema}".async_task_attempts_enqueue('Traced', 'note', '{"n": 1}') AS id`,
      );
      const garbled = await tasks.enqueue(pg.pool, tracedTarget.note, { n: 2 });
      await pg.pool.query(
        `UPDATE "${pg.schema}".async_task_attempts SET trace_context = 'not json' WHERE id = $1`,
        [garbled.id],
      );
      expect(await tasks.runDue()).toMatchObject({ succeeded: 2 });
      const runs = otel.spans().filter((span) => span.kind === SpanKind.CONSUMER);
      expect(
        runs
          .map((run) => [run.attributes['messaging.message.id'], run.parentSpanId, run.links])
          .sort(),
      ).toEqual(
        [
          [fromSql.rows[0]!.id, null, []],
          [garbled.id, null, []],
        ].sort(),
      );
    } finally {
      await pg.close();
    }
  });
});
