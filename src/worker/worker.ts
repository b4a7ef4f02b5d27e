import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { toAttempt, type Attempt, type AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { withheldError } from '../core/error-text.js';
import { ConfigError, describeError, errorClassName, shown } from '../core/errors.js';
import { checkQueue, checkTimeout } from '../core/target.js';
import type { LeaseRef } from '../seam/executor.js';
import { HeldAttempt } from './held-attempt.js';
import { ClaimSizer } from './claim-sizer.js';
import { Completer } from './completer.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Notifier } from './notifier.js';
import { Pruner } from './pruner.js';
import { performAttempt } from './runner.js';
import type { Runtime } from './runtime.js';
import { integerOption } from '../core/options.js';

const integer = integerOption('worker');

/** A queue to work, with its own cap on handlers running at once. */
export interface QueueOption {
  readonly name: string;
  readonly concurrency: number;
}

export interface WorkerOptions {
  /** Handlers running at once, across queues. @defaultValue 10 */
  readonly concurrency?: number;
  /** Queues to work (names, or `{ name, concurrency }` for a per-queue cap). @defaultValue every queue */
  readonly queues?: readonly (string | QueueOption)[];
  /**
   * Attempts claimed ahead of free handler slots, so handlers never wait for a round trip. Leave
   * it out: the worker then holds about 200 ms of work at the rate its handlers finish (from
   * twice `concurrency` up to 2,000), which drains a backlog of short tasks in big claims and
   * leaves slow tasks pending for other workers. A number fixes it.
   * @defaultValue adaptive
   */
  readonly prefetch?: number;
  /** Most attempts claimed by one statement. @defaultValue 1000 */
  readonly batchSize?: number;
  /** How often to look for due work without a notification. @defaultValue 1000 */
  readonly pollIntervalMs?: number;
  /** Skip LISTEN/NOTIFY and rely on polling (PgBouncer/Supavisor transaction pooling). @defaultValue false */
  readonly pollOnly?: boolean;
  /**
   * PostgreSQL: make each claim wait for its WAL flush. By default a claim does not (it is most
   * of an idle pickup's latency), so a database server crash can forget a claim made in its last
   * moments, and that task may start again while its first run is still going (the first run's
   * outcome is then fenced off). Set it where a task must never run twice at once even then.
   * @defaultValue false
   */
  readonly durableClaims?: boolean;
  /** Lease on each claimed attempt. @defaultValue 30000 */
  readonly leaseMs?: number;
  /** How often leases of in-flight attempts are extended. @defaultValue 10000 */
  readonly heartbeatMs?: number;
  /**
   * Longest a run may take unless its method or target says otherwise (`timeoutMs`): past it,
   * `ctx.signal` aborts, the run counts as a failed attempt and its slot is freed.
   * @defaultValue 10 × `leaseMs` (5 minutes)
   */
  readonly taskTimeoutMs?: number;
  /** How often attempts with expired leases are handed back. @defaultValue 5000 */
  readonly rescueIntervalMs?: number;
  /**
   * How long a finished attempt's outcome may wait to share a write with others. With 0 it is
   * written as soon as the write before it is done (outcomes that finish meanwhile go together),
   * which under load batches as well as a delay would, and keeps the crash window small.
   * @defaultValue 0
   */
  readonly flushMs?: number;
  /** Call `stop()` on SIGTERM and SIGINT. @defaultValue false */
  readonly handleSignals?: boolean;
  /** Shows up in `locked_by`: 1-200 printable characters. @defaultValue `host:pid:random` */
  readonly id?: string;
}

export interface StopOptions {
  /** How long in-flight handlers may run before they are aborted and their leases handed back. @defaultValue 30000 */
  readonly timeoutMs?: number;
}

/** Events a worker emits. Durations in milliseconds. Arguments are never included when encrypted. */
export interface WorkerEvents {
  claimed: [{ readonly count: number; readonly durationMs: number }];
  succeeded: [{ readonly attempt: Attempt; readonly durationMs: number }];
  retried: [{ readonly attempt: Attempt; readonly error: unknown; readonly durationMs: number }];
  failed: [{ readonly attempt: Attempt; readonly error: unknown; readonly durationMs: number }];
  /** `durationMs`: how long the rescue statement that handed the attempt back took. */
  rescued: [{ readonly attempt: Attempt; readonly durationMs: number }];
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
  readonly #concurrency: number;
  readonly #sizer: ClaimSizer;
  readonly #pollIntervalMs: number;
  readonly #pollOnly: boolean;
  readonly #durableClaims: boolean;
  readonly #leaseMs: number;
  readonly #taskTimeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #rescueIntervalMs: number;
  readonly #flushMs: number;
  readonly #handleSignals: boolean;
  readonly #queueLimits: ReadonlyMap<string, number>;
  readonly #queues: readonly string[] | null;
  readonly #buffer: HeldAttempt[] = [];
  readonly #running = new Set<HeldAttempt>();
  /** Attempts handed back at shutdown while their handler still ran: their outcome is dropped. */
  readonly #abandoned = new WeakSet<HeldAttempt>();
  readonly #runningPerQueue = new Map<string, number>();
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #keeper: LeaseKeeper | undefined;
  #completer: Completer | undefined;
  #notifier: Notifier | undefined;
  #pruner: Pruner | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #wakeRequested = false;
  #rescueTimer: NodeJS.Timeout | undefined;
  #rescuing: Promise<void> | undefined;
  #signalHandler: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  readonly #subscribeLocal: (wake: (queue: string) => void) => () => void;
  #unsubscribeLocal: (() => void) | undefined;

  /** @internal use `tasks.worker(options)` */
  constructor(
    runtime: Runtime,
    ensureSchema: () => Promise<void>,
    subscribeLocal: (wake: (queue: string) => void) => () => void,
    options: WorkerOptions = {},
  ) {
    super();
    this.#runtime = runtime;
    this.#ensureSchema = ensureSchema;
    this.#subscribeLocal = subscribeLocal;
    this.#concurrency = integer(options.concurrency, 10, 'concurrency', 1, 10_000);
    this.#sizer = new ClaimSizer({
      concurrency: this.#concurrency,
      prefetch:
        options.prefetch === undefined
          ? undefined
          : integer(options.prefetch, 0, 'prefetch', 0, 100_000),
      batchSize:
        options.batchSize === undefined
          ? undefined
          : integer(options.batchSize, 0, 'batchSize', 1, 10_000),
    });
    this.#pollIntervalMs = integer(options.pollIntervalMs, 1000, 'pollIntervalMs', 1, 3_600_000);
    this.#pollOnly = options.pollOnly ?? false;
    this.#durableClaims = options.durableClaims ?? false;
    this.#leaseMs = integer(options.leaseMs, 30_000, 'leaseMs', 100, 86_400_000);
    this.#heartbeatMs = integer(options.heartbeatMs, 10_000, 'heartbeatMs', 10, 86_400_000);
    this.#taskTimeoutMs = checkTimeout(
      options.taskTimeoutMs ?? Math.min(this.#leaseMs * 10, 7 * 86_400_000),
      'worker: taskTimeoutMs',
    );
    if (this.#heartbeatMs >= this.#leaseMs) {
      throw new ConfigError(
        `worker: heartbeatMs (${this.#heartbeatMs}) must be shorter than leaseMs (${this.#leaseMs}), or leases run out between heartbeats`,
      );
    }
    this.#rescueIntervalMs = integer(
      options.rescueIntervalMs,
      5000,
      'rescueIntervalMs',
      10,
      86_400_000,
    );
    this.#flushMs = integer(options.flushMs, 0, 'flushMs', 0, 60_000);
    this.#handleSignals = options.handleSignals ?? false;
    const limits = new Map<string, number>();
    const names: string[] = [];
    for (const queue of options.queues ?? []) {
      const name = checkQueue(typeof queue === 'string' ? queue : queue.name, 'worker: queues');
      names.push(name);
      if (typeof queue !== 'string') {
        limits.set(name, integer(queue.concurrency, 1, `queues.${name}.concurrency`, 1, 10_000));
      }
    }
    if (options.queues !== undefined && names.length === 0) {
      throw new ConfigError('worker: queues is empty; leave it out to work every queue');
    }
    this.#queues = options.queues === undefined ? null : names;
    this.#queueLimits = limits;
    this.id =
      options.id ?? `${hostname().slice(0, 100)}:${process.pid}:${randomUUID().slice(0, 8)}`;
    // Stored in every claimed row (MySQL: VARCHAR(255)) and printed by the CLI.
    if (typeof this.id !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,199}$/.test(this.id)) {
      throw new ConfigError(
        `worker: id must be 1-200 printable ASCII characters, not starting with a space; got ${shown(this.id)}`,
      );
    }
  }

  /** Attempts running now. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Outcomes of finished handlers not yet written to the database: what a crash of this process
   * would make run again besides the running ones. Bounded: at `Worker.maxUnwritten` the worker
   * stops claiming and starting handlers until a write lands, so it never exceeds that plus
   * `concurrency`.
   */
  get unwrittenOutcomes(): number {
    return this.#completer?.size ?? 0;
  }

  /** Unwritten outcomes at which claiming and starting handlers wait: two writes' worth. */
  static readonly maxUnwritten = 2 * Completer.maxBatch;

  #backedUp(): boolean {
    return (this.#completer?.size ?? 0) >= Worker.maxUnwritten;
  }

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
    this.#keeper = new LeaseKeeper(this.#runtime, this.id, {
      leaseMs: this.#leaseMs,
      heartbeatMs: this.#heartbeatMs,
      onError: (error) => this.#error(error, 'heartbeat', false),
    });
    this.#completer = new Completer(this.#runtime, this.id, {
      flushMs: this.#flushMs,
      onError: (error) => this.#error(error, 'complete', false),
      // Room under the bound again: start what waits and claim more.
      onWritten: () => {
        this.#dispatch();
        if (this.#state === 'running') this.#wakeUp();
      },
    });
    const channel = this.#runtime.driver.dialect.notifyChannel(this.#runtime.table);
    if (!this.#pollOnly && channel !== null && this.#runtime.driver.listen) {
      this.#notifier = new Notifier(
        this.#runtime,
        channel,
        (queue) => this.#onWake(queue),
        (error) => this.#error(error, 'listen'),
      );
      await this.#notifier.start();
    } else {
      // Without notifications, enqueues made by this process wake it. Not with them: a local wake
      // comes when the INSERT returns, before the enqueuer commits, and the claim it starts finds
      // nothing and delays the one the notification asks for.
      this.#unsubscribeLocal = this.#subscribeLocal((queue) => this.#onWake(queue));
      if (!this.#pollOnly) {
        this.#runtime.logger.info(
          { pollIntervalMs: this.#pollIntervalMs },
          'this driver cannot LISTEN; the worker polls',
        );
      }
    }
    this.#rescueTimer = setInterval(() => void this.#rescue(), this.#rescueIntervalMs);
    // Retention: finished attempts past their age go, a bounded batch at a time, by one worker
    // per table at a time.
    if (this.#runtime.retention) {
      this.#pruner = new Pruner(this.#runtime, {
        onError: (error) => this.#error(error, 'prune', false),
      });
      this.#pruner.start();
    }
    if (this.#handleSignals) {
      this.#signalHandler = () => void this.stop();
      process.once('SIGTERM', this.#signalHandler);
      process.once('SIGINT', this.#signalHandler);
    }
    this.#loop = this.#produce();
    this.#runtime.logger.info(
      { workerId: this.id, concurrency: this.#concurrency, queues: this.#queues ?? 'all' },
      'worker started',
    );
  }

  /**
   * Stops claiming, lets in-flight handlers finish (up to `timeoutMs`), then aborts the rest and
   * hands their leases back without counting the run. Flushes outcomes before it resolves.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(integer(options.timeoutMs, 30_000, 'timeoutMs', 0, 86_400_000));
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    if (this.#signalHandler) {
      process.off('SIGTERM', this.#signalHandler);
      process.off('SIGINT', this.#signalHandler);
    }
    clearInterval(this.#rescueTimer);
    this.#unsubscribeLocal?.();
    await this.#pruner?.close();
    this.#wakeUp();
    await this.#loop;
    await this.#notifier?.close();
    await this.#rescuing;
    // Claimed but never started: hand back at once.
    const unstarted = this.#buffer.splice(0);
    for (const held of unstarted) this.#keeper?.drop(held);
    await this.#release(unstarted);
    if (this.#running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const drained = new Promise<'drained'>(
        (resolve) => (this.#onDrained = () => resolve('drained')),
      );
      const result = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      this.#onDrained = undefined;
      if (result === 'timeout') {
        const stuck = [...this.#running];
        for (const held of stuck) {
          this.#abandoned.add(held);
          this.#keeper?.drop(held);
          held.abort(new Error('worker stopping: shutdown timeout reached'));
        }
        await this.#release(stuck);
      }
    }
    await this.#keeper?.close();
    // Bounded too: with the database gone, unwritten outcomes are left to lease expiry.
    await this.#completer?.flush(AbortSignal.timeout(Math.max(timeoutMs, 1000)));
    this.#state = 'stopped';
    this.#runtime.logger.info({ workerId: this.id }, 'worker stopped');
    this.#emitSafely('stopped');
  }

  async #release(leases: LeaseRef[]): Promise<void> {
    if (leases.length === 0) return;
    try {
      await this.#runtime.driver.run((connection) =>
        this.#runtime.executor(connection).attemptReleaseMany(this.id, leases),
      );
    } catch (error) {
      // Not fatal: the leases run out and the rescuer hands the attempts back.
      this.#error(error, 'release');
    }
  }

  #onWake(queue: string): void {
    if (queue !== '' && this.#queues !== null && !this.#queues.includes(queue)) return;
    this.#wakeUp();
  }

  #wakeUp(): void {
    this.#wakeRequested = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits for a notification, a freed slot, stop(), or the poll interval. */
  async #idle(ms: number): Promise<void> {
    if (this.#wakeRequested) {
      this.#wakeRequested = false;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.#wake = undefined;
    this.#wakeRequested = false;
  }

  async #produce(): Promise<void> {
    let failures = 0;
    while (this.#state === 'running') {
      // Backpressure: with outcomes piling up unwritten, claiming more would only grow the pile
      // (and the crash window). A landed write wakes this loop.
      const want = this.#backedUp()
        ? 0
        : this.#sizer.claimSize(this.#running.size + this.#buffer.length, this.#buffer.length);
      const queues = this.#claimableQueues();
      if (want === 0 || queues === undefined) {
        await this.#idle(this.#pollIntervalMs);
        continue;
      }
      const started = performance.now();
      let records: readonly AttemptRecord[];
      try {
        ({ records } = await this.#runtime.driver.run((connection) =>
          this.#runtime.executor(connection).attemptClaim({
            lockedBy: this.id,
            limit: want,
            leaseMs: this.#leaseMs,
            queues,
            horizon: null,
            durable: this.#durableClaims,
          }),
        ));
        failures = 0;
      } catch (error) {
        this.#error(error, 'claim');
        failures += 1;
        await this.#idle(Math.min(this.#pollIntervalMs, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (records.length > 0) {
        for (const record of records) {
          const held = new HeldAttempt(record);
          this.#keeper?.hold(held);
          this.#buffer.push(held);
        }
        this.#emitSafely('claimed', {
          count: records.length,
          durationMs: performance.now() - started,
        });
        this.#dispatch();
      }
      if (records.length < want) await this.#idle(this.#pollIntervalMs);
      // A synchronous driver (better-sqlite3) claims, runs no-op handlers and writes outcomes
      // all in promise callbacks, which never let the event loop reach its timers: a drain would
      // send no heartbeat, rescue nothing and ignore stop() timeouts until it ended. One turn of
      // the loop per claim lets them run.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Queues that may take more work now; undefined when every allowed queue is at its cap. */
  #claimableQueues(): readonly string[] | null | undefined {
    if (this.#queueLimits.size === 0) return this.#queues;
    const open = (this.#queues ?? []).filter((queue) => {
      const limit = this.#queueLimits.get(queue);
      if (limit === undefined) return true;
      const buffered = this.#buffer.filter((held) => held.record.queue === queue).length;
      return (this.#runningPerQueue.get(queue) ?? 0) + buffered < limit;
    });
    return open.length === 0 ? undefined : open;
  }

  #dispatch(): void {
    if (this.#backedUp()) return;
    if (this.#queueLimits.size === 0) {
      // FIFO without per-queue caps: take from the front; shift() is O(1) amortised in V8 for
      // arrays used as queues, unlike splice at an index.
      while (this.#buffer.length > 0 && this.#running.size < this.#concurrency) {
        this.#start(this.#buffer.shift()!);
      }
      return;
    }
    for (let i = 0; i < this.#buffer.length && this.#running.size < this.#concurrency;) {
      const held = this.#buffer[i]!;
      const limit = this.#queueLimits.get(held.record.queue);
      if (limit !== undefined && (this.#runningPerQueue.get(held.record.queue) ?? 0) >= limit) {
        i += 1;
        continue;
      }
      this.#buffer.splice(i, 1);
      this.#start(held);
    }
  }

  #start(held: HeldAttempt): void {
    const queue = held.record.queue;
    this.#running.add(held);
    if (this.#queueLimits.size > 0) {
      this.#runningPerQueue.set(queue, (this.#runningPerQueue.get(queue) ?? 0) + 1);
    }
    void performAttempt(this.#runtime, held, this.id, this.#taskTimeoutMs).then((result) => {
      this.#running.delete(held);
      this.#sizer.finished();
      if (this.#queueLimits.size > 0) {
        this.#runningPerQueue.set(queue, (this.#runningPerQueue.get(queue) ?? 1) - 1);
      }
      if (this.#running.size === 0) this.#onDrained?.();
      if (this.#abandoned.has(held)) return;
      this.#keeper?.drop(held);
      // Events wait for the outcome to be written: a run whose lease was lost meanwhile is
      // fenced off, and reporting it would count one attempt twice.
      if (result.completion) {
        this.#completer?.add(result.completion, (written) => {
          if (written) this.#report(held.record, result);
        });
      } else {
        this.#report(held.record, result);
      }
      this.#dispatch();
      if (this.#state === 'running') this.#wakeUp();
    });
  }

  #report(record: AttemptRecord, result: Awaited<ReturnType<typeof performAttempt>>): void {
    const { outcome, durationMs } = result;
    if (outcome === 'succeeded') {
      if (this.listenerCount('succeeded') > 0) {
        this.#emitSafely('succeeded', { attempt: toAttempt(record, decodeArgs), durationMs });
      }
      return;
    }
    // An encrypted task's error message may quote its arguments: events and logs get its class.
    const error = record.encryptor === null ? result.error : withheldError(result.error, record.id);
    const attempt = toAttempt(record, decodeArgs);
    const delayMs = result.completion?.delayMs ?? 0;
    if (outcome === 'retried' && delayMs < this.#pollIntervalMs && this.#state === 'running') {
      // Due before the next poll: look again then rather than a poll interval later.
      setTimeout(() => this.#wakeUp(), delayMs + 1).unref();
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

  async #rescue(): Promise<void> {
    if (this.#rescuing || this.#state !== 'running') return;
    this.#rescuing = (async () => {
      try {
        for (;;) {
          const started = performance.now();
          const rescued = await this.#runtime.driver.run((connection) =>
            this.#runtime.executor(connection).attemptRescueExpired(500),
          );
          const durationMs = performance.now() - started;
          for (const record of rescued) {
            this.#runtime.logger.warn(
              { attemptId: record.id, status: record.status },
              'rescued an attempt whose lease ran out',
            );
            this.#emitSafely('rescued', { attempt: toAttempt(record, decodeArgs), durationMs });
          }
          if (rescued.length > 0) this.#wakeUp();
          if (rescued.length < 500 || this.#state !== 'running') break;
        }
      } catch (error) {
        this.#error(error, 'rescue');
      }
    })().finally(() => {
      this.#rescuing = undefined;
    });
    await this.#rescuing;
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
