import { describeError } from '../core/errors.js';
import type { AttemptCompletion, WrittenIds } from '../seam/executor.js';
import type { Runtime } from './runtime.js';

/**
 * Collects outcomes and writes them in batches, one fenced statement per flush. The crash window:
 * outcomes waiting here (at most `flushMs` old) are lost if the process dies, and those tasks run
 * again once their lease runs out.
 */
/**
 * Told once an outcome's write ended: `written`, or fenced off; `cancelled`, when a cancel request
 * turned it into `expired` in the database though it said otherwise.
 */
export type OnWritten = (written: boolean, cancelled: boolean) => void;

export class Completer {
  /** Most outcomes one statement writes. */
  static readonly maxBatch = 1000;
  readonly #runtime: Runtime;
  readonly #lockedBy: string;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #pending: AttemptCompletion[] = [];
  /** Parallel to #pending: told whether each outcome landed or was fenced off. */
  #callbacks: (OnWritten | undefined)[] = [];
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #onWritten: (() => void) | undefined;
  readonly #before: (() => Promise<void> | undefined) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The one loop that writes, while outcomes wait; at most one runs at a time. */
  #pump: Promise<void> | undefined;
  /**
   * Aborted with `flush(signal)`'s signal: a write that keeps failing gives up, and one waiting
   * to be retried (begun before the flush, too) stops waiting.
   */
  readonly #givingUp = new AbortController();
  #writing = 0;
  #settled = 0;
  /** Outcomes the database refused on their own, retried apart from the pump (#retryApart). */
  readonly #apart = new Set<Promise<void>>();

  constructor(
    runtime: Runtime,
    lockedBy: string,
    options: {
      flushMs: number;
      maxBatch?: number;
      onError?: (error: unknown) => void;
      /** After each write that landed. */
      onWritten?: (() => void) | undefined;
      /** What a write waits for first: the lease keeper's heartbeat under way (`beating`). */
      before?: () => Promise<void> | undefined;
    },
  ) {
    this.#onError = options.onError;
    this.#onWritten = options.onWritten;
    this.#before = options.before;
    this.#runtime = runtime;
    this.#lockedBy = lockedBy;
    this.#flushMs = options.flushMs;
    this.#maxBatch = options.maxBatch ?? Completer.maxBatch;
  }

  /** Outcomes not yet written: waiting, in the write under way, and retried apart. */
  get size(): number {
    return this.#pending.length + this.#writing + this.#apart.size;
  }

  /**
   * Outcomes whose write has ended (landed, fenced off or dropped), in the order they were added
   * (but for one retried apart, which settles when its write does): the outcome added when
   * `added` was n is settled once this reaches n.
   */
  get settled(): number {
    return this.#settled;
  }

  /** Outcomes ever added. */
  get added(): number {
    return this.#settled + this.size;
  }

  /** Queues an outcome; `flush()` resolves once everything queued before it is written. */
  add(completion: AttemptCompletion, onWritten?: OnWritten): void {
    this.#pending.push(completion);
    this.#callbacks.push(onWritten);
    // Otherwise the running pump takes this one on its next turn.
    if (!this.#pump) this.#schedule();
  }

  /**
   * With no write under way: one now if a batch is full, else one after `flushMs`. A method of
   * its own, out of the hot path above: a branch first taken after V8 optimized add() and the
   * run code it is inlined into sent them back to be compiled again.
   */
  #schedule(): void {
    if (this.#pending.length >= this.#maxBatch) this.#startPump();
    else this.#timer ??= setTimeout(() => this.#startPump(), this.#flushMs);
  }

  /**
   * Writes everything collected so far; retries a failed write until it succeeds or `signal`
   * aborts (then the outcomes left are dropped: their leases run out and the tasks run again).
   */
  async flush(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) this.#givingUp.abort(signal.reason);
    signal?.addEventListener('abort', () => this.#givingUp.abort(signal.reason), { once: true });
    while (this.#pending.length > 0 || this.#pump) {
      this.#startPump();
      await this.#pump;
      if (signal?.aborted) break;
    }
    await Promise.all(this.#apart);
  }

  #startPump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pump || this.#pending.length === 0) return;
    // A loop, not a recursion: under a steady stream of outcomes it never ends, and a chain of
    // awaiting frames would keep every batch it ever wrote alive until it did.
    this.#pump = (async () => {
      while (this.#pending.length > 0) {
        // Bounded statements: a backlog that built up during a slow write goes out in chunks.
        const batch = this.#pending.splice(0, this.#maxBatch);
        const callbacks = this.#callbacks.splice(0, batch.length);
        this.#writing = batch.length;
        let apart = 0;
        try {
          apart = await this.#write(batch, callbacks);
        } finally {
          this.#writing = 0;
          this.#settled += batch.length - apart;
        }
        this.#onWritten?.();
        if (this.#givingUp.signal.aborted) {
          for (const callback of this.#callbacks.splice(0)) callback?.(false, false);
          this.#settled += this.#pending.length;
          this.#pending = [];
        }
      }
    })().finally(() => {
      this.#pump = undefined;
    });
  }

  /**
   * Writes successes and the other outcomes apart: they are two statements, not one transaction,
   * and a batch retried whole after the second failed found the first's rows already written,
   * and reported them lost (said to run again, with no `succeeded` event) though they had landed.
   */
  async #write(batch: AttemptCompletion[], callbacks: (OnWritten | undefined)[]): Promise<number> {
    let others = 0;
    for (const completion of batch) if (completion.status !== 'succeeded') others += 1;
    if (others === 0 || others === batch.length) return this.#writeGroup(batch, callbacks);
    const succeeded: AttemptCompletion[] = [];
    const succeededCallbacks: (OnWritten | undefined)[] = [];
    const rest: AttemptCompletion[] = [];
    const restCallbacks: (OnWritten | undefined)[] = [];
    batch.forEach((completion, i) => {
      const succeededOne = completion.status === 'succeeded';
      (succeededOne ? succeeded : rest).push(completion);
      (succeededOne ? succeededCallbacks : restCallbacks).push(callbacks[i]);
    });
    return (
      (await this.#writeGroup(succeeded, succeededCallbacks)) +
      (await this.#writeGroup(rest, restCallbacks))
    );
  }

  /**
   * Writes a batch of successes, or of other outcomes, retrying while the database cannot be
   * reached; returns how many of its outcomes went to be retried apart. A batch the database
   * refuses twice at once, with an error that is not a timeout, a deadlock or a broken connection
   * (the dialect's `isTransient`: those are retried as they are; a statement_timeout under a
   * second had counted as a refusal, and the outcome lost its message), while it answers other
   * statements holds an outcome no statement can write, such as a value a trigger of the user's refuses: it
   * is written in halves, so that the rest lands, and the one refused alone is retried apart from
   * the pump (#retryApart). Before, the pump retried it forever, and every outcome behind it
   * waited.
   */
  async #writeGroup(
    batch: AttemptCompletion[],
    callbacks: (OnWritten | undefined)[],
  ): Promise<number> {
    let refusals = 0;
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      const started = performance.now();
      try {
        this.#landed(
          batch,
          callbacks,
          await untilAborted(this.#complete(batch), this.#givingUp.signal),
        );
        return 0;
      } catch (error) {
        this.#runtime.logger.error(
          { error: describeError(error), batch: batch.length, retryInMs: delay },
          'could not record outcomes; retrying',
        );
        this.#onError?.(error);
        if (this.#givingUp.signal.aborted) {
          for (const callback of callbacks) callback?.(false, false);
          return 0;
        }
        const refused =
          !this.#runtime.driver.dialect.isTransient(error) &&
          performance.now() - started < refusalMs &&
          (await this.#answers());
        refusals = refused ? refusals + 1 : 0;
        if (refusals >= 2) {
          if (batch.length === 1) {
            this.#retryApart(batch[0]!, callbacks[0]);
            return 1;
          }
          const half = Math.ceil(batch.length / 2);
          return (
            (await this.#writeGroup(batch.slice(0, half), callbacks.slice(0, half))) +
            (await this.#writeGroup(batch.slice(half), callbacks.slice(half)))
          );
        }
        await sleep(delay, this.#givingUp.signal);
      }
    }
  }

  async #complete(batch: readonly AttemptCompletion[]): Promise<WrittenIds> {
    await this.#before?.();
    return this.#runtime.driver.run((connection) =>
      this.#runtime.executor(connection).attemptCompleteMany(this.#lockedBy, batch),
    );
  }

  #landed(
    batch: readonly AttemptCompletion[],
    callbacks: readonly (OnWritten | undefined)[],
    written: WrittenIds,
  ): void {
    const landed = new Set(written);
    const cancelled = written.cancelled === undefined ? undefined : new Set(written.cancelled);
    batch.forEach((completion, i) =>
      callbacks[i]?.(landed.has(completion.id), cancelled?.has(completion.id) === true),
    );
    if (written.length < batch.length) {
      this.#runtime.logger.warn(
        { lost: batch.length - written.length },
        'some outcomes were not recorded because their leases had run out; those tasks will run again',
      );
    }
  }

  /** Whether the database answers a statement at all: a primary-key read of no attempt. */
  async #answers(): Promise<boolean> {
    try {
      await this.#runtime.driver.run((connection) =>
        this.#runtime.executor(connection).attemptGet('0'),
      );
      return true;
    } catch {
      return false;
    }
  }

  /**
   * An outcome the database refuses on its own, written apart from the pump with its error's
   * message left out (the likeliest value to refuse), retried until it lands or is fenced off:
   * once its lease runs out (the keeper no longer extends it) the attempt is rescued, as a
   * crashed worker's would be, and the write finds no row of its own to change.
   */
  #retryApart(completion: AttemptCompletion, callback: OnWritten | undefined) {
    const className = /^[^:]{1,200}/.exec(completion.error ?? '')?.[0] ?? 'Error';
    const plain =
      completion.error === null
        ? completion
        : { ...completion, error: `${className}: [message not stored: the database refused it]` };
    const retry = (async () => {
      for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
        try {
          this.#landed(
            [plain],
            [callback],
            await untilAborted(this.#complete([plain]), this.#givingUp.signal),
          );
          return;
        } catch (error) {
          this.#runtime.logger.error(
            { attemptId: completion.id, error: describeError(error), retryInMs: delay },
            'the database refuses the outcome of this attempt; retrying it without its message',
          );
          if (this.#givingUp.signal.aborted) {
            callback?.(false, false);
            return;
          }
          await sleep(delay, this.#givingUp.signal);
        }
      }
    })().finally(() => {
      this.#apart.delete(retry);
      this.#settled += 1;
    });
    this.#apart.add(retry);
  }
}

/** A failed write that took less than this was refused, not kept waiting (a timeout). */
const refusalMs = 1000;

/** Waits `ms`, or until `signal` aborts (a stop's time limit does not wait out a backoff). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * `write`, or its signal's reason once that aborts first: a write the network never answers
 * must not hold a stop past its time limit. Such a write may still land; its outcomes are then
 * reported unwritten (their tasks may run again, which at-least-once allows).
 */
function untilAborted<T>(write: Promise<T>, signal: AbortSignal): Promise<T> {
  write.catch(() => undefined);
  let abort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    abort = () => reject(signal.reason as Error);
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
  return Promise.race([write, aborted]).finally(() => signal.removeEventListener('abort', abort));
}
