import type { ScheduleDefinition } from './schedule.js';
import { methodRef } from './target.js';

/** What `async-task schedules` and the dashboard show of one schedule. */
export interface ScheduleSummary {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  /** null when the schedule's method is no target's (the AsyncTask refuses such a schedule). */
  readonly target: string | null;
  readonly method: string | null;
  /** The queue its ticks go to; null when only the AsyncTask's defaults (unknown here) say. */
  readonly queue: string | null;
  readonly catchUp: number;
  /** The next ticks after `now`, oldest first; fewer (or none) when the pattern stops. */
  readonly next: Date[];
}

/**
 * One schedule as listed: its method, the queue its ticks are enqueued to (the schedule's
 * options, else the method's, else `defaultQueue`, as enqueue resolves it) and its next `count`
 * ticks after `now`.
 */
export function scheduleSummary(
  schedule: ScheduleDefinition,
  count: number,
  now: Date,
  defaultQueue: string | null = null,
): ScheduleSummary {
  const ref = methodRef(schedule.method);
  const queue = schedule.options['queue'];
  return {
    name: schedule.name,
    cron: schedule.cron.getPattern() ?? '',
    timezone: schedule.timezone,
    target: ref?.target ?? null,
    method: ref?.methodName ?? null,
    queue: typeof queue === 'string' ? queue : (ref?.options.queue ?? defaultQueue),
    catchUp: schedule.catchUp,
    next: schedule.cron.nextRuns(count, now),
  };
}

/**
 * `2026-12-05 03:00:00 GMT+1` (Europe/Berlin): the instant as a clock in `timezone` reads it,
 * with its offset.
 */
export function inTimeZone(instant: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'short',
  }).formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes): string =>
    parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')} ${part('timeZoneName')}`;
}
