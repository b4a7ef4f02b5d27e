import type { AsyncTask } from '../async-task.js';
import {
  attemptStatuses,
  isAttemptId,
  toAttempt,
  type Attempt,
  type AttemptRecord,
  type AttemptStatus,
} from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { ConfigError } from '../core/errors.js';
import type { Encryptor } from '../core/encryptor.js';
import type { Logger } from '../core/logger.js';
import type { Executor } from '../seam/executor.js';

/** Any AsyncTask, whatever its transaction types and encryptors. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Tx appears in and out of methods
export type AnyTasks = AsyncTask<any, any, Record<string, Encryptor>>;

/** The attempts page's filters, as they travel in a query string. */
export interface AttemptFilter {
  readonly status?: AttemptStatus;
  readonly queue?: string;
  readonly target?: string;
  readonly method?: string;
  readonly token?: string;
}

export const filterKeys = ['status', 'queue', 'target', 'method', 'token'] as const;

/** Attempts per page. */
export const pageSize = 50;

/** Reads a filter from query-string or form fields; empty fields are no filter. */
export function parseFilter(get: (key: string) => string | null | undefined): AttemptFilter {
  const filter: Record<string, string> = {};
  for (const key of filterKeys) {
    const value = get(key)?.trim();
    if (value === undefined || value === '') continue;
    if (value.length > 500)
      throw new ConfigError(`the ${key} filter is longer than 500 characters`);
    filter[key] = value;
  }
  const status = filter['status'];
  if (status !== undefined && !attemptStatuses.includes(status as AttemptStatus)) {
    throw new ConfigError(
      `status must be one of ${attemptStatuses.join(', ')}, got ${JSON.stringify(status)}`,
    );
  }
  return filter;
}

/** A page cursor: an attempt id, or nothing. */
export function parseCursor(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (!isAttemptId(value))
    throw new ConfigError(`before must be an attempt id, got ${JSON.stringify(value)}`);
  return value;
}

/** One page of attempts, newest first, and the cursor of the next (older) page, if any. */
export async function attemptsPage(
  tasks: AnyTasks,
  filter: AttemptFilter,
  before: string | undefined,
  limit = pageSize,
): Promise<{ attempts: Attempt[]; next: string | null }> {
  const attempts = await tasks.list({
    limit,
    ...(filter.status && { status: filter.status }),
    ...(filter.queue !== undefined && { queue: filter.queue }),
    ...(filter.target !== undefined && { target: filter.target }),
    ...(filter.method !== undefined && { methodName: filter.method }),
    ...(filter.token !== undefined && { idempotenceToken: filter.token }),
    ...(before !== undefined && { before }),
  });
  const last = attempts.at(-1);
  return { attempts, next: attempts.length === limit && last ? last.id : null };
}

export interface QueueCounts {
  readonly queue: string;
  readonly counts: Partial<Record<AttemptStatus, { count: number; approximate: boolean }>>;
}

/** Counts per queue and status (`stats()`), one row per queue. */
export async function queueCounts(tasks: AnyTasks): Promise<QueueCounts[]> {
  const byQueue = new Map<string, QueueCounts['counts']>();
  for (const { queue, status, count, approximate } of await tasks.stats()) {
    const counts = byQueue.get(queue) ?? {};
    counts[status] = { count, approximate };
    byQueue.set(queue, counts);
  }
  return [...byQueue].map(([queue, counts]) => ({ queue, counts }));
}

/** Final outcomes per minute over the last hour, every minute present (epoch seconds for uPlot). */
export interface OutcomeSeries {
  readonly minutes: number[];
  readonly succeeded: number[];
  readonly failed: number[];
  /** Failed share of the minute's outcomes in percent; null for a minute without any. */
  readonly failureRate: (number | null)[];
}

const minuteMs = 60_000;

export async function outcomesLastHour(tasks: AnyTasks): Promise<OutcomeSeries> {
  const rows = await withExecutor(tasks, (executor) => executor.attemptOutcomesLastHour());
  const last = Math.floor(Date.now() / minuteMs) * minuteMs;
  const first = last - 59 * minuteMs;
  const series: OutcomeSeries = { minutes: [], succeeded: [], failed: [], failureRate: [] };
  for (let minute = first; minute <= last; minute += minuteMs) {
    series.minutes.push(minute / 1000);
    series.succeeded.push(0);
    series.failed.push(0);
  }
  for (const row of rows) {
    const index = Math.round((row.minute.getTime() - first) / minuteMs);
    if (index < 0 || index >= series.minutes.length) continue;
    series[row.status][index] = (series[row.status][index] ?? 0) + row.count;
  }
  series.succeeded.forEach((succeeded, index) => {
    const failed = series.failed[index] ?? 0;
    const total = succeeded + failed;
    series.failureRate.push(total === 0 ? null : Math.round((failed / total) * 1000) / 10);
  });
  return series;
}

/** A worker seen through the leases it holds now. */
export interface LeaseHolder {
  readonly worker: string;
  readonly running: number;
  readonly queues: string[];
  /** The latest lease expiry among its attempts. */
  readonly leasedUntil: Date | null;
}

/**
 * Workers that hold at least one lease now, from the running attempts (read through the lease
 * index). The table records no idle worker: a worker with nothing running does not appear.
 */
export async function leaseHolders(tasks: AnyTasks, limit = 1000): Promise<LeaseHolder[]> {
  const records = await withExecutor(tasks, (executor) => executor.attemptListLeased(limit));
  const holders = new Map<string, { running: number; queues: Set<string>; until: number }>();
  for (const record of records) {
    const worker = record.lockedBy ?? '(unknown)';
    const holder = holders.get(worker) ?? { running: 0, queues: new Set<string>(), until: 0 };
    holder.running += 1;
    holder.queues.add(record.queue);
    holder.until = Math.max(holder.until, record.lockedUntil?.getTime() ?? 0);
    holders.set(worker, holder);
  }
  return [...holders]
    .map(([worker, { running, queues, until }]) => ({
      worker,
      running,
      queues: [...queues].sort(),
      leasedUntil: until === 0 ? null : new Date(until),
    }))
    .sort((a, b) => (a.worker < b.worker ? -1 : a.worker > b.worker ? 1 : 0));
}

/** One attempt with its lease; never its stored (possibly encrypted) arguments. */
export interface AttemptDetail extends Attempt {
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
}

export async function attemptDetail(tasks: AnyTasks, id: string): Promise<AttemptDetail | null> {
  if (!isAttemptId(id)) return null;
  const record: AttemptRecord | null = await withExecutor(tasks, (executor) =>
    executor.attemptGet(id),
  );
  if (!record) return null;
  return {
    ...toAttempt(record, decodeArgs),
    lockedBy: record.lockedBy,
    lockedUntil: record.lockedUntil,
  };
}

/** One event of an attempt's life, as far as its row tells it (no per-run history is kept). */
export interface TimelineEvent {
  readonly at: Date;
  readonly what: string;
}

export function timeline(attempt: AttemptDetail): TimelineEvent[] {
  const events: TimelineEvent[] = [{ at: attempt.createdAt, what: 'enqueued' }];
  if (attempt.scheduledAt.getTime() !== attempt.createdAt.getTime()) {
    events.push({
      at: attempt.scheduledAt,
      what: attempt.status === 'pending' ? 'due (next run)' : 'due (last run)',
    });
  }
  if (attempt.lockedUntil && attempt.status === 'running') {
    events.push({
      at: attempt.lockedUntil,
      what: `run ${attempt.numAttempts} of ${attempt.maxAttempts} leased by ${attempt.lockedBy ?? '?'} until`,
    });
  }
  if (attempt.completedAt) {
    events.push({
      at: attempt.completedAt,
      what: `${attempt.status} after ${attempt.numAttempts} run(s)`,
    });
  }
  events.push({ at: attempt.updatedAt, what: 'last change' });
  return events.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** The AsyncTask's logger (what `logger` it was given, made unable to throw). */
export function loggerOf(tasks: AnyTasks): Logger {
  return tasks.runtime.logger;
}

function withExecutor<T>(tasks: AnyTasks, fn: (executor: Executor) => Promise<T>): Promise<T> {
  const { runtime } = tasks;
  return runtime.driver.run((connection) => fn(runtime.executor(connection)));
}
