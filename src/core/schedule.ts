import { createRequire } from 'node:module';
import type { Cron } from 'croner';
import { ConfigError, shown } from './errors.js';
import { checkOptionNames, optionNames } from './options.js';

let cronClass: typeof Cron | undefined;
/**
 * croner, loaded on the first schedule: `import 'async-task'` loads no package, so an application
 * without schedules never pays for it.
 */
function loadCron(): typeof Cron {
  cronClass ??= (createRequire(import.meta.url)('croner') as { Cron: typeof Cron }).Cron;
  return cronClass;
}

/**
 * A recurring task: at each tick of `cron` in `timezone`, one attempt of `method` with `args`.
 * Every worker runs the schedules; the idempotence token `schedule:<name>:<tick>` makes each
 * tick one attempt however many workers see it.
 *
 * @example
 * { name: 'nightly-report', cron: '0 3 * * *', timezone: 'Europe/Berlin',
 *   method: Reports.nightly, args: {}, options: { queue: 'reports' } }
 */
export interface ScheduleOptions<Method, Args, Options> {
  /** Names the schedule in tokens, logs and `async-task schedules`: letters, digits, `_.:-`, 1-100. */
  readonly name: string;
  /**
   * Five fields (`minute hour day-of-month month day-of-week`), or six with seconds first.
   * Day of month and day of week combine with OR, as in Vixie cron.
   */
  readonly cron: string;
  /**
   * An IANA time zone the cron fields are read in. A tick in a daylight-saving gap runs at the
   * first valid time after it; a fixed time of day in a repeated hour runs once (a schedule
   * within the hour, such as `*\/15 * * * *`, keeps its real interval). @defaultValue 'UTC'
   */
  readonly timezone?: string;
  readonly method: Method;
  readonly args: Args;
  /** As for `enqueue`, but for `idempotenceToken` and `scheduledAt`, which the tick sets. */
  readonly options?: Options;
  /**
   * How many ticks missed while no worker ran are enqueued when one starts again, newest first;
   * 0 enqueues none of them. Ticks older than the succeeded-attempt retention are never caught
   * up: their attempts may have been pruned, and enqueueing them again would run a tick twice.
   * @defaultValue 1
   */
  readonly catchUp?: number;
}

/** A checked schedule: the cron parsed, defaults applied. */
export interface ScheduleDefinition {
  readonly name: string;
  readonly cron: Cron;
  readonly timezone: string;
  readonly catchUp: number;
  readonly method: unknown;
  readonly args: unknown;
  readonly options: Readonly<Record<string, unknown>>;
}

const namePattern = /^[A-Za-z0-9_.:-]{1,100}$/;
const maxCatchUp = 1000;
/** Ticks enqueued in one pass of a running worker, however long it was held up. */
export const maxTicksPerPass = 1000;

/** The idempotence token of one tick: the same for every worker that sees it. */
export function tickToken(name: string, tick: Date): string {
  return `schedule:${name}:${tick.toISOString()}`;
}

const scheduleOptionNames = optionNames<ScheduleOptions<unknown, unknown, unknown>>({
  name: true,
  cron: true,
  timezone: true,
  method: true,
  args: true,
  options: true,
  catchUp: true,
});

/** `enqueue`'s options a tick takes from its schedule (the rest the tick sets). */
const tickOptionNames = optionNames<{
  encryptor: unknown;
  maxAttempts: unknown;
  queue: unknown;
  priority: unknown;
  concurrencyKey: unknown;
}>({ encryptor: true, maxAttempts: true, queue: true, priority: true, concurrencyKey: true });

/** Checks `schedules` as given to the AsyncTask; the method is checked by the caller. */
export function checkSchedules(schedules: unknown): ScheduleDefinition[] {
  if (schedules === undefined) return [];
  if (!Array.isArray(schedules)) {
    throw new ConfigError(
      `schedules must be an array of { name, cron, method, args }; got ${shown(schedules)}`,
    );
  }
  const names = new Set<string>();
  return schedules.map((given: unknown, index) => {
    if (typeof given !== 'object' || given === null) {
      throw new ConfigError(
        `schedules[${index}] must be an object { name, cron, method, args }; got ${shown(given)}`,
      );
    }
    const entry = given as Partial<ScheduleOptions<unknown, unknown, unknown>>;
    checkOptionNames(
      entry,
      scheduleOptionNames,
      `schedules[${index}]${typeof entry.name === 'string' ? ` ('${entry.name}')` : ''}`,
      {},
      'key',
    );
    const { name } = entry;
    if (typeof name !== 'string' || !namePattern.test(name)) {
      throw new ConfigError(
        `schedules[${index}].name must be 1-100 letters, digits or _.:- (it is part of each tick's idempotence token); got ${shown(name)}`,
      );
    }
    if (names.has(name)) {
      throw new ConfigError(`schedules: the name '${name}' is used twice; give each its own`);
    }
    names.add(name);
    const where = `schedule '${name}'`;
    const timezone = checkTimezone(entry.timezone === undefined ? 'UTC' : entry.timezone, where);
    const cron = parseCron(entry.cron, timezone, where);
    if (cron.nextRun() === null) {
      throw new ConfigError(
        `${where}: cron ${shown(entry.cron)} never runs (no such date from now on, such as the 30th of February); check its day and month fields`,
      );
    }
    const catchUp = entry.catchUp ?? 1;
    if (!Number.isInteger(catchUp) || catchUp < 0 || catchUp > maxCatchUp) {
      throw new ConfigError(
        `${where}: catchUp must be an integer from 0 to ${maxCatchUp}; got ${shown(catchUp)}`,
      );
    }
    const options = entry.options ?? {};
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError(`${where}: options must be an object, or left out`);
    }
    for (const key of ['idempotenceToken', 'scheduledAt']) {
      if (key in options) {
        throw new ConfigError(
          `${where}: options.${key} is set by each tick (the token names the schedule and the tick, scheduledAt is the tick); leave it out`,
        );
      }
    }
    if ('replace' in options) {
      throw new ConfigError(
        `${where}: options.replace does not apply: each tick is enqueued once, with its own token; leave it out`,
      );
    }
    checkOptionNames(options, tickOptionNames, where);
    return {
      name,
      cron,
      timezone,
      catchUp,
      method: entry.method,
      args: entry.args,
      options: options as Record<string, unknown>,
    };
  });
}

function checkTimezone(timezone: unknown, where: string): string {
  if (typeof timezone === 'string' && timezone !== '') {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
    } catch {
      // reported below
    }
  }
  throw new ConfigError(
    `${where}: timezone must be an IANA time zone such as 'Europe/Berlin' or 'UTC'; got ${shown(timezone)}`,
  );
}

function parseCron(pattern: unknown, timezone: string, where: string): Cron {
  if (typeof pattern !== 'string') {
    throw new ConfigError(
      `${where}: cron must be a string such as '0 3 * * *'; got ${shown(pattern)}`,
    );
  }
  try {
    const CronClass = loadCron();
    return new CronClass(pattern, { timezone, mode: '5-or-6-parts' });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(
      `${where}: cron ${shown(pattern)} is not a valid pattern (${reason}); write five fields (minute hour day-of-month month day-of-week) or six with seconds first`,
    );
  }
}

/**
 * The ticks to enqueue now, oldest first, none older than `oldest`: those after `after` up to
 * `now` for a worker that has been running (at most {@link maxTicksPerPass}), or, with `after`
 * null (a worker that has just started, or `runDue`), the newest `catchUp` ticks up to `now`.
 * A running worker that stalled or lost its database longer than the retention would otherwise
 * enqueue again ticks another worker ran meanwhile and pruned, and they would run twice.
 */
export function dueTicks(
  schedule: ScheduleDefinition,
  after: Date | null,
  now: Date,
  oldest: Date | null,
): Date[] {
  if (after === null) {
    if (schedule.catchUp === 0) return [];
    // previousRuns leaves out its reference instant itself: a tick at exactly `now` is due.
    const ticks = schedule.cron.previousRuns(schedule.catchUp, new Date(now.getTime() + 1));
    const kept = oldest === null ? ticks : ticks.filter((tick) => tick >= oldest);
    return kept.reverse();
  }
  const ticks: Date[] = [];
  // nextRun takes the first tick after its argument: from a millisecond before `oldest`.
  const from = oldest !== null && oldest > after ? new Date(oldest.getTime() - 1) : after;
  let tick = schedule.cron.nextRun(from);
  while (tick !== null && tick <= now && ticks.length < maxTicksPerPass) {
    ticks.push(tick);
    tick = schedule.cron.nextRun(tick);
  }
  return ticks;
}
