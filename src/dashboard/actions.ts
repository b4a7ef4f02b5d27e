import { allowedFrom, type Attempt, type AttemptStatus } from '../core/attempt.js';
import { ConfigError, InvalidStateError } from '../core/errors.js';
import { attemptsPage, loggerOf, type AnyTasks, type AttemptFilter } from './data.js';

/**
 * What an operator can do to attempts from the dashboard: one entry per management method of
 * AsyncTask. The pages and the routes offer whatever is listed here, with the statuses it
 * applies to.
 */
export const actions = {
  retry: {
    label: 'Retry',
    past: 'retried',
    from: allowedFrom.retry,
    run: (tasks: AnyTasks, id: string) => tasks.retry(id),
  },
  expire: {
    label: 'Expire',
    past: 'expired',
    from: allowedFrom.expire,
    run: (tasks: AnyTasks, id: string) => tasks.expire(id),
  },
  fail: {
    label: 'Fail',
    past: 'failed',
    from: allowedFrom.fail,
    run: (tasks: AnyTasks, id: string) => tasks.fail(id),
  },
  cancel: {
    label: 'Cancel',
    past: 'cancelled',
    from: allowedFrom.cancel,
    run: cancel,
  },
} as const satisfies Record<
  string,
  {
    label: string;
    past: string;
    from: readonly AttemptStatus[];
    run: (tasks: AnyTasks, id: string) => Promise<Attempt>;
  }
>;

export type ActionName = keyof typeof actions;

/**
 * `tasks.cancel` as the other actions behave: an attempt already finished (or gone) is an
 * InvalidStateError, which a selection counts as skipped.
 */
async function cancel(tasks: AnyTasks, id: string): Promise<Attempt> {
  const { outcome, attempt } = await tasks.cancel(id);
  if (outcome === 'cancelled' || outcome === 'requested') return attempt;
  throw new InvalidStateError(
    id,
    attempt?.status ?? null,
    attempt
      ? `cannot cancel attempt ${id}: it has already ended (${attempt.status})`
      : `cannot cancel attempt ${id}: no such attempt`,
  );
}

/** Most attempts one confirmed selection acts on; the operator confirms again for more. */
export const selectionLimit = 1000;

export function actionNamed(name: string): ActionName {
  if (!Object.hasOwn(actions, name)) {
    throw new ConfigError(
      `unknown action ${JSON.stringify(name)}: one of ${Object.keys(actions).join(', ')}`,
    );
  }
  return name as ActionName;
}

/** Whether `action` applies to attempts of `status`. */
export function appliesTo(action: ActionName, status: AttemptStatus): boolean {
  return (actions[action].from as readonly AttemptStatus[]).includes(status);
}

/**
 * A selection must name a status the action applies to, so that what the operator saw counted
 * is what is acted on.
 *
 * @throws ConfigError
 */
export function checkSelection(action: ActionName, filter: AttemptFilter): void {
  if (filter.status === undefined || !appliesTo(action, filter.status)) {
    throw new ConfigError(
      `${action} applies to ${actions[action].from.join(' or ')} attempts: filter by one of those statuses first`,
    );
  }
}

export interface ActionOutcome {
  readonly action: ActionName;
  readonly done: number;
  /** Attempts whose status changed between the confirmation and the action. */
  readonly skipped: number;
}

/**
 * Applies `action` to each id in turn. An attempt that has meanwhile left the statuses the action
 * applies to is skipped (its InvalidStateError counted, not thrown). Logged on the AsyncTask's
 * logger with the ids.
 */
export async function runAction(
  tasks: AnyTasks,
  action: ActionName,
  ids: readonly string[],
  context: Record<string, unknown>,
): Promise<ActionOutcome> {
  let done = 0;
  const skippedIds: string[] = [];
  for (const id of ids) {
    try {
      await actions[action].run(tasks, id);
      done += 1;
    } catch (error) {
      if (!(error instanceof InvalidStateError)) throw error;
      skippedIds.push(id);
    }
  }
  loggerOf(tasks).info(
    { action, ids, done, skipped: skippedIds, source: 'dashboard', ...context },
    `dashboard: ${actions[action].past} ${done} attempt(s)${skippedIds.length > 0 ? `, skipped ${skippedIds.length} no longer ${actions[action].from.join(' or ')}` : ''}`,
  );
  return { action, done, skipped: skippedIds.length };
}

/** The ids of a selection: the first {@link selectionLimit} attempts matching the filter. */
export async function selectionIds(tasks: AnyTasks, filter: AttemptFilter): Promise<string[]> {
  const { attempts } = await attemptsPage(tasks, filter, undefined, selectionLimit);
  return attempts.map((attempt) => attempt.id);
}
