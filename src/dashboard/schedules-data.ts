import type { AttemptStatus } from '../core/attempt.js';
import { inTimeZone, scheduleSummary, type ScheduleSummary } from '../core/schedule-summary.js';
import { tickToken, type ScheduleDefinition } from '../core/schedule.js';
import type { QueueFlow } from '../core/flow.js';
import type { Executor, StartCount } from '../seam/executor.js';
import { queueCounts, withExecutor, type AnyTasks } from './data.js';

/** Next ticks shown per schedule. */
export const nextTicks = 3;
/**
 * Ticks looked up by their exact tokens where the idempotence index cannot be read as a range
 * (MySQL's holds hashes): the newest enqueued tick is found if it is one of the last this many.
 */
export const recentTicks = 100;

/** The attempt of a schedule's newest enqueued tick. */
export interface LastTick {
  readonly tick: Date;
  readonly attemptId: string;
  readonly status: AttemptStatus;
}

export interface ScheduleRow extends Omit<ScheduleSummary, 'next'> {
  readonly next: { readonly at: Date; readonly inZone: string }[];
  /** null: no attempt of this schedule's ticks is in the table (not yet, or pruned). */
  readonly lastTick: LastTick | null;
}

/**
 * The AsyncTask's schedules as `async-task schedules` lists them, each with its newest enqueued
 * tick: the attempt with the greatest tick token (see tickToken) of the schedule's method, read
 * through the idempotence index.
 */
export async function scheduleRows(tasks: AnyTasks, now = new Date()): Promise<ScheduleRow[]> {
  const { schedules, defaultQueue } = tasks.runtime;
  if (schedules.length === 0) return [];
  // One connection, one index lookup per schedule after another: a long list of schedules does
  // not take the pool's every connection at once.
  return withExecutor(tasks, async (executor) => {
    const rows: ScheduleRow[] = [];
    for (const schedule of schedules) {
      const summary = scheduleSummary(schedule, nextTicks, now, defaultQueue);
      const lastTick =
        summary.target === null || summary.method === null
          ? null
          : await newestTick(executor, schedule, summary.target, summary.method, now);
      rows.push({
        ...summary,
        next: summary.next.map((at) => ({ at, inZone: inTimeZone(at, schedule.timezone) })),
        lastTick,
      });
    }
    return rows;
  });
}

async function newestTick(
  executor: Executor,
  schedule: ScheduleDefinition,
  target: string,
  methodName: string,
  now: Date,
): Promise<LastTick | null> {
  // Every tick token is the prefix and an ISO instant of 24 characters: the range spans them all.
  const tokenFrom = tickToken(schedule.name, new Date('0000-01-01T00:00:00.000Z'));
  const tokenTo = tickToken(schedule.name, new Date('9999-12-31T23:59:59.999Z'));
  const recent = schedule.cron.previousRuns(recentTicks, new Date(now.getTime() + 1));
  const record = await executor.attemptGetLastInTokenRange({
    target,
    methodName,
    tokenFrom,
    tokenTo,
    tokenPrefix: tokenFrom.slice(0, -24),
    recentTokens: recent.map((tick) => tickToken(schedule.name, tick)),
  });
  if (record === null) return null;
  const token = record.idempotenceToken ?? '';
  return { tick: new Date(token.slice(-24)), attemptId: record.id, status: record.status };
}

/** A queue's flow control (the AsyncTask's `queues`) and where it stands now. */
export interface QueueLimit {
  readonly queue: string;
  /** Most running across the queue; null: no limit. */
  readonly concurrency: number | null;
  readonly running: number;
  /** Most running per concurrency key (attempts without a key are not limited by it). */
  readonly keyConcurrency: number;
  readonly fairness: 'key' | null;
  readonly rateLimit: QueueFlow['rateLimit'];
  /** The starts in the rate limit's current window; null without a rate limit. */
  readonly started: StartCount | null;
  /** Pending attempts, due or not. */
  readonly pending: number;
}

/**
 * Each queue with flow control, by name, with its running and pending attempts (the exact counts
 * of `stats()`) and, when rate-limited, the starts its claims count now.
 */
export async function queueLimits(tasks: AnyTasks): Promise<QueueLimit[]> {
  const flows = [...tasks.runtime.flows.values()].sort((a, b) =>
    a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0,
  );
  if (flows.length === 0) return [];
  const counts = new Map((await queueCounts(tasks)).map((row) => [row.queue, row.counts]));
  return Promise.all(
    flows.map(async (flow) => {
      const { rateLimit } = flow;
      const started =
        rateLimit === null
          ? null
          : await withExecutor(tasks, (executor) =>
              executor.startCount(flow.queue, rateLimit.periodMs),
            );
      const queueCounts = counts.get(flow.queue) ?? {};
      return {
        queue: flow.queue,
        concurrency: flow.concurrency,
        running: queueCounts.running?.count ?? 0,
        keyConcurrency: flow.keyConcurrency,
        fairness: flow.fair ? 'key' : null,
        rateLimit,
        started,
        pending: queueCounts.pending?.count ?? 0,
      };
    }),
  );
}
