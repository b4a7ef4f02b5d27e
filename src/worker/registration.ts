import { hostname } from 'node:os';
import { describeError } from '../core/errors.js';
import type { Executor, WorkerBeatParams } from '../seam/executor.js';
import type { Runtime } from './runtime.js';

export interface RegistrationOptions {
  readonly id: string;
  /** Null: every queue. */
  readonly queues: readonly string[] | null;
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  /** Attempts held now (claimed and leased), read at each beat. */
  readonly held: () => number;
  /** A registry write failed (after it was logged). */
  readonly onError: (error: unknown) => void;
}

/**
 * Keeps this worker's row in the worker registry (`tasks.workers()`): written when the worker
 * starts, refreshed every heartbeat interval (one write, whatever the worker holds; nothing per
 * task), deleted when it stops. The row stays alive for three intervals after each beat, at least
 * a lease, so one slow or failed beat does not hide a worker. A failed write is logged and
 * reported, and changes nothing else: the registry is for operators, never in a task's way.
 */
export class Registration {
  readonly #runtime: Runtime;
  readonly #options: RegistrationOptions;
  readonly #row: Omit<WorkerBeatParams, 'running'>;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;

  constructor(runtime: Runtime, options: RegistrationOptions) {
    this.#runtime = runtime;
    this.#options = options;
    this.#row = {
      id: options.id,
      hostname: hostname(),
      pid: process.pid,
      queues: options.queues,
      concurrency: options.concurrency,
      aliveMs: Math.max(3 * options.heartbeatMs, options.leaseMs),
    };
  }

  /** Writes the row, then keeps it fresh on a timer. */
  async start(): Promise<void> {
    this.#timer = setInterval(() => void this.beat(), this.#options.heartbeatMs);
    this.#timer.unref();
    await this.beat();
  }

  /** One beat; a beat still writing makes this one a no-op (the next comes an interval later). */
  async beat(): Promise<void> {
    if (this.#writing) return;
    const params = { ...this.#row, running: this.#options.held() };
    await this.#write('could not write the worker registry; will try again', (executor) =>
      executor.workerBeat(params),
    );
  }

  /** Stops beating and deletes the row. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#writing;
    await this.#write('could not remove this worker from the worker registry', (executor) =>
      executor.workerDelete(this.#row.id),
    );
  }

  async #write(failure: string, write: (executor: Executor) => Promise<void>): Promise<void> {
    this.#writing = this.#runtime.driver
      .run((connection) => write(this.#runtime.executor(connection)))
      .catch((error: unknown) => {
        this.#runtime.logger.warn({ workerId: this.#row.id, error: describeError(error) }, failure);
        this.#options.onError(error);
      })
      .finally(() => {
        this.#writing = undefined;
      });
    await this.#writing;
  }
}
