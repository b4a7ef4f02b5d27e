import { Hono, type Context } from 'hono';
import type { AsyncTask } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import { AsyncTaskError, ConfigError, describeError } from '../core/errors.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import { assetResponse } from './assets.js';
import { loggerOf, type AnyTasks } from './data.js';
import { DashboardForbiddenError, DashboardUnauthorizedError } from './errors.js';
import { errorPage, type PageContext } from './pages/layout.js';
import { actionRoutes, pageRoutes, type DashboardEnv } from './routes.js';
import { schedulesRoutes } from './schedules-routes.js';
import {
  checkLoopback,
  checkSameOrigin,
  cookieHeader,
  csrfCookie,
  CsrfTokens,
  readCookie,
  securityHeaders,
} from './security.js';

export interface DashboardOptions {
  /**
   * Decides whether a request may use the dashboard: return true to let it in, false to answer
   * 401. Required, unless `allowUnauthenticated` is set.
   *
   * @example
   * authorize: async (request) => (await sessionOf(request))?.role === 'admin'
   */
  readonly authorize?: (request: Request) => boolean | Promise<boolean>;
  /**
   * The path the dashboard is mounted at, as the request URL shows it (`/admin/tasks`).
   * @defaultValue '' (the root)
   */
  readonly basePath?: string;
  /** Shows everything and offers no action; state-changing requests get 403. @defaultValue false */
  readonly readOnly?: boolean;
  /**
   * Serves without `authorize`, to this machine only: requests must come from a loopback address
   * (as the Node adapter reports it) and name a loopback host. @defaultValue false
   */
  readonly allowUnauthenticated?: boolean;
  /**
   * Signs the CSRF tokens of the dashboard's forms. Give every instance behind one load balancer
   * the same secret. @defaultValue random, per `dashboard()` call
   */
  readonly secret?: string;
}

/** Where the request came from, as a server adapter knows it (see `nodeListener`). */
export interface ConnectionInfo {
  readonly remoteAddress?: string;
}

/** A Web-standard request handler. */
export type DashboardHandler = (request: Request, connection?: ConnectionInfo) => Promise<Response>;

interface Settings {
  readonly authorize: ((request: Request) => boolean | Promise<boolean>) | null;
  readonly base: string;
  readonly readOnly: boolean;
  readonly csrf: CsrfTokens;
}

/**
 * The dashboard: queues, attempts, one attempt, and the retry/expire/fail actions, as a
 * Web-standard handler `(request) => Promise<Response>` to mount in any server (Node's `http`
 * through `nodeListener`, Express, Fastify, Hono, …).
 *
 * @throws ConfigError without `authorize` (unless `allowUnauthenticated`) or with a bad option
 * @example
 * const handle = dashboard(tasks, { authorize: (request) => isAdmin(request), basePath: '/tasks' });
 * http.createServer(nodeListener(handle)).listen(4000, '127.0.0.1');
 */
export function dashboard<Tx, HandlerTx, Encryptors extends Record<string, Encryptor>>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  options: DashboardOptions = {},
): DashboardHandler {
  const settings = resolveSettings(options);
  const app = application(tasks, settings);
  return async (request, connection = {}) => app.fetch(request, connection);
}

const dashboardOptionNames = optionNames<DashboardOptions>({
  authorize: true,
  basePath: true,
  readOnly: true,
  allowUnauthenticated: true,
  secret: true,
});

function resolveSettings(options: DashboardOptions): Settings {
  // `readonly: true` or `authorise` must not leave actions on or the check out without a word.
  checkOptionNames(options ?? {}, dashboardOptionNames, 'dashboard');
  const {
    authorize,
    basePath = '',
    readOnly = false,
    allowUnauthenticated = false,
    secret,
  } = options ?? {};
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw new ConfigError('dashboard: authorize must be a function (request) => boolean');
  }
  if (authorize === undefined && allowUnauthenticated !== true) {
    throw new ConfigError(
      'dashboard: pass authorize (request) => boolean, or allowUnauthenticated: true to serve this machine (loopback) only',
    );
  }
  if (typeof basePath !== 'string' || !/^(\/[A-Za-z0-9._~-]+)*\/?$/.test(basePath)) {
    throw new ConfigError(
      `dashboard: basePath must be '' or a path like '/admin/tasks', got ${JSON.stringify(basePath)}`,
    );
  }
  if (typeof readOnly !== 'boolean') throw new ConfigError('dashboard: readOnly must be a boolean');
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16)) {
    throw new ConfigError('dashboard: secret must be a string of at least 16 characters');
  }
  return {
    authorize: authorize ?? null,
    base: basePath.replace(/\/$/, ''),
    readOnly,
    csrf: new CsrfTokens(secret),
  };
}

function application(tasks: AnyTasks, settings: Settings): Hono<DashboardEnv> {
  const { base } = settings;
  const app = new Hono<DashboardEnv>({ strict: false });
  const mounted = app.basePath(base);

  mounted.use('*', async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(securityHeaders)) c.res.headers.set(name, value);
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });

  // Library code and styles, the same for everyone: served before authorization.
  mounted.get(
    '/assets/:name',
    async (c) => (await assetResponse(c.req.param('name'))) ?? c.notFound(),
  );

  mounted.use('*', async (c, next) => {
    await authorizeRequest(c.req.raw, c.env?.remoteAddress, settings);
    const cookie = readCookie(c.req.raw, csrfCookie);
    const nonce = cookie !== undefined && /^[A-Za-z0-9_-]{32}$/.test(cookie) ? cookie : null;
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (settings.readOnly) {
        throw new DashboardForbiddenError('refused: this dashboard is read-only');
      }
      checkSameOrigin(c.req.raw);
      const form = await c.req.parseBody();
      const token = form['csrf'];
      settings.csrf.check(nonce ?? undefined, typeof token === 'string' ? token : undefined);
    }
    const current = nonce ?? CsrfTokens.newNonce();
    c.set('page', {
      base,
      csrf: settings.csrf.tokenFor(current),
      readOnly: settings.readOnly,
    } satisfies PageContext);
    await next();
    if (nonce === null) {
      c.res.headers.append('Set-Cookie', cookieHeader(c.req.raw, csrfCookie, current, base));
    }
  });

  pageRoutes(mounted, tasks);
  schedulesRoutes(mounted, tasks);
  if (!settings.readOnly) actionRoutes(mounted, tasks);

  app.notFound((c) => respondError(c, settings, 404, 'NOT_FOUND', 'Not found', 'No such page.'));
  app.onError((error, c) => {
    const status = statusOf(error);
    if (status === 500) {
      loggerOf(tasks).error({ error: describeError(error) }, 'dashboard: a request failed');
    }
    const code = error instanceof AsyncTaskError ? error.code : 'INTERNAL';
    const message =
      status === 500 ? 'The request failed; the server log has the details.' : error.message;
    return respondError(c, settings, status, code, titles[status] ?? 'Error', message);
  });
  return app;
}

async function authorizeRequest(
  request: Request,
  remoteAddress: string | undefined,
  settings: Settings,
): Promise<void> {
  if (settings.authorize === null) {
    checkLoopback(request, remoteAddress);
    return;
  }
  let allowed: unknown;
  try {
    allowed = await settings.authorize(request);
  } catch (error) {
    throw new DashboardUnauthorizedError('refused: authorize threw', { cause: error });
  }
  if (allowed !== true) {
    throw new DashboardUnauthorizedError('refused: you are not authorized to use this dashboard');
  }
}

const titles: Readonly<Record<number, string>> = {
  400: 'Bad request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  500: 'Error',
};

function statusOf(error: unknown): 400 | 401 | 403 | 409 | 500 {
  if (!(error instanceof AsyncTaskError)) return 500;
  switch (error.code) {
    case 'UNAUTHORIZED':
      return 401;
    case 'FORBIDDEN':
      return 403;
    case 'CONFIG':
      return 400;
    case 'INVALID_STATE':
      return 409;
    default:
      return 500;
  }
}

function respondError(
  c: Context<DashboardEnv>,
  settings: Settings,
  status: 400 | 401 | 403 | 404 | 409 | 500,
  code: string,
  title: string,
  message: string,
): Response | Promise<Response> {
  const api = c.req.path.startsWith(`${settings.base}/api/`);
  if (api || !(c.req.header('accept') ?? '').includes('text/html')) {
    return c.json({ error: { code, message } }, status);
  }
  const page: PageContext = { base: settings.base, csrf: '', readOnly: settings.readOnly };
  return c.html(errorPage(page, title, message), status);
}
