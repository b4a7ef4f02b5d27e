import type { AsyncTask } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import { ConfigError } from '../core/errors.js';
import { checkOptionNames, integerOption, optionNames } from '../core/options.js';
import { checkQueue } from '../core/target.js';
import type { AttemptInsertResult } from '../seam/executor.js';
import type { Runtime } from '../worker/runtime.js';
import { DrainLimitError, drainRuntime, type DrainRun } from './drain.js';

const integer = integerOption('runInline');

/** Longest wait between two looks at an enqueue that has not become visible. */
const maxCheckDelayMs = 1000;

export interface RunInlineOptions {
  /** Only perform attempts of these queues. @defaultValue every queue */
  readonly queues?: readonly string[];
  /** Most runs of one drain (see `drain`'s `maxRuns`). @defaultValue 1000 */
  readonly maxRuns?: number;
  /**
   * How soon after an enqueue it first looks whether the enqueue's transaction has committed;
   * later looks at the same enqueue back off, doubling up to one second. @defaultValue 5
   */
  readonly pollMs?: number;
}

/** A running `runInline`: see there. */
const runInlineOptionNames = optionNames<RunInlineOptions>({
  queues: true,
  maxRuns: true,
  pollMs: true,
});

export interface InlineRunner {
  /** Every run so far, in order. */
  readonly runs: readonly DrainRun[];
  /**
   * Looks at once at every enqueue not yet seen committed, performs what has committed (and
   * everything else due, and what those runs enqueue), and resolves once nothing is left to do:
   * every enqueue whose transaction committed before the call has run, with its outcome written.
   * Enqueues not visible then (rolled back, or in a transaction still open) are not waited for.
   * Returns the runs made since the previous `idle()`.
   *
   * @throws whatever a background drain failed with (a DrainLimitError, a DatabaseError), once
   */
  idle(): Promise<readonly DrainRun[]>;
  /** Stops watching; waits for a drain under way. Throws a background failure `idle()` has not. */
  stop(): Promise<void>;
}

interface Watched {
  readonly id: string;
  readonly target: string;
  readonly methodName: string;
  nextCheck: number;
  delay: number;
}

/**
 * Inline mode: each task enqueued through `tasks` in this process is performed right after its
 * enqueuing transaction commits, and never if it rolls back.
 *
 * How it knows: after each enqueue's INSERT, it looks for the new attempt through the driver's
 * pool, from a connection of its own, which sees only committed rows. The attempt is visible
 * there once, and only once, its transaction has committed; one that rolled back never is. The
 * first look is `pollMs` after the enqueue, later ones back off (up to a second) while it stays
 * invisible. As soon as one is visible, a drain (the same as `drain(tasks)`, one run at a time)
 * performs it, everything else due, and what those runs enqueue. Runs happen in the background:
 * `await runner.idle()` is the deterministic point where a test has them all (see there). A
 * failed run is retried after its backoff like any other (`advanceTime`, then `idle()`).
 *
 * @example
 * const inline = runInline(tasks);
 * await db.transaction((tx) => signUp(tx, 'a@example.com')); // enqueues Mailer.send
 * await inline.idle();
 * expect(sentMail).toEqual(['a@example.com']);
 * await inline.stop();
 */
export function runInline<Tx, HandlerTx, Encryptors extends Record<string, Encryptor>>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  options: RunInlineOptions = {},
): InlineRunner {
  const given: unknown = options;
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError(
      'runInline: options must be an object such as { pollMs: 5 }, or left out',
    );
  }
  checkOptionNames(options, runInlineOptionNames, 'runInline');
  const runner = new Inline(tasks.runtime, () => tasks.ensureSchema(), {
    queues: options.queues ? options.queues.map((q) => checkQueue(q, 'runInline')) : null,
    maxRuns: integer(options.maxRuns, 1000, 'maxRuns', 1, 1_000_000),
    pollMs: integer(options.pollMs, 5, 'pollMs', 1, 60_000),
  });
  runner.unsubscribe = tasks.observeEnqueues((results) => runner.observed(results));
  return runner;
}

class Inline implements InlineRunner {
  readonly runs: DrainRun[] = [];
  unsubscribe: (() => void) | undefined;
  readonly #runtime: Runtime;
  readonly #ensureSchema: () => Promise<void>;
  readonly #queues: readonly string[] | null;
  readonly #maxRuns: number;
  readonly #pollMs: number;
  readonly #watched = new Map<string, Watched>();
  #timer: NodeJS.Timeout | undefined;
  /** Looks and drains run one after another, never two at once. */
  #chain: Promise<unknown> = Promise.resolve();
  #failure: { error: unknown } | undefined;
  #reported = 0;
  #stopped = false;

  constructor(
    runtime: Runtime,
    ensureSchema: () => Promise<void>,
    options: { queues: readonly string[] | null; maxRuns: number; pollMs: number },
  ) {
    this.#runtime = runtime;
    this.#ensureSchema = ensureSchema;
    this.#queues = options.queues;
    this.#maxRuns = options.maxRuns;
    this.#pollMs = options.pollMs;
  }

  observed(results: readonly AttemptInsertResult[]): void {
    if (this.#stopped) return;
    const now = Date.now();
    for (const { record, inserted } of results) {
      if (!inserted) continue;
      this.#watched.set(record.id, {
        id: record.id,
        target: record.target,
        methodName: record.methodName,
        nextCheck: now + this.#pollMs,
        delay: this.#pollMs,
      });
    }
    this.#schedule();
  }

  async idle(): Promise<readonly DrainRun[]> {
    // The first look drains whatever it finds; later ones only while enqueues keep turning up
    // committed (those made by the runs of the drain before, or from outside meanwhile).
    for (let first = true; ; first = false) {
      for (const watched of this.#watched.values()) watched.nextCheck = 0;
      if (!(await this.#serially(() => this.#look(first)))) break;
    }
    this.#throwFailure();
    const since = this.runs.slice(this.#reported);
    this.#reported = this.runs.length;
    return since;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watched.clear();
    await this.#chain;
    this.#throwFailure();
  }

  #throwFailure(): void {
    const failure = this.#failure;
    if (!failure) return;
    this.#failure = undefined;
    throw failure.error;
  }

  /** Sets the timer for the earliest look due. */
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#watched.size === 0) return;
    const next = Math.min(...[...this.#watched.values()].map((w) => w.nextCheck));
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.#serially(() => this.#look(false));
      },
      Math.max(0, next - Date.now()),
    );
    // Looks for an enqueue that may never commit must not keep a test process alive.
    this.#timer.unref();
  }

  /** Runs `fn` after whatever runs now; a failure is kept for `idle()` or `stop()`. */
  #serially(fn: () => Promise<boolean>): Promise<boolean> {
    const run = this.#chain.then(fn).then(
      (committed) => committed,
      (error: unknown) => {
        this.#failure ??= { error };
        return false;
      },
    );
    this.#chain = run.finally(() => this.#schedule());
    return run;
  }

  /**
   * Looks for the enqueues due a look; when one has committed (or `drainAnyway`), drains.
   * Returns whether one had committed.
   */
  async #look(drainAnyway: boolean): Promise<boolean> {
    const now = Date.now();
    const due = [...this.#watched.values()].filter((w) => w.nextCheck <= now);
    let committed = false;
    for (const watched of due) {
      const record = await this.#runtime.driver.run((connection) =>
        this.#runtime.executor(connection).attemptGet(watched.id),
      );
      if (record?.target === watched.target && record.methodName === watched.methodName) {
        this.#watched.delete(watched.id);
        committed = true;
      } else {
        watched.delay = Math.min(watched.delay * 2, maxCheckDelayMs);
        watched.nextCheck = Date.now() + watched.delay;
      }
    }
    if (this.#stopped || (!committed && !drainAnyway)) return committed;
    await this.#ensureSchema();
    try {
      const result = await drainRuntime(this.#runtime, this.#queues, this.#maxRuns);
      this.runs.push(...result.runs);
    } catch (error) {
      if (error instanceof DrainLimitError) this.runs.push(...error.result.runs);
      throw error;
    }
    return committed;
  }
}
