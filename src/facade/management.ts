import {
  allowedFrom,
  attemptStatuses,
  isAttemptId,
  toAttempt,
  type Attempt,
  type AttemptRecord,
  type AttemptStatus,
} from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { ConfigError, DecryptionError, InvalidStateError } from '../core/errors.js';
import { decryptedErrorText, isEncryptedErrorText } from '../core/error-text.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import { shortestRetentionMs } from '../core/retention.js';
import type { WorkerInfo } from '../core/worker-info.js';
import type { AttemptPruneParams, Executor } from '../seam/executor.js';
import type { Runtime } from '../worker/runtime.js';

export interface ListOptions {
  readonly status?: AttemptStatus;
  readonly target?: string;
  readonly methodName?: string;
  readonly queue?: string;
  /** Only the attempt(s) enqueued with this idempotence token. */
  readonly idempotenceToken?: string;
  /** Cursor: only attempts older than this id (pass the last id of the previous page). */
  readonly before?: string;
  /** @defaultValue 50 (at most 1000) */
  readonly limit?: number;
}

/** How many attempts have one status in one queue (see `stats()`). */
export interface AttemptStats {
  readonly status: AttemptStatus;
  readonly queue: string;
  readonly count: number;
  /**
   * True when `count` is an estimate: only ever for `succeeded`, and only on a large table, where
   * counting them exactly would read the whole table. Every other count is exact.
   */
  readonly approximate: boolean;
}

export interface PruneOptions {
  /** Deletes finished attempts (`succeeded`, `failed`, `expired`) completed before this time. */
  readonly olderThan: Date;
  /** Most rows one DELETE removes; each batch is its own short statement. @defaultValue 1000 */
  readonly batchSize?: number;
  /** Called after each batch with the number deleted so far. */
  readonly onProgress?: (deleted: number) => void;
}

const listOptionNames = optionNames<ListOptions>({
  status: true,
  target: true,
  methodName: true,
  queue: true,
  idempotenceToken: true,
  before: true,
  limit: true,
});

const pruneOptionNames = optionNames<PruneOptions>({
  olderThan: true,
  batchSize: true,
  onProgress: true,
});

/** What `tasks.cancel(id)` did. */
export type CancelResult =
  /** It was pending: now `expired` with last error 'Cancelled'; it never runs. */
  | { readonly outcome: 'cancelled'; readonly attempt: Attempt }
  /**
   * It was running: its handler's `ctx.signal` aborts (with a CancelledError) and the attempt
   * ends `expired` ('Cancelled') when the handler returns or throws. `attempt` is still running.
   */
  | { readonly outcome: 'requested'; readonly attempt: Attempt }
  /** It had already succeeded, failed or expired: nothing changed. */
  | { readonly outcome: 'finished'; readonly attempt: Attempt }
  /** No attempt has this id. */
  | { readonly outcome: 'not-found'; readonly attempt: null };

const statusOrder = new Map(attemptStatuses.map((status, index) => [status, index]));

/**
 * What operators do to attempts outside any task: read them, move them between states, count
 * and prune them. Each call runs on the driver's pool, in autocommit mode.
 */
export class Management {
  readonly #runtime: Runtime;

  constructor(runtime: Runtime) {
    this.#runtime = runtime;
  }

  async get(id: string): Promise<Attempt | null> {
    if (!isAttemptId(id)) return null;
    const record = await this.#run((executor) => executor.attemptGet(id));
    return record ? toAttempt(record, decodeArgs) : null;
  }

  async decryptLastError(id: string): Promise<string | null> {
    if (!isAttemptId(id)) return null;
    const record = await this.#run((executor) => executor.attemptGet(id));
    if (!record) return null;
    if (!isEncryptedErrorText(record.lastError)) return record.lastError;
    let ownError: Error | undefined;
    if (record.encryptor !== null) {
      try {
        const own = this.#runtime.encryptors.get(record.encryptor);
        return await decryptedErrorText(record.lastError, record.encryptor, own);
      } catch (error) {
        // decryptedErrorText throws DecryptionErrors only.
        ownError = error instanceof Error ? error : new DecryptionError(String(error));
      }
    }
    // A `replace` may have changed the encryptor, or made the task plain, after it was written.
    const text = await this.#decryptedByAnother(record.lastError, record.encryptor);
    if (text !== undefined) return text;
    throw (
      ownError ??
      new DecryptionError(
        `attempt ${id}'s last error was encrypted before a replace made the task plain, and none of this AsyncTask's encryptors decrypts it; add the key it was written with`,
      )
    );
  }

  /** The text decrypted by the first encryptor but `except` that can, or undefined. */
  async #decryptedByAnother(
    text: string | null,
    except: string | null,
  ): Promise<string | undefined> {
    for (const [name, codec] of this.#runtime.encryptors) {
      if (name === except) continue;
      const decrypted = await decryptedErrorText(text, name, codec).catch(() => undefined);
      if (typeof decrypted === 'string') return decrypted;
    }
    return undefined;
  }

  async list(options: ListOptions): Promise<Attempt[]> {
    checkOptionNames(options, listOptionNames, 'list');
    const { status, target, methodName, queue, idempotenceToken, before, limit = 50 } = options;
    if (status !== undefined && !attemptStatuses.includes(status)) {
      throw new ConfigError(
        `list: status must be one of ${attemptStatuses.join(', ')}, got ${JSON.stringify(status)}`,
      );
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new ConfigError(`list: limit must be an integer from 1 to 1000, got ${limit}`);
    }
    if (before !== undefined && !isAttemptId(before)) {
      throw new ConfigError(`list: before must be an attempt id, got ${JSON.stringify(before)}`);
    }
    const records = await this.#run((executor) =>
      executor.attemptList({
        status: status ?? null,
        target: target ?? null,
        methodName: methodName ?? null,
        queue: queue ?? null,
        beforeId: before ?? null,
        idempotenceToken: idempotenceToken ?? null,
        limit,
      }),
    );
    return records.map((record) => toAttempt(record, decodeArgs));
  }

  expire(id: string): Promise<Attempt> {
    return this.#transition(id, 'expire', (executor) =>
      executor.attemptSetFinalIfPending(id, 'expired'),
    );
  }

  fail(id: string): Promise<Attempt> {
    return this.#transition(id, 'fail', (executor) =>
      executor.attemptSetFinalIfPending(id, 'failed'),
    );
  }

  async cancel(id: string): Promise<CancelResult> {
    if (!isAttemptId(id)) return { outcome: 'not-found', attempt: null };
    // A retry() between the two reads can make a finished attempt pending again: look once more.
    for (let tries = 0; ; tries += 1) {
      const record = await this.#run((executor) => executor.attemptCancel(id));
      if (record) {
        const attempt = toAttempt(record, decodeArgs);
        if (record.status === 'expired') this.#runtime.telemetry?.recorded(record, 'expired');
        return record.status === 'expired'
          ? { outcome: 'cancelled', attempt }
          : { outcome: 'requested', attempt };
      }
      const current = await this.#run((executor) => executor.attemptGet(id));
      if (!current) return { outcome: 'not-found', attempt: null };
      if (tries === 2 || (current.status !== 'pending' && current.status !== 'running')) {
        return { outcome: 'finished', attempt: toAttempt(current, decodeArgs) };
      }
    }
  }

  retry(id: string): Promise<Attempt> {
    return this.#transition(id, 'retry', (executor) => executor.attemptSetPendingIfFinished(id));
  }

  async stats(): Promise<AttemptStats[]> {
    const rows = await this.#run((executor) => executor.attemptStats());
    return rows
      .map(({ status, queue, count, approximate }) => ({ status, queue, count, approximate }))
      .sort(
        (a, b) =>
          (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0) ||
          (statusOrder.get(a.status) ?? 0) - (statusOrder.get(b.status) ?? 0),
      );
  }

  workers(): Promise<WorkerInfo[]> {
    return this.#run((executor) => executor.workerListAlive());
  }

  async prune(options: PruneOptions): Promise<number> {
    checkOptionNames(options ?? {}, pruneOptionNames, 'prune');
    const { olderThan, batchSize = 1000, onProgress } = options ?? {};
    if (!(olderThan instanceof Date) || Number.isNaN(olderThan.getTime())) {
      throw new ConfigError('prune: olderThan must be a valid Date');
    }
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
      throw new ConfigError(
        `prune: batchSize must be an integer from 1 to 100000, got ${batchSize}`,
      );
    }
    if (onProgress !== undefined && typeof onProgress !== 'function') {
      throw new ConfigError('prune: onProgress must be a function (deleted) => void');
    }
    // A schedule cannot tell a tick whose attempt was pruned from one never enqueued: within the
    // shortest retention, runDue or a starting worker would enqueue it, and run it, again.
    const { schedules, retention } = this.#runtime;
    const keptMs = schedules.length > 0 && retention !== null && shortestRetentionMs(retention);
    if (typeof keptMs === 'number' && olderThan.getTime() > Date.now() - keptMs) {
      throw new ConfigError(
        `prune: olderThan ${olderThan.toISOString()} is within the shortest retention (${keptMs} ms) of an AsyncTask with schedules: a tick pruned that soon would be enqueued and run again; prune attempts older than the retention, or lower \`retention\``,
      );
    }
    let deleted = 0;
    let afterId: string | null = '0';
    while (afterId !== null) {
      const params: AttemptPruneParams = { before: olderThan, afterId, limit: batchSize };
      const batch = await this.#run((executor) => executor.attemptPrune(params));
      deleted += batch.deleted;
      onProgress?.(deleted);
      afterId = batch.nextAfterId;
    }
    return deleted;
  }

  #run<T>(fn: (executor: Executor) => Promise<T>): Promise<T> {
    return this.#runtime.driver.run((connection) => fn(this.#runtime.executor(connection)));
  }

  async #transition(
    id: string,
    action: keyof typeof allowedFrom,
    write: (executor: Executor) => Promise<AttemptRecord | null>,
  ): Promise<Attempt> {
    let current: AttemptRecord | null = null;
    // The write checks the status itself; the read after a refusal says why. A worker (or
    // another operator) may have moved the attempt into an allowed status in between: the
    // message would then contradict itself, so the write is tried again instead.
    for (let tries = 0; isAttemptId(id) && tries < 3; tries++) {
      const record = await this.#run(write);
      if (record) {
        if (action !== 'retry') {
          this.#runtime.telemetry?.recorded(record, action === 'expire' ? 'expired' : 'failed');
        }
        return toAttempt(record, decodeArgs);
      }
      current = await this.#run((executor) => executor.attemptGet(id));
      if (!current || !(allowedFrom[action] as readonly string[]).includes(current.status)) break;
    }
    const from = allowedFrom[action].join(' or ');
    throw new InvalidStateError(
      id,
      current?.status ?? null,
      current
        ? `cannot ${action} attempt ${id}: it is ${current.status}, and only a ${from} attempt can be ${action === 'retry' ? 'retried' : action === 'fail' ? 'failed' : 'expired'}`
        : `cannot ${action} attempt ${id}: no such attempt`,
    );
  }
}
