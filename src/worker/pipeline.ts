import type { AttemptRecord } from '../core/attempt.js';
import type { LeaseRef } from '../seam/executor.js';
import { CancelWatcher } from './cancel-watcher.js';
import { Completer } from './completer.js';
import { FlowClaimer, type FlowClaimResult } from './flow-claim.js';
import { HeldAttempt } from './held-attempt.js';
import { LeaseKeeper } from './lease-keeper.js';
import { QueueCaps } from './queue-caps.js';
import type { ClaimSizing, PipelineHooks } from './pipeline-hooks.js';
import type { PollPace } from './poll-pace.js';
import { abandonedCancelled, cancelledInstead, performAttempt } from './runner.js';
import type { RunResult, RunSink } from './runner.js';
import { settlesWithin } from './settle.js';
import type { Runtime } from './runtime.js';

export type { ClaimSizing, PipelineHooks } from './pipeline-hooks.js';

export interface PipelineOptions {
  readonly lockedBy: string;
  /** Handlers running at once. */
  readonly concurrency: number;
  readonly sizing: ClaimSizing;
  /** Null: every queue. */
  readonly queues: readonly string[] | null;
  /** Per-queue caps on handlers running at once; empty: none. */
  readonly queueLimits: ReadonlyMap<string, number>;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly taskTimeoutMs: number;
  readonly durableClaims: boolean;
  readonly completer: { readonly flushMs: number; readonly maxBatch?: number };
  /**
   * Unwritten outcomes at which claiming and starting handlers wait for a write to land; left
   * out, no bound (a pass, whose `limit` bounds it already).
   */
  readonly maxUnwritten?: number;
  /**
   * @internal async-task/testing's drain: claims with no horizon (what runs enqueue is claimed
   * too), writes every outcome before it claims (an unwritten one still fills a queue's limit),
   * and a retry of an attempt already run here stays leased and unrun until `drain()`.
   */
  readonly followEnqueues?: boolean;
  /** True while cancel requests arrive as notifications (`cancelRequested`); else they are polled. */
  readonly notified?: () => boolean;
  readonly hooks: PipelineHooks;
}

/**
 * Claim → run → complete: claims due attempts in batches, holds each with its lease (kept alive
 * while it runs), starts them within `concurrency` and the per-queue caps, hands each outcome to
 * the batching Completer, and at the end hands back what it did not run. Driven by one of two
 * loops: `work()` for a worker, `pass()` for `runDue`.
 */
export class Pipeline {
  readonly #runtime: Runtime;
  readonly #lockedBy: string;
  readonly #concurrency: number;
  readonly #sizing: ClaimSizing;
  readonly #queues: readonly string[] | null;
  /** Null without per-queue caps, which keeps the caps' bookkeeping off the hot path. */
  readonly #caps: QueueCaps | null;
  readonly #claimer: FlowClaimer;
  readonly #taskTimeoutMs: number;
  readonly #maxUnwritten: number;
  readonly #hooks: PipelineHooks;
  readonly #followEnqueues: boolean;
  readonly #keeper: LeaseKeeper;
  readonly #completer: Completer;
  readonly #cancels: CancelWatcher;
  /** Claimed, lease held, not started: waiting for a slot. */
  readonly #buffer: HeldAttempt[] = [];
  readonly #running = new Set<HeldAttempt>();
  /** Attempts handed back at shutdown while their handler still ran: their outcome is dropped. */
  readonly #abandoned = new WeakSet<HeldAttempt>();
  readonly #ran: RunSink = (held, result) => this.#finish(held, result);
  /** A pass's: attempts it has claimed, so that none runs twice in one pass. */
  readonly #performed = new Set<string>();
  /** With `followEnqueues`: attempts claimed again after their run, held unrun until `drain()`. */
  readonly #heldBack: HeldAttempt[] = [];
  /** A pass's: the database's clock at its first claim; nothing scheduled later is claimed. */
  #horizon: Date | null = null;
  #stopped = false;
  #wake: (() => void) | undefined;
  #wakeRequested = false;
  #onDrained: (() => void) | undefined;

  constructor(runtime: Runtime, options: PipelineOptions) {
    this.#runtime = runtime;
    this.#lockedBy = options.lockedBy;
    this.#concurrency = options.concurrency;
    this.#sizing = options.sizing;
    this.#queues = options.queues;
    this.#caps = options.queueLimits.size === 0 ? null : new QueueCaps(options.queueLimits);
    this.#claimer = new FlowClaimer(runtime.flows, {
      lockedBy: options.lockedBy,
      leaseMs: options.leaseMs,
      durable: options.durableClaims,
      traceContext: runtime.telemetry !== null,
    });
    this.#taskTimeoutMs = options.taskTimeoutMs;
    this.#maxUnwritten = options.maxUnwritten ?? Infinity;
    this.#hooks = options.hooks;
    this.#followEnqueues = options.followEnqueues ?? false;
    this.#keeper = new LeaseKeeper(runtime, options.lockedBy, {
      leaseMs: options.leaseMs,
      heartbeatMs: options.heartbeatMs,
      onError: (error) => this.#hooks.error?.(error, 'heartbeat', false),
    });
    this.#cancels = new CancelWatcher(runtime, {
      held: () => this.#keeper.held,
      notified: options.notified ?? (() => false),
      onError: (error) => this.#hooks.error?.(error, 'cancel check', false),
    });
    this.#completer = new Completer(runtime, options.lockedBy, {
      ...options.completer,
      onError: (error) => this.#hooks.error?.(error, 'complete', false),
      before: () => this.#keeper.beating,
      // Room under the bound again: start what waits and claim more.
      onWritten:
        options.maxUnwritten === undefined
          ? undefined
          : () => {
              this.#claimer.written(this.#completer.settled);
              this.#dispatch();
              if (!this.#stopped) this.wake();
            },
    });
  }

  /** Attempts running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Attempts held now: claimed and leased, running or waiting for a slot. */
  get held(): number {
    return this.#keeper.size;
  }

  /** Outcomes of finished handlers not yet written. */
  get unwritten(): number {
    return this.#completer.size;
  }
  /**
   * A worker's loop: claims until `stop()`, waiting as `pace` says (or for a `wake()`) when there
   * is nothing to claim or no room. A failed claim is reported and tried again with backoff.
   */
  async work(pace: PollPace): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      const want = this.#claimSize();
      const queues = this.#claimableQueues();
      if (want === 0 || queues === undefined) {
        await this.#idle(pace.intervalMs);
        continue;
      }
      const started = performance.now();
      const { records, waitMs, failed } = await this.#claim(want, queues, pace.intervalMs).catch(
        (error: unknown): FlowClaimResult => ({ records: [], now: new Date(), failed: error }),
      );
      this.#take(records, started); // those taken before a failure too (FlowClaimResult)
      if (failed !== undefined) {
        this.#hooks.error?.(failed, 'claim', true);
        await this.#idle(Math.min(pace.intervalMs, 100 * 2 ** Math.min(++failures, 6)));
        continue;
      }
      failures = 0;
      if (records.length < want) await this.#idle(pace.after(records.length, waitMs));
      // better-sqlite3 claims, runs no-op handlers and writes outcomes in promise callbacks that
      // keep timers (heartbeats, rescues, stop() timeouts) waiting until a drain ends: yield.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * `runDue`'s loop: claims what is due now, each attempt at most once, and resolves once nothing
   * is left to claim and every run has ended (call `drain(null)` after, even when it rejects). A
   * failed claim or hand-back rejects it.
   */
  async pass(): Promise<void> {
    let exhausted = false;
    for (;;) {
      if (this.#followEnqueues) await this.#completer.flush();
      const want = exhausted ? 0 : this.#claimSize();
      const queues = this.#claimableQueues();
      if (want > 0 && queues !== undefined) {
        const started = performance.now();
        const { records, now, failed } = await this.#claim(want, queues);
        if (!this.#followEnqueues) this.#horizon ??= now;
        if (records.length < want) exhausted = true;
        // The horizon keeps retries out of this pass, but a clock that ticks in milliseconds
        // (SQLite) can put a retry on the horizon itself: hand such a row back, uncounted.
        const again = records.filter((record) => this.#performed.has(record.id));
        if (again.length > 0 && this.#followEnqueues) {
          this.#holdBack(again);
          // Held, they are out of the next claim's way: claim on, whatever is running.
          if (again.length === records.length && !exhausted && failed === undefined) continue;
        } else if (again.length > 0) {
          exhausted = true;
          await this.#release(again);
        }
        const fresh =
          again.length === 0 ? records : records.filter((r) => !this.#performed.has(r.id));
        for (const record of fresh) this.#performed.add(record.id);
        this.#take(fresh, started);
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- the claim's, as it came
        if (failed !== undefined) throw failed;
      }
      if (this.#running.size === 0) return;
      // Only a run that ends from here on wakes the pass, as runDue has always claimed: runs that
      // ended during the claim count at the next look.
      this.#wakeRequested = false;
      await this.#idle(null);
    }
  }

  /**
   * `tasks.cancel(id)` asked attempt `id` to stop: aborts it if held here. Null: some request may
   * have been missed (no notifications for a while), so look them all up now.
   */
  cancelRequested(id: string | null): void {
    if (id === null) void this.#cancels.check(true);
    else this.#cancels.requested(id);
  }

  /** Claims no more: `work()` returns at its next turn; `wake()` makes that now. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Makes the loop look again now (a notification, a rescue, a retry coming due); `queue`: one an
   * enqueue just wrote to ('' for any), whose claim then runs at once.
   */
  wake(queue?: string): void {
    if (queue !== undefined) this.#claimer.enqueued(queue);
    this.#wakeRequested = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * After the loop: hands back claimed attempts not started, waits for running handlers up to
   * `timeoutMs` from `since` (null: no limit; then aborts them, handing back uncounted those with
   * no outcome), ends lease keeping, writes what is unwritten in the time left (1 s at least).
   */
  async drain(timeoutMs: number | null, since = performance.now()): Promise<void> {
    const left = () => (timeoutMs === null ? null : timeoutMs - (performance.now() - since));
    const unstarted = [...this.#buffer.splice(0), ...this.#heldBack.splice(0)];
    for (const held of unstarted) this.#keeper.drop(held);
    await this.#handBack(unstarted);
    if (this.#running.size > 0) {
      const drained = new Promise<void>((resolve) => (this.#onDrained = resolve));
      if (!(await settlesWithin(drained, left()))) {
        const unended: HeldAttempt[] = [];
        for (const held of this.#running) {
          this.#abandoned.add(held);
          this.#keeper.drop(held);
          held.abort(new Error('worker stopping: shutdown timeout reached'));
          // A run that failed (its onError hook still going) or was cancelled has its outcome:
          // handed back, it would lose its count and its history entry.
          const ended = held.ended ?? (held.cancelled ? abandonedCancelled(held) : undefined);
          if (ended) this.#record(held, ended);
          else unended.push(held);
        }
        await this.#handBack(unended);
      }
      this.#onDrained = undefined;
    }
    await this.#keeper.close();
    this.#cancels.close();
    const ms = left();
    await this.#completer.flush(
      ms === null ? undefined : AbortSignal.timeout(ms < 1000 ? 1000 : Math.ceil(ms)),
    );
  }

  #claimSize(): number {
    // Backpressure: claiming more would grow the unwritten pile (the crash window); a write wakes.
    return this.#completer.size >= this.#maxUnwritten
      ? 0
      : this.#sizing.claimSize(this.#running.size + this.#buffer.length, this.#buffer.length);
  }

  /** Queues that may take more work now; undefined when every allowed queue is at its cap. */
  #claimableQueues(): readonly string[] | null | undefined {
    return this.#caps === null
      ? this.#queues
      : this.#caps.claimable(this.#queues ?? [], this.#buffer);
  }

  #claim(limit: number, queues: readonly string[] | null, pollIntervalMs: number | null = null) {
    const params = { limit, queues, horizon: this.#horizon };
    return this.#runtime.driver.run((connection) =>
      this.#claimer.claim(this.#runtime.executor(connection), params, pollIntervalMs),
    );
  }

  /** Holds the leases of claimed attempts and starts what there is room for. */
  #take(records: readonly AttemptRecord[], started: number): void {
    if (records.length === 0) return;
    this.#sizing.claimed?.(records);
    for (const record of records) {
      const held = new HeldAttempt(record);
      this.#keeper.hold(held);
      this.#buffer.push(held);
    }
    this.#hooks.claimed(records.length, performance.now() - started);
    this.#dispatch();
  }

  /** Keeps attempts leased without running them; `drain()` hands them back. */
  #holdBack(records: readonly AttemptRecord[]): void {
    for (const record of records) {
      const held = new HeldAttempt(record);
      this.#keeper.hold(held);
      this.#heldBack.push(held);
    }
  }

  #dispatch(): void {
    if (this.#completer.size >= this.#maxUnwritten) return;
    if (this.#caps === null) {
      // FIFO without per-queue caps: shift() is O(1) amortised in V8, unlike splice at an index.
      while (this.#buffer.length > 0 && this.#running.size < this.#concurrency) {
        this.#start(this.#buffer.shift()!);
      }
      return;
    }
    for (let i = 0; i < this.#buffer.length && this.#running.size < this.#concurrency;) {
      if (this.#caps.hasRoom(this.#buffer[i]!.record.queue)) {
        this.#start(this.#buffer.splice(i, 1)[0]!);
      } else i += 1;
    }
  }

  #start(held: HeldAttempt): void {
    this.#running.add(held);
    this.#caps?.started(held.record.queue);
    performAttempt(this.#runtime, held, this.#lockedBy, this.#taskTimeoutMs, this.#ran);
  }

  #finish(held: HeldAttempt, result: RunResult): void {
    this.#running.delete(held);
    this.#sizing.finished();
    this.#caps?.finished(held.record.queue);
    if (this.#running.size === 0) this.#onDrained?.();
    if (this.#abandoned.has(held)) return;
    this.#keeper.drop(held);
    this.#record(held, result);
    if (result.completion) this.#claimer.ended(held.record.queue, this.#completer.added);
    this.#hooks.ran?.(held.record, result);
    this.#dispatch();
    if (!this.#stopped) this.wake();
  }

  /** Waits for a `wake()`, or `ms` (null: no limit); at once if a wake came since the last wait. */
  async #idle(ms: number | null): Promise<void> {
    if (this.#wakeRequested) {
      this.#wakeRequested = false;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (ms !== null) timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.#wake = undefined;
    this.#wakeRequested = false;
  }

  #record(held: HeldAttempt, result: RunResult): void {
    if (!result.completion) this.#hooks.recorded(held.record, result, true);
    else if (this.#hooks.wantsRecorded?.(result) === false) this.#completer.add(result.completion);
    else {
      this.#completer.add(result.completion, (written, cancelled) =>
        this.#hooks.recorded(held.record, cancelled ? cancelledInstead(result) : result, written),
      );
    }
  }

  async #release(leases: readonly LeaseRef[]): Promise<string[]> {
    await this.#keeper.beating; // see LeaseKeeper.beating
    return this.#runtime.driver.run((connection) =>
      this.#runtime.executor(connection).attemptReleaseMany(this.#lockedBy, leases),
    );
  }

  async #handBack(held: readonly HeldAttempt[]): Promise<void> {
    if (held.length === 0) return;
    try {
      await this.#release(held);
    } catch (error) {
      // Not fatal: the leases run out and the rescuer hands the attempts back.
      this.#hooks.error?.(error, 'release', true);
    }
  }
}
