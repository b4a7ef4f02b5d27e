import type { Attributes, Counter, Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import { describeError } from '../core/errors.js';
import type { AttemptStatsRow } from '../seam/executor.js';
import type { TelemetryOutcome, TelemetrySource } from '../seam/telemetry.js';
import { attr } from './attributes.js';

/** What identifies a counter's series: queue, target and method. */
interface Series {
  readonly queue: string;
  readonly target: string;
  readonly methodName: string;
}

// Seconds, as OpenTelemetry's semantic conventions measure durations: from a no-op task's
// millisecond to a long one's minutes.
const secondsBuckets = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

/**
 * The counters, histograms and queue-depth gauges. Attribute sets are made once per series and
 * kept, so counting allocates nothing per task after a series' first.
 */
export class Metrics {
  readonly #enqueued: Counter;
  readonly #started: Counter;
  readonly #outcomes: Record<TelemetryOutcome, Counter>;
  readonly #runDuration: Histogram;
  readonly #pickupLatency: Histogram;
  readonly #series = new Map<string, Attributes>();
  readonly #sources = new Map<string, QueueDepth>();

  constructor(meter: Meter, depthCacheMs: number) {
    const counter = (name: string, description: string): Counter =>
      meter.createCounter(`async_task.${name}`, { unit: '{attempt}', description });
    this.#enqueued = counter('enqueued', 'Attempts written by enqueue, enqueueMany and schedules');
    this.#started = counter('started', 'Runs started by workers and runDue');
    this.#outcomes = {
      succeeded: counter('succeeded', 'Runs whose success was written'),
      retried: counter('retried', 'Failed runs (or lost leases) written back as pending'),
      failed: counter('failed', 'Attempts failed for good: by a run, the rescuer or fail()'),
      expired: counter('expired', 'Attempts expired: by expire(), cancel() or a cancelled run'),
    };
    const histogram = (name: string, description: string): Histogram =>
      meter.createHistogram(`async_task.${name}`, {
        unit: 's',
        description,
        advice: { explicitBucketBoundaries: secondsBuckets },
      });
    this.#runDuration = histogram('run.duration', 'How long handlers ran, to their outcome');
    this.#pickupLatency = histogram(
      'pickup.latency',
      'From when an attempt was due to when its run started',
    );
    meter
      .createObservableGauge('async_task.queue.depth', {
        unit: '{attempt}',
        description: 'Attempts per queue and status (succeeded: an estimate on large tables)',
      })
      .addCallback((result) => this.#observeDepth(result, depthCacheMs));
  }

  attach(source: TelemetrySource): void {
    // Two AsyncTasks on one table report it once.
    if (!this.#sources.has(source.table)) this.#sources.set(source.table, new QueueDepth(source));
  }

  enqueued(series: Series): void {
    this.#enqueued.add(1, this.#attributes(series));
  }

  started(series: Series, pickupLatencyMs: number): void {
    const attributes = this.#attributes(series);
    this.#started.add(1, attributes);
    this.#pickupLatency.record(Math.max(0, pickupLatencyMs) / 1000, attributes);
  }

  ran(series: Series, durationMs: number): void {
    this.#runDuration.record(durationMs / 1000, this.#attributes(series));
  }

  recorded(series: Series, outcome: TelemetryOutcome): void {
    this.#outcomes[outcome].add(1, this.#attributes(series));
  }

  #attributes(series: Series): Attributes {
    const key = `${series.queue}\u0000${series.target}\u0000${series.methodName}`;
    let attributes = this.#series.get(key);
    if (attributes === undefined) {
      attributes = {
        [attr.destination]: series.queue,
        [attr.target]: series.target,
        [attr.method]: series.methodName,
      };
      this.#series.set(key, attributes);
    }
    return attributes;
  }

  async #observeDepth(result: ObservableResult, cacheMs: number): Promise<void> {
    const sources = [...this.#sources.values()];
    const counts = await Promise.all(sources.map((source) => source.read(cacheMs)));
    sources.forEach((source, index) => {
      for (const row of counts[index]!) {
        result.observe(row.count, {
          [attr.destination]: row.queue,
          [attr.status]: row.status,
          [attr.table]: source.table,
        });
      }
    });
  }
}

/**
 * One table's counts for the gauges, read at most once per `cacheMs` however often metrics are
 * collected, one read at a time; a failed read keeps the last counts and is logged.
 */
class QueueDepth {
  readonly #source: TelemetrySource;
  #counts: readonly AttemptStatsRow[] = [];
  #readAt = -Infinity;
  #reading: Promise<readonly AttemptStatsRow[]> | undefined;

  constructor(source: TelemetrySource) {
    this.#source = source;
  }

  get table(): string {
    return this.#source.table;
  }

  read(cacheMs: number): Promise<readonly AttemptStatsRow[]> {
    if (performance.now() - this.#readAt < cacheMs) return Promise.resolve(this.#counts);
    this.#reading ??= this.#source
      .stats()
      .then(
        (counts) => {
          this.#counts = counts;
          return counts;
        },
        (error: unknown) => {
          this.#source.logger.warn(
            { table: this.#source.table, error: describeError(error) },
            'queue depth for telemetry: stats() failed; reporting the last counts',
          );
          return this.#counts;
        },
      )
      .finally(() => {
        this.#readAt = performance.now();
        this.#reading = undefined;
      });
    return this.#reading;
  }
}
