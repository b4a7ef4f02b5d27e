import {
  context,
  metrics,
  propagation,
  trace,
  type MeterProvider,
  type Span,
  type TextMapPropagator,
  type TracerProvider,
} from '@opentelemetry/api';
import type { AttemptRecord } from '../core/attempt.js';
import { ConfigError, shown } from '../core/errors.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import {
  telemetry,
  type Telemetry,
  type TelemetryHooks,
  type TelemetryRun,
} from '../seam/telemetry.js';
import { attr } from './attributes.js';
import { Metrics } from './metrics.js';
import { Tracing, recordFailure } from './tracing.js';

export type { Telemetry } from '../seam/telemetry.js';

export interface OpenTelemetryOptions {
  /** Where spans go. @defaultValue the global tracer provider (as registered by the SDK) */
  readonly tracerProvider?: TracerProvider;
  /**
   * Where metrics go. @defaultValue the global meter provider at the time of this call: register
   * the SDK's first, or pass it here
   */
  readonly meterProvider?: MeterProvider;
  /**
   * Writes the enqueue's trace context into the row and reads it back for the run.
   * @defaultValue the global propagator (`propagation`; the SDK registers W3C trace context)
   */
  readonly propagator?: TextMapPropagator;
  /**
   * How long the queue-depth gauges reuse one `stats()` read, so frequent collection does not
   * query the database each time. @defaultValue 15000
   */
  readonly queueDepthCacheMs?: number;
}

const scope = 'async-task';

/**
 * Traces and metrics for AsyncTask's `telemetry` option, on `@opentelemetry/api` (an optional
 * peer dependency, loaded only by this entry point).
 *
 * Spans: `enqueue <queue>` / `enqueue_many <queue>` / `schedule <queue>` (PRODUCER) around each
 * insert, whose W3C trace context is stored with the attempts; `process <queue>` (CONSUMER) per
 * run, a child of that span with a link to it; `transaction <queue>` for `ctx.transaction`.
 * Metrics: counters `async_task.enqueued`, `.started`, `.succeeded`, `.retried`, `.failed`,
 * `.expired`; histograms `async_task.run.duration` and `async_task.pickup.latency` (seconds);
 * the gauge `async_task.queue.depth` per queue and status. No attribute carries arguments.
 *
 * @example
 * import { openTelemetry } from 'async-task/opentelemetry';
 * const tasks = new AsyncTask({ driver, targets, telemetry: openTelemetry() });
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): Telemetry {
  checkOptionNames(options, telemetryOptionNames, 'openTelemetry');
  const { tracerProvider, meterProvider, propagator, queueDepthCacheMs = 15_000 } = options;
  // A wrong object would fail at the first span (or never report, if a method is looked up late).
  expectMethods(tracerProvider, ['getTracer'], 'tracerProvider', 'a TracerProvider');
  expectMethods(meterProvider, ['getMeter'], 'meterProvider', 'a MeterProvider');
  expectMethods(propagator, ['inject', 'extract'], 'propagator', 'a TextMapPropagator');
  if (
    typeof queueDepthCacheMs !== 'number' ||
    !Number.isFinite(queueDepthCacheMs) ||
    queueDepthCacheMs < 0
  ) {
    throw new ConfigError(
      `openTelemetry: queueDepthCacheMs must be a number of milliseconds, 0 or more; got ${shown(queueDepthCacheMs)}`,
    );
  }
  const tracing = new Tracing(
    (tracerProvider ?? trace.getTracerProvider()).getTracer(scope),
    propagator ?? propagation,
  );
  const meters = new Metrics(
    (meterProvider ?? metrics.getMeterProvider()).getMeter(scope),
    queueDepthCacheMs,
  );
  return telemetry(hooks(tracing, meters));
}

const telemetryOptionNames = optionNames<OpenTelemetryOptions>({
  tracerProvider: true,
  meterProvider: true,
  propagator: true,
  queueDepthCacheMs: true,
});

function expectMethods(value: unknown, methods: readonly string[], name: string, what: string) {
  if (value === undefined) return;
  const has = (method: string) =>
    typeof (value as Record<string, unknown> | null)?.[method] === 'function';
  if (typeof value !== 'object' || value === null || !methods.every(has)) {
    throw new ConfigError(
      `openTelemetry: ${name} must be ${what} (with ${methods.join(' and ')}), or left out for the global one; got ${shown(value)}`,
    );
  }
}

function hooks(tracing: Tracing, meters: Metrics): TelemetryHooks {
  return {
    enqueue(rows, operation, insert) {
      const { span, active, traceContext } = tracing.startEnqueue(rows, operation);
      const encrypted = rows.some((row) => row.encryptor !== null);
      let inserted;
      try {
        inserted = context.with(active, () => insert(traceContext));
      } catch (error) {
        // A synchronous client throws at the INSERT.
        failed(span, error, encrypted);
        throw error;
      }
      return inserted.then(
        (results) => {
          if (results.length === 1) span.setAttribute(attr.messageId, results[0]!.record.id);
          for (const result of results) if (result.inserted) meters.enqueued(result.record);
          span.end();
          return results;
        },
        (error: unknown) => {
          failed(span, error, encrypted);
          throw error;
        },
      );
    },

    run<R extends TelemetryRun>(record: AttemptRecord, perform: () => Promise<R>): Promise<R> {
      meters.started(record, Date.now() - record.scheduledAt.getTime());
      const { span, active } = tracing.startRun(record);
      return context.with(active, perform).then(
        (result) => {
          span.setAttribute(attr.outcome, result.outcome);
          if (result.outcome === 'retried' || result.outcome === 'failed') {
            recordFailure(span, result.error, record.encryptor !== null);
          }
          meters.ran(record, result.durationMs);
          span.end();
          return result;
        },
        (error: unknown) => {
          failed(span, error, record.encryptor !== null);
          throw error;
        },
      );
    },

    transaction(record, fn) {
      const { span, active } = tracing.startTransaction(record);
      return context.with(active, fn).then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failed(span, error, record.encryptor !== null);
          throw error;
        },
      );
    },

    recorded(record, outcome) {
      meters.recorded(record, outcome);
    },

    attach(source) {
      meters.attach(source);
    },
  };
}

/** Ends a span whose work threw. */
function failed(span: Span, error: unknown, encrypted: boolean): void {
  recordFailure(span, error, encrypted);
  span.end();
}
