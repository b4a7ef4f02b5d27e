// OpenTelemetry's SDK with in-memory exporters, for the telemetry tests: spans as the SDK finished
// them, metrics as one collection reads them. Used in the test process and in telemetry-child.ts.
import { context, type Attributes, type SpanKind, type SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  SimpleSpanProcessor,
  TracerProvider,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';

/** Context follows async calls (once per process; later calls keep the first manager). */
export function enableAsyncContext(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

/** One data point: a counter's sum, a histogram's count (and sum), a gauge's value. */
export interface MetricPoint {
  readonly name: string;
  readonly attributes: Attributes;
  readonly value: number;
  readonly sum?: number;
}

/** A span as the tests compare it, plain data (it also crosses a process boundary as JSON). */
export interface SpanRecord {
  readonly name: string;
  readonly kind: SpanKind;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly links: readonly { traceId: string; spanId: string }[];
  readonly attributes: Attributes;
  readonly status: { code: SpanStatusCode; message?: string };
  readonly events: readonly { name: string; attributes: Attributes }[];
}

export class OtelRecorder {
  readonly exporter = new InMemorySpanExporter();
  readonly tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: this.exporter })],
  });
  readonly reader = new CollectingReader();
  readonly meterProvider = new MeterProvider({ readers: [this.reader] });
  readonly propagator = new W3CTraceContextPropagator();

  spans(): SpanRecord[] {
    return this.exporter.getFinishedSpans().map(spanRecord);
  }

  async metrics(): Promise<MetricPoint[]> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new Error(`metric collection failed: ${String(errors[0])}`);
    return resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.flatMap((metric) =>
        metric.dataPoints.map((point): MetricPoint => {
          const name = metric.descriptor.name;
          if (metric.dataPointType === DataPointType.HISTOGRAM) {
            const value = point.value as { count: number; sum?: number };
            return value.sum === undefined
              ? { name, attributes: point.attributes, value: value.count }
              : { name, attributes: point.attributes, value: value.count, sum: value.sum };
          }
          return { name, attributes: point.attributes, value: point.value as number };
        }),
      ),
    );
  }
}

export function spanRecord(span: ReadableSpan): SpanRecord {
  return {
    name: span.name,
    kind: span.kind,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    links: span.links.map((link) => ({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
    })),
    attributes: span.attributes,
    status: span.status,
    events: span.events.map((event) => ({ name: event.name, attributes: event.attributes ?? {} })),
  };
}

/** The sum of `name`'s points whose attributes include `attributes`. */
export function total(
  points: readonly MetricPoint[],
  name: string,
  attributes: Attributes = {},
): number {
  return points
    .filter(
      (point) =>
        point.name === name &&
        Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
    )
    .reduce((sum, point) => sum + point.value, 0);
}
