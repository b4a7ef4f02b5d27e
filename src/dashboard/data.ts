import type { AsyncTask } from '../async-task.js';
import {
  attemptStatuses,
  isAttemptId,
  maxRunRecords,
  toAttempt,
  type Attempt,
  type AttemptRecord,
  type AttemptStatus,
  type RunRecord,
} from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { ConfigError } from '../core/errors.js';
import { unstorableCharacter } from '../core/storable-text.js';
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
    // Exact, never trimmed: tokens and method names may begin or end with spaces, and a trimmed
    // filter found (and acted on) another attempt than the one asked for.
    const value = get(key);
    if (value === undefined || value === null || value === '') continue;
    // Code points, as names are counted (a method name of 255 emoji is 510 UTF-16 units).
    if (value.length > 500 && [...value].length > 500)
      throw new ConfigError(`the ${key} filter is longer than 500 characters`);
    const unstorable = unstorableCharacter(value);
    if (unstorable !== undefined) {
      throw new ConfigError(`the ${key} filter holds a ${unstorable}, which no attempt holds`);
    }
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

/**
 * How many ids one page of a filtered search reads at most, when no index serves the filter (a
 * target, method or queue): such a search walks the primary key, and a filter that matches few
 * attempts would otherwise read the whole table for one page (a second on 6,000,000 rows). A
 * window of 100,000 reads in tens of milliseconds.
 */
export const searchWindow = 100_000n;

export interface AttemptsPage {
  readonly attempts: Attempt[];
  /** The cursor (`before`) of the next, older page; null at the end of the table. */
  readonly next: string | null;
  /** The page stopped at the end of its search window, not of the table: `next` searches on. */
  readonly partial: boolean;
}

/**
 * Whether only a bounded window of ids should be searched for this filter (see searchWindow). A
 * status alone is served by its partial index (succeeded: most rows, a page fills at once), and a
 * token with its target and method by the idempotence index. Anything else walks rows: a status
 * with a target walked every attempt of that status (a sequential scan behind a pending backlog),
 * and a token alone the whole idempotence index, which leads with target and method.
 */
function windowed(filter: AttemptFilter): boolean {
  const keys = Object.keys(filter);
  if (keys.length === 0) return false;
  if (keys.length === 1 && filter.status !== undefined) return false;
  return !(
    filter.token !== undefined &&
    filter.target !== undefined &&
    filter.method !== undefined
  );
}

/** One page of attempts, newest first: at most `limit`, older than `before` when given. */
export async function attemptsPage(
  tasks: AnyTasks,
  filter: AttemptFilter,
  before: string | undefined,
  limit = pageSize,
): Promise<AttemptsPage> {
  const list = (
    where: AttemptFilter,
    beforeId: string | null,
    afterId: string | null,
    count: number,
  ) =>
    withExecutor(tasks, (executor) =>
      executor.attemptList({
        status: where.status ?? null,
        target: where.target ?? null,
        methodName: where.method ?? null,
        queue: where.queue ?? null,
        idempotenceToken: where.token ?? null,
        beforeId,
        afterId,
        limit: count,
      }),
    );
  let afterId: string | null = null;
  if (windowed(filter)) {
    const upper = before ?? (await list({}, null, null, 1))[0]?.id; // the newest
    if (upper === undefined) return { attempts: [], next: null, partial: false };
    const lower = BigInt(upper) - (before === undefined ? 0n : 1n) - searchWindow;
    afterId = lower > 0n ? String(lower) : null;
    before ??= String(BigInt(upper) + 1n);
  }
  const records = await list(filter, before ?? null, afterId, limit);
  const attempts = records.map((record) => toAttempt(record, decodeArgs));
  const last = attempts.at(-1);
  if (attempts.length === limit && last) return { attempts, next: last.id, partial: false };
  if (afterId !== null) return { attempts, next: String(BigInt(afterId) + 1n), partial: true };
  return { attempts, next: null, partial: false };
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

/** One event of an attempt's life: from its row, and from its run history. */
export interface TimelineEvent {
  readonly at: Date;
  readonly what: string;
  /** A recorded run that did not succeed: the page shows its times, outcome and error. */
  readonly run?: RunRecord;
}

/**
 * The attempt's life in time order: enqueued, each run its history kept (the last
 * {@link maxRunRecords} that did not succeed), the run under way with its lease, the next due time,
 * and how it ended. A run that succeeded has no entry of its own: the final outcome stands for it.
 */
export function timeline(attempt: AttemptDetail): TimelineEvent[] {
  const events: TimelineEvent[] = [{ at: attempt.createdAt, what: 'enqueued' }];
  const first = attempt.runs[0];
  if (first && first.n > 1) {
    events.push({
      at: first.startedAt ?? first.endedAt,
      what: `runs before ${first.n} not kept (the history keeps the last ${maxRunRecords} that did not succeed)`,
    });
  }
  for (const run of attempt.runs) {
    events.push({ at: run.startedAt ?? run.endedAt, what: `run ${run.n}: ${run.outcome}`, run });
  }
  if (attempt.status === 'running') {
    // The claim wrote updated_at; only a cancel request changes it while the run goes on.
    events.push({
      at: attempt.updatedAt,
      what: `run ${attempt.numAttempts} of ${attempt.maxAttempts} started by ${attempt.lockedBy ?? '?'}, leased until ${utcTime(attempt.lockedUntil)}`,
    });
  }
  if (
    attempt.status === 'pending' &&
    attempt.scheduledAt.getTime() !== attempt.createdAt.getTime()
  ) {
    events.push({ at: attempt.scheduledAt, what: 'due (next run)' });
  }
  if (attempt.completedAt) {
    events.push({
      at: attempt.completedAt,
      what: `${attempt.status} after ${attempt.numAttempts} run(s)`,
    });
  }
  return events.sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** A run's length, for people: milliseconds under a second, then seconds, then minutes. */
export function runDuration(run: RunRecord): string {
  if (run.startedAt === null) return 'unknown';
  const ms = Math.max(0, run.endedAt.getTime() - run.startedAt.getTime());
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A time in UTC, to the millisecond; a dash for none. */
function utcTime(date: Date | null): string {
  return date === null ? '—' : `${date.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
}

/** The AsyncTask's logger (what `logger` it was given, made unable to throw). */
export function loggerOf(tasks: AnyTasks): Logger {
  return tasks.runtime.logger;
}

/** Runs `fn` with an executor on a connection of the AsyncTask's pool. */
export function withExecutor<T>(
  tasks: AnyTasks,
  fn: (executor: Executor) => Promise<T>,
): Promise<T> {
  const { runtime } = tasks;
  return runtime.driver.run((connection) => fn(runtime.executor(connection)));
}
