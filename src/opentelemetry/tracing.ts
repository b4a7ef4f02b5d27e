import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Exception,
  type Link,
  type Span,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import type { AttemptRecord } from '../core/attempt.js';
import { errorClassName, errorMessage, errorName } from '../core/errors.js';
import type { AttemptInsertParams } from '../seam/executor.js';
import type { EnqueueOperation } from '../seam/telemetry.js';
import { attr, messagingSystem } from './attributes.js';

/** The producer and consumer spans, and the trace context that joins them through the table. */
export class Tracing {
  readonly #tracer: Tracer;
  readonly #propagator: TextMapPropagator;

  constructor(tracer: Tracer, propagator: TextMapPropagator) {
    this.#tracer = tracer;
    this.#propagator = propagator;
  }

  /**
   * Starts the producer span of one INSERT under the caller's active span. Returns it, the
   * context to run the INSERT in (so a database instrumentation's span nests under it) and the
   * trace context to store with the rows, as JSON; null when the propagator writes nothing.
   */
  startEnqueue(
    rows: readonly AttemptInsertParams[],
    operation: EnqueueOperation,
  ): { span: Span; active: Context; traceContext: string | null } {
    const first = rows[0]!;
    const queue = uniform(rows, (row) => row.queue);
    const target = uniform(rows, (row) => row.target);
    const method = target === null ? null : uniform(rows, (row) => row.methodName);
    const attributes: Attributes = {
      [attr.system]: messagingSystem,
      [attr.operationType]: 'send',
      [attr.operationName]: operation,
    };
    if (queue !== null) attributes[attr.destination] = queue;
    if (target !== null) attributes[attr.target] = target;
    if (method !== null) attributes[attr.method] = method;
    if (operation !== 'enqueue') attributes[attr.batchCount] = rows.length;
    const parent = context.active();
    const span = this.#tracer.startSpan(
      queue === null ? operation : `${operation} ${first.queue}`,
      { kind: SpanKind.PRODUCER, attributes },
      parent,
    );
    const active = trace.setSpan(parent, span);
    const carrier: Record<string, string> = {};
    try {
      this.#propagator.inject(active, carrier, defaultTextMapSetter);
    } catch {
      // A propagator of the application's that throws costs the link, never the enqueue.
      return { span, active, traceContext: null };
    }
    const traceContext = Object.keys(carrier).length === 0 ? null : JSON.stringify(carrier);
    return { span, active, traceContext };
  }

  /**
   * Starts the consumer span of one run: a child of the enqueue's span (its stored context), with
   * a link to it too, as the messaging conventions ask of a consumer; a new trace without one.
   */
  startRun(record: AttemptRecord): { span: Span; active: Context } {
    const parent = this.#extract(record.traceContext);
    const producer = parent === null ? undefined : trace.getSpanContext(parent);
    const links: Link[] =
      producer !== undefined && isSpanContextValid(producer) ? [{ context: producer }] : [];
    const span = this.#tracer.startSpan(
      `process ${record.queue}`,
      {
        kind: SpanKind.CONSUMER,
        links,
        attributes: {
          [attr.system]: messagingSystem,
          [attr.operationType]: 'process',
          [attr.operationName]: 'process',
          [attr.destination]: record.queue,
          [attr.messageId]: record.id,
          [attr.target]: record.target,
          [attr.method]: record.methodName,
          [attr.attempt]: record.numAttempts,
        },
      },
      // Not the worker loop's context: a run belongs to its enqueue's trace, or to none.
      parent ?? ROOT_CONTEXT,
    );
    return { span, active: trace.setSpan(parent ?? ROOT_CONTEXT, span) };
  }

  /** A child span of the run for `ctx.transaction`, in the run's (active) context. */
  startTransaction(record: AttemptRecord): { span: Span; active: Context } {
    const parent = context.active();
    const span = this.#tracer.startSpan(
      `transaction ${record.queue}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          [attr.system]: messagingSystem,
          [attr.destination]: record.queue,
          [attr.messageId]: record.id,
          [attr.target]: record.target,
          [attr.method]: record.methodName,
        },
      },
      parent,
    );
    return { span, active: trace.setSpan(parent, span) };
  }

  #extract(stored: string | null): Context | null {
    if (stored === null) return null;
    let extracted: Context;
    try {
      // Not JSON when written by hand: no parent, as when the propagator fails to read it.
      const carrier: unknown = JSON.parse(stored);
      if (typeof carrier !== 'object' || carrier === null) return null;
      extracted = this.#propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    } catch {
      return null;
    }
    const parent = trace.getSpanContext(extracted);
    return parent !== undefined && isSpanContextValid(parent) ? extracted : null;
  }
}

/** Marks `span` failed with `error`: for an encrypted task its class only (the message may quote the arguments). */
export function recordFailure(span: Span, error: unknown, encrypted: boolean): void {
  if (encrypted) {
    const name = errorClassName(error);
    span.recordException({ name });
    span.setStatus({ code: SpanStatusCode.ERROR, message: name });
    return;
  }
  const name = errorName(error);
  const message = errorMessage(error);
  const stack = stackOf(error);
  const exception: Exception = stack === undefined ? { name, message } : { name, message, stack };
  span.recordException(exception);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${name}: ${message}` });
}

function stackOf(error: unknown): string | undefined {
  try {
    const stack = (error as { stack?: unknown } | null)?.stack;
    return typeof stack === 'string' ? stack : undefined;
  } catch {
    return undefined;
  }
}

function uniform<T>(rows: readonly T[], value: (row: T) => string): string | null {
  const first = value(rows[0]!);
  return rows.every((row) => value(row) === first) ? first : null;
}
