import { EventEmitter } from 'node:events';
import { toAttempt, type Attempt, type AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { withheldError } from '../core/error-text.js';
import { ConfigError, describeError, errorClassName } from '../core/errors.js';
import { ClaimSizer } from './claim-sizer.js';
import { Completer } from './completer.js';
import { LocalWakes } from './local-wakes.js';
import { Notifier } from './notifier.js';
import { Pipeline } from './pipeline.js';
import { PollPace } from './poll-pace.js';
import { Pruner } from './pruner.js';
import { Registration } from './registration.js';
import { Rescuer } from './rescuer.js';
import { Scheduler } from './scheduler.js';
import type { RunResult } from './runner.js';
import type { Runtime } from './runtime.js';
import {
  stopTimeoutMs,
  workerSettings,
  type StopOptions,
  type WorkerOptions,
  type WorkerSettings,
} from './worker-options.js';
import { writtenOutcome } from '../seam/telemetry.js';

export type { QueueOption, StopOptions, WorkerOptions } from './worker-options.js';

const cancelPrefix = 'cancel ';

/** Events a worker emits. Durations in milliseconds. Arguments are never included when encrypted. */
export interface WorkerEvents {
  claimed: [{ readonly count: number; readonly durationMs: number }];
  succeeded: [{ readonly attempt: Attempt; readonly durationMs: number }];
  retried: [{ readonly attempt: Attempt; readonly error: unknown; readonly durationMs: number }];
  failed: [{ readonly attempt: Attempt; readonly error: unknown; readonly durationMs: number }];
  /** A run that `tasks.cancel()` stopped, recorded expired. */
  cancelled: [{ readonly attempt: Attempt; readonly durationMs: number }];
  /** `durationMs`: how long the rescue statement that handed the attempt back took. */
  rescued: [{ readonly attempt: Attempt; readonly durationMs: number }];
  /** `during`: what failed, e.g. 'claim', 'complete', 'heartbeat', 'rescue', 'registry'. */
  error: [{ readonly error: unknown; readonly during: string }];
  stopped: [];
}

/**
 * The long-running worker: claims due attempts in batches, runs them with bounded concurrency,
 * keeps their leases alive, writes outcomes in batches, rescues expired leases and stops
 * gracefully. Create it with `tasks.worker(options)`.
 */
export class Worker extends EventEmitter<WorkerEvents> {
  readonly id: string;
  readonly #runtime: Runtime;
  readonly #ensureSchema: () => Promise<void>;
  readonly #subscribeLocal: (wake: (queue: string) => void) => () => void;
  readonly #settings: WorkerSettings;
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #pipeline: Pipeline | undefined;
  #notifier: Notifier | undefined;
  #rescuer: Rescuer | undefined;
  #pruner: Pruner | undefined;
  #loop: Promise<void> | undefined;
  #signalHandler: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #unsubscribeLocal: (() => void) | undefined;
  /** Whether enqueues and cancel requests arrive as notifications now. */
  readonly #listening = (): boolean => this.#notifier?.listening ?? false;
  #scheduler: Scheduler | undefined;
  #registration: Registration | undefined;

  /**
   * @internal use `tasks.worker(options)`. A factory rather than the constructor: the emitted
   * declarations drop @internal members, and a dropped constructor would leave `new Worker()`
   * compiling for users; the private one stays in them and refuses it.
   */
  static create(
    runtime: Runtime,
    ensureSchema: () => Promise<void>,
    subscribeLocal: (wake: (queue: string) => void) => () => void,
    options: WorkerOptions = {},
  ): Worker {
    return new Worker(runtime, ensureSchema, subscribeLocal, options);
  }

  private constructor(
    runtime: Runtime,
    ensureSchema: () => Promise<void>,
    subscribeLocal: (wake: (queue: string) => void) => () => void,
    options: WorkerOptions,
  ) {
    // An async listener that rejects (an error tracker that is down) must not end the process
    // with an unhandled rejection: the rejection comes to captureRejectionSymbol below.
    super({ captureRejections: true });
    // Set here, not declared: a class member would put @types/node's generic signature of it
    // into the published types.
    Object.defineProperty(this, EventEmitter.captureRejectionSymbol, {
      value: (error: unknown, event: string | symbol): void => {
        this.#runtime.logger.error(
          { event: String(event), error: errorClassName(error) },
          `a listener of the worker's '${String(event)}' event rejected; the worker carries on`,
        );
      },
    });
    this.#runtime = runtime;
    this.#ensureSchema = ensureSchema;
    this.#subscribeLocal = subscribeLocal;
    this.#settings = workerSettings(options);
    this.id = this.#settings.id;
  }

  /** Attempts running now. */
  get running(): number {
    return this.#pipeline?.running ?? 0;
  }

  /**
   * Outcomes of finished handlers not yet written to the database: what a crash of this process
   * would make run again besides the running ones. Bounded: at `Worker.maxUnwritten` the worker
   * stops claiming and starting handlers until a write lands, so it never exceeds that plus
   * `concurrency`.
   */
  get unwrittenOutcomes(): number {
    return this.#pipeline?.unwritten ?? 0;
  }

  /** Unwritten outcomes at which claiming and starting handlers wait: two writes' worth. */
  static readonly maxUnwritten = 2 * Completer.maxBatch;

  /** Starts claiming; resolves once the worker is running (schema checked, LISTEN in place). */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new ConfigError(
        `worker: start() called on a worker that is ${this.#state}; create a new worker`,
      );
    }
    this.#state = 'running';
    try {
      await this.#ensureSchema();
    } catch (error) {
      this.#state = 'stopped';
      throw error;
    }
    // A stop() that came during ensureSchema found nothing to stop: set nothing up either (a
    // notifier, timers or signal handlers would keep the process alive with no one to stop them).
    if (this.#state !== 'running') return;
    const settings = this.#settings;
    const channel = this.#runtime.driver.dialect.notifyChannel(this.#runtime.table);
    if (!settings.pollOnly && channel !== null && this.#runtime.driver.listen) {
      this.#notifier = new Notifier(
        this.#runtime,
        channel,
        (payload) => this.#onNotify(payload),
        (error) => this.#error(error, 'listen'),
      );
      try {
        await this.#notifier.start();
      } catch (error) {
        // A setting LISTEN cannot work with (see Notifier.start): nothing has started yet.
        this.#notifier = undefined;
        this.#state = 'stopped';
        throw error;
      }
      if (this.#state !== 'running') {
        // stop() came while LISTEN was being set up; it closed the notifier (which drops a LISTEN
        // that lands after close) and must find nothing else started.
        await this.#notifier.close();
        return;
      }
    } else {
      // Without notifications, enqueues made by this process wake it. Not with them: a local wake
      // comes when the INSERT returns, before the enqueuer commits, and the claim it starts finds
      // nothing and delays the one the notification asks for.
      const wakes = new LocalWakes((queue) => this.#onWake(queue), settings.pollIntervalMs);
      const unsubscribe = this.#subscribeLocal((queue) => wakes.enqueued(queue));
      this.#unsubscribeLocal = () => {
        unsubscribe();
        wakes.close();
      };
      if (!settings.pollOnly) {
        this.#runtime.logger.info(
          { pollIntervalMs: settings.pollIntervalMs },
          'this driver cannot LISTEN; the worker polls',
        );
      }
    }
    // Listed in the registry from here on; stop() deletes the row once its attempts are handed
    // back, also when it came during this write.
    this.#registration = new Registration(this.#runtime, {
      id: this.id,
      queues: settings.queues,
      concurrency: settings.concurrency,
      leaseMs: settings.leaseMs,
      heartbeatMs: settings.heartbeatMs,
      held: () => this.#pipeline?.held ?? 0,
      onError: (error) => this.#error(error, 'registry', false),
    });
    await this.#registration.start();
    if (this.#state !== 'running') return;
    // From here to the end, nothing awaits: stop() cannot come in between.
    const pipeline = new Pipeline(this.#runtime, {
      lockedBy: this.id,
      concurrency: settings.concurrency,
      sizing: new ClaimSizer(settings),
      queues: settings.queues,
      queueLimits: settings.queueLimits,
      leaseMs: settings.leaseMs,
      heartbeatMs: settings.heartbeatMs,
      taskTimeoutMs: settings.taskTimeoutMs,
      durableClaims: settings.durableClaims,
      completer: { flushMs: settings.flushMs },
      maxUnwritten: Worker.maxUnwritten,
      notified: this.#listening,
      hooks: {
        claimed: (count, durationMs) => this.#emitSafely('claimed', { count, durationMs }),
        recorded: (record, result, written) => {
          if (!written) return;
          this.#runtime.telemetry?.recorded(record, writtenOutcome(result.outcome));
          this.#report(record, result);
        },
        // A success is reported only to telemetry and to 'succeeded' listeners, or to
        // 'cancelled' ones should a cancel request turn it into expired as it is written.
        wantsRecorded: (result) =>
          result.outcome !== 'succeeded' ||
          this.#runtime.telemetry !== null ||
          this.listenerCount('succeeded') > 0 ||
          this.listenerCount('cancelled') > 0,
        error: (error, during, log) => this.#error(error, during, log),
      },
    });
    this.#pipeline = pipeline;
    const rescuer = new Rescuer(this.#runtime, {
      intervalMs: settings.rescueIntervalMs,
      onRescued: (record, durationMs) =>
        this.#emitSafely('rescued', { attempt: toAttempt(record, decodeArgs), durationMs }),
      onWake: () => pipeline.wake(),
      onError: (error) => this.#error(error, 'rescue'),
    });
    this.#rescuer = rescuer;
    rescuer.start();
    // Retention: finished attempts past their age go, a bounded batch at a time, by one worker
    // per table at a time.
    if (this.#runtime.retention) {
      this.#pruner = new Pruner(this.#runtime, {
        onError: (error) => this.#error(error, 'prune', false),
      });
      this.#pruner.start();
    }
    if (this.#runtime.schedules.length > 0) {
      this.#scheduler = new Scheduler(this.#runtime, (error) => this.#error(error, 'schedule'));
      this.#scheduler.start();
    }
    if (settings.handleSignals) {
      this.#signalHandler = () => void this.stop();
      process.once('SIGTERM', this.#signalHandler);
      process.once('SIGINT', this.#signalHandler);
    }
    this.#loop = pipeline.work(new PollPace(settings.pollIntervalMs, this.#listening));
    this.#runtime.logger.info(
      { workerId: this.id, concurrency: settings.concurrency, queues: settings.queues ?? 'all' },
      'worker started',
    );
  }

  /**
   * Stops claiming, lets in-flight handlers finish (up to `timeoutMs`), then aborts the rest and
   * hands their leases back without counting the run. Flushes outcomes before it resolves.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stopWithin(stopTimeoutMs(options));
    return this.#stopping;
  }

  /**
   * Resolves at `timeoutMs` (and the last write's second, and one more) even while statements
   * still wait on a lock or a silent network: they end in the background, and what they would
   * have written is left to lease expiry.
   */
  #stopWithin(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#runtime.logger.warn(
          { workerId: this.id, timeoutMs },
          'worker stop: statements still wait past the time limit; they end in the background',
        );
        resolve();
      }, timeoutMs + 2000);
    });
    return Promise.race([this.#stop(timeoutMs), late]).finally(() => clearTimeout(timer));
  }

  async #stop(timeoutMs: number): Promise<void> {
    const since = performance.now();
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    this.#pipeline?.stop();
    if (this.#signalHandler) {
      process.off('SIGTERM', this.#signalHandler);
      process.off('SIGINT', this.#signalHandler);
    }
    const rescueEnded = this.#rescuer?.stop();
    const schedulerEnded = this.#scheduler?.stop();
    this.#unsubscribeLocal?.();
    await this.#pruner?.close();
    this.#pipeline?.wake();
    await this.#loop;
    await this.#notifier?.close();
    await rescueEnded;
    await schedulerEnded;
    await this.#pipeline?.drain(timeoutMs, since);
    await this.#registration?.close();
    this.#state = 'stopped';
    this.#runtime.logger.info({ workerId: this.id }, 'worker stopped');
    this.#emitSafely('stopped');
  }

  /** A payload is a queue with due work, `cancel <id>` (no queue has a space), or '' (resubscribed). */
  #onNotify(payload: string): void {
    if (payload.startsWith(cancelPrefix)) {
      this.#pipeline?.cancelRequested(payload.slice(cancelPrefix.length));
      return;
    }
    // Requests made while nobody listened came without a notification.
    if (payload === '') this.#pipeline?.cancelRequested(null);
    this.#onWake(payload);
  }

  #onWake(queue: string): void {
    const queues = this.#settings.queues;
    if (queue !== '' && queues !== null && !queues.includes(queue)) return;
    this.#pipeline?.wake(queue);
  }

  #report(record: AttemptRecord, result: RunResult): void {
    const { outcome, durationMs } = result;
    if (outcome === 'succeeded' || outcome === 'cancelled') {
      if (this.listenerCount(outcome) > 0) {
        this.#emitSafely(outcome, { attempt: toAttempt(record, decodeArgs), durationMs });
      }
      if (outcome === 'cancelled') {
        this.#runtime.logger.info({ attemptId: record.id }, 'attempt cancelled; recorded expired');
      }
      return;
    }
    // An encrypted task's error message may quote its arguments: events and logs get its class.
    const error = record.encryptor === null ? result.error : withheldError(result.error, record.id);
    const attempt = toAttempt(record, decodeArgs);
    const delayMs = result.completion?.delayMs ?? 0;
    if (
      outcome === 'retried' &&
      delayMs < this.#settings.pollIntervalMs &&
      this.#state === 'running'
    ) {
      // Due before the next poll: look again then rather than a poll interval later.
      setTimeout(() => this.#pipeline?.wake(record.queue), delayMs + 1).unref();
    }
    this.#runtime.logger.info(
      {
        attemptId: record.id,
        target: record.target,
        method: record.methodName,
        numAttempts: record.numAttempts,
        error: record.encryptor === null ? describeError(error) : errorClassName(error),
      },
      outcome === 'retried' ? 'attempt failed; will retry' : 'attempt failed for good',
    );
    this.#emitSafely(outcome, { attempt, error, durationMs });
  }

  /** A listener that throws must not stop the worker: it is logged, and the worker goes on. */
  #emitSafely<K extends keyof WorkerEvents>(event: K, ...args: WorkerEvents[K]): void {
    try {
      // @ts-expect-error -- the tuple is WorkerEvents[K]; EventEmitter's overloads cannot see it
      this.emit(event, ...args);
    } catch (error) {
      this.#runtime.logger.error(
        { event, error: errorClassName(error) },
        `a listener of the worker's '${event}' event threw; the worker carries on`,
      );
    }
  }

  #error(error: unknown, during: string, log = true): void {
    if (log) {
      this.#runtime.logger.error(
        { error: describeError(error), during },
        `worker ${during} failed`,
      );
    }
    if (this.listenerCount('error') > 0) this.#emitSafely('error', { error, during });
  }
}
