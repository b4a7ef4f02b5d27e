import type { Context, Hono } from 'hono';
import type { BlankSchema } from 'hono/types';
import {
  actionNamed,
  actions,
  checkSelection,
  runAction,
  selectionIds,
  selectionLimit,
  type ActionName,
} from './actions.js';
import {
  attemptDetail,
  attemptsPage as readAttemptsPage,
  outcomesLastHour,
  parseCursor,
  parseFilter,
  queueCounts,
  type AnyTasks,
  type AttemptFilter,
} from './data.js';
import { attemptPage, confirmPage, nothingSelectedPage } from './pages/attempt.js';
import { attemptsPage, type Flash } from './pages/attempts.js';
import { errorPage, filterInputs, queryString, type PageContext } from './pages/layout.js';
import { queuesPage } from './pages/queues.js';
import { workersPage } from './pages/workers.js';
import { html } from 'hono/html';
import { isAttemptId } from '../core/attempt.js';
import { ConfigError } from '../core/errors.js';

/** The Hono environment of the dashboard's routes. */
export interface DashboardEnv {
  Bindings: { readonly remoteAddress?: string };
  Variables: { page: PageContext };
}

type App = Hono<DashboardEnv, BlankSchema, string>;
type Ctx = Context<DashboardEnv>;

/** The pages and their JSON API: reads only. */
export function pageRoutes(app: App, tasks: AnyTasks): void {
  app.get('/', async (c) => {
    const [queues, workers] = await Promise.all([queueCounts(tasks), tasks.workers()]);
    return c.html(queuesPage(c.get('page'), queues, workers));
  });

  app.get('/workers', async (c) => c.html(workersPage(c.get('page'), await tasks.workers())));

  app.get('/attempts', async (c) => {
    const filter = parseFilter((key) => c.req.query(key));
    const page = await readAttemptsPage(tasks, filter, parseCursor(c.req.query('before')));
    return c.html(attemptsPage(c.get('page'), filter, page, flashOf(c)));
  });

  app.get('/attempts/:id', async (c) => {
    const attempt = await attemptDetail(tasks, c.req.param('id'));
    if (!attempt) return notFoundPage(c, `There is no attempt ${c.req.param('id')}.`);
    return c.html(attemptPage(c.get('page'), attempt));
  });

  app.get('/api/queues', async (c) => {
    const [queues, workers] = await Promise.all([queueCounts(tasks), tasks.workers()]);
    return c.json({ queues, workers });
  });

  app.get('/api/workers', async (c) => c.json({ workers: await tasks.workers() }));

  app.get('/api/outcomes', async (c) => c.json(await outcomesLastHour(tasks)));

  app.get('/api/attempts', async (c) => {
    const filter = parseFilter((key) => c.req.query(key));
    return c.json(await readAttemptsPage(tasks, filter, parseCursor(c.req.query('before'))));
  });

  app.get('/api/attempts/:id', async (c) => {
    const attempt = await attemptDetail(tasks, c.req.param('id'));
    if (!attempt) {
      return c.json({ error: { code: 'NOT_FOUND', message: 'no such attempt' } }, 404);
    }
    return c.json(attempt);
  });
}

/**
 * The actions: POST a form (with its CSRF token; checked before any route) naming one attempt
 * (`id`) or a selection (`scope=selection` and the attempts page's filter). The first POST answers
 * with a confirmation page; only its form, with `confirmed=yes`, acts. Not registered at all on
 * a read-only dashboard.
 */
export function actionRoutes(app: App, tasks: AnyTasks): void {
  app.post('/actions/:action', async (c) => {
    const action = actionNamed(c.req.param('action'));
    const form = await c.req.parseBody();
    const field = (key: string): string | undefined => {
      const value = form[key];
      return typeof value === 'string' ? value : undefined;
    };
    const confirmed = field('confirmed') === 'yes';
    const page = c.get('page');
    const context = { remoteAddress: c.env?.remoteAddress ?? null };
    if (field('scope') === 'selection') {
      // The pages' forms carry it encoded in one field (filterInputs); API clients, field by field.
      const encoded = field('filter');
      const filter = parseFilter(
        encoded === undefined ? field : (key) => new URLSearchParams(encoded).get(key),
      );
      checkSelection(action, filter);
      return confirmed
        ? actOnSelection(c, tasks, action, filter, confirmedIds(field('ids')), context)
        : confirmSelection(c, tasks, action, filter);
    }
    const id = field('id') ?? '';
    const attempt = await attemptDetail(tasks, id);
    if (!attempt) return notFoundPage(c, `There is no attempt ${id}.`);
    const back = `${page.base}/attempts/${attempt.id}`;
    if (!confirmed) {
      const what = `attempt ${attempt.id} (${attempt.target}.${attempt.methodName}, ${attempt.status})`;
      const hidden = [html`<input type="hidden" name="id" value="${attempt.id}" />`];
      return c.html(confirmPage(page, action, what, hidden, back));
    }
    await runAction(tasks, action, [attempt.id], context);
    return c.redirect(back, 303);
  });
}

async function confirmSelection(
  c: Ctx,
  tasks: AnyTasks,
  action: ActionName,
  filter: AttemptFilter,
): Promise<Response> {
  const page = c.get('page');
  const ids = await selectionIds(tasks, filter);
  const count = ids.length;
  const described = Object.entries(filter)
    .map(([key, value]) => `${key} = ${String(value)}`)
    .join(', ');
  const back = `${page.base}/attempts${queryString(filter)}`;
  if (count === 0) return c.html(nothingSelectedPage(page, action, described, back));
  const what = `${count === selectionLimit ? `the first ${count}` : count} attempt(s) matching ${described}`;
  // The attempts counted ride in the form: the confirmation acts on them, not on whatever
  // matches by then (attempts enqueued between the two clicks).
  const hidden = [
    ...filterInputs(filter),
    html`<input type="hidden" name="scope" value="selection" />`,
    html`<input type="hidden" name="ids" value="${ids.join(',')}" />`,
  ];
  return c.html(confirmPage(page, action, what, hidden, back));
}

/**
 * The ids a confirmation page counted (its form's `ids`), or undefined where a client posted the
 * filter alone: then the selection is read again.
 */
function confirmedIds(field: string | undefined): string[] | undefined {
  if (field === undefined) return undefined;
  const ids = [...new Set(field.split(',').filter((id) => id !== ''))];
  if (ids.length > selectionLimit || !ids.every(isAttemptId)) {
    throw new ConfigError(
      `ids must be at most ${selectionLimit} attempt ids separated by commas, as the confirmation page sends them`,
    );
  }
  return ids;
}

async function actOnSelection(
  c: Ctx,
  tasks: AnyTasks,
  action: ActionName,
  filter: AttemptFilter,
  confirmed: string[] | undefined,
  context: Record<string, unknown>,
): Promise<Response> {
  const ids = confirmed ?? (await selectionIds(tasks, filter));
  const outcome = await runAction(tasks, action, ids, { ...context, filter });
  const extra = { action, done: String(outcome.done), skipped: String(outcome.skipped) };
  return c.redirect(`${c.get('page').base}/attempts${queryString(filter, extra)}`, 303);
}

function flashOf(c: Ctx): Flash | null {
  const action = c.req.query('action');
  const done = Number(c.req.query('done'));
  const skipped = Number(c.req.query('skipped') ?? 0);
  if (action === undefined || !Object.hasOwn(actions, action)) return null;
  if (!Number.isSafeInteger(done) || !Number.isSafeInteger(skipped)) return null;
  return { action: action as ActionName, done, skipped };
}

function notFoundPage(c: Ctx, message: string): Response | Promise<Response> {
  return c.html(errorPage(c.get('page'), 'Not found', message), 404);
}
