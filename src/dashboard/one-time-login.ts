import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { DashboardHandler } from './dashboard.js';
import { cookieHeader, readCookie, securityHeaders } from './security.js';

const sessionCookie = 'async_task_session';

/**
 * The login of `async-task dashboard`: one random token, printed once as a URL. The first visit
 * of that URL trades it for a session cookie (HttpOnly, SameSite=Strict) and the token is spent;
 * `authorize` then lets in exactly the browsers holding such a session.
 */
export class OneTimeLogin {
  readonly token = randomBytes(24).toString('base64url');
  readonly #sessions = new Set<string>();
  readonly #base: string;
  #spent = false;

  constructor(basePath: string) {
    this.#base = basePath.replace(/\/$/, '');
  }

  /** The path of the login URL, with its token. */
  get loginPath(): string {
    return `${this.#base}/login?token=${this.token}`;
  }

  readonly authorize = (request: Request): boolean => {
    const session = readCookie(request, sessionCookie);
    return session !== undefined && this.#sessions.has(session);
  };

  /** `handler`, with the login URL answered first. */
  wrap(handler: DashboardHandler): DashboardHandler {
    return async (request, connection) => {
      const url = new URL(request.url);
      if (url.pathname !== `${this.#base}/login`) return handler(request, connection);
      if (this.#spent || !this.#matches(url.searchParams.get('token'))) {
        return new Response(
          'This login link is wrong or was used already. Restart `async-task dashboard` for a new one.\n',
          {
            status: 401,
            headers: { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8' },
          },
        );
      }
      this.#spent = true;
      const session = randomBytes(32).toString('base64url');
      this.#sessions.add(session);
      const headers = new Headers({ ...securityHeaders, Location: `${this.#base}/` });
      headers.append('Set-Cookie', cookieHeader(request, sessionCookie, session, this.#base));
      return new Response(null, { status: 303, headers });
    };
  }

  #matches(given: string | null): boolean {
    if (given === null) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
