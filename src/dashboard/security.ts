import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { DashboardForbiddenError, DashboardUnauthorizedError } from './errors.js';

/**
 * Every response's headers. The policy allows only the dashboard's own script and style files (no
 * inline script or style, no eval, nothing from another origin), forms posted to itself, and no
 * framing. The referrer is never sent (a one-time login URL must not leak to anyone).
 */
export const securityHeaders: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The cookie that holds the browser's CSRF nonce; the forms carry its signature. */
export const csrfCookie = 'async_task_csrf';

/**
 * CSRF tokens as signed double-submit cookies: the browser holds a random nonce in an HttpOnly,
 * SameSite=Strict cookie, each form carries HMAC(secret, nonce), and a state-changing request
 * must bring both. Another site can neither read the cookie nor forge the signature.
 */
export class CsrfTokens {
  readonly #secret: Buffer;

  constructor(secret: string | undefined) {
    this.#secret = secret === undefined ? randomBytes(32) : Buffer.from(secret, 'utf8');
  }

  static newNonce(): string {
    return randomBytes(24).toString('base64url');
  }

  tokenFor(nonce: string): string {
    return createHmac('sha256', this.#secret).update(nonce).digest('base64url');
  }

  /** @throws DashboardForbiddenError unless `token` signs `nonce`. */
  check(nonce: string | undefined, token: string | undefined): void {
    if (!nonce || !token) {
      throw new DashboardForbiddenError(
        'refused: the request has no CSRF token; reload the dashboard page and submit its form again',
      );
    }
    const expected = Buffer.from(this.tokenFor(nonce));
    const given = Buffer.from(token);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new DashboardForbiddenError(
        'refused: the CSRF token does not match; reload the dashboard page and submit its form again',
      );
    }
  }
}

/**
 * A state-changing request must come from the dashboard's own pages. Browsers say where a
 * request comes from in `Sec-Fetch-Site`, which must be `same-origin`; without it, the `Origin`
 * must name the request's own host (its scheme may differ behind a proxy that ends TLS). A
 * request that carries neither is refused (every current browser sends them with a POST).
 *
 * @throws DashboardForbiddenError
 */
export function checkSameOrigin(request: Request): void {
  const site = request.headers.get('sec-fetch-site');
  if (site !== null) {
    if (site === 'same-origin') return;
    throw new DashboardForbiddenError(`refused: a ${site} request cannot change attempts`);
  }
  const origin = request.headers.get('origin');
  if (origin === null) {
    throw new DashboardForbiddenError(
      'refused: the request does not say where it comes from (no Origin or Sec-Fetch-Site header)',
    );
  }
  const own = new URL(request.url).host;
  if (!URL.canParse(origin) || new URL(origin).host !== own) {
    throw new DashboardForbiddenError(
      `refused: the request comes from ${origin}, not from the dashboard's host ${own}`,
    );
  }
}

/** Whether an address (as a socket reports it) is this machine's own. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

/** Whether a URL's host names this machine (what a browser on it would type). */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    isLoopbackAddress(hostname.replace(/^\[|\]$/g, ''))
  );
}

/**
 * With `allowUnauthenticated`, only this machine may use the dashboard: the connection must come
 * from a loopback address (the Node adapter passes it), and the Host header must name a loopback
 * host, so a web page elsewhere cannot reach it through DNS rebinding either.
 *
 * @throws DashboardUnauthorizedError
 */
export function checkLoopback(request: Request, remoteAddress: string | undefined): void {
  if (!isLoopbackAddress(remoteAddress)) {
    throw new DashboardUnauthorizedError(
      remoteAddress === undefined
        ? 'refused: allowUnauthenticated serves loopback clients only, and this server does not say where the request comes from; pass authorize'
        : `refused: allowUnauthenticated serves loopback clients only, not ${remoteAddress}; pass authorize`,
    );
  }
  // The URL's host and the Host header both: an adapter may build the URL from something else
  // (a request target's own host, a proxy's header).
  const header = request.headers.get('host');
  for (const hostname of [
    new URL(request.url).hostname,
    ...(header === null ? [] : [hostOf(header)]),
  ]) {
    if (!isLoopbackHost(hostname)) {
      throw new DashboardUnauthorizedError(
        `refused: allowUnauthenticated serves requests to localhost only, not to ${hostname}`,
      );
    }
  }
}

/** The host name of a Host header's value; the value itself when it is not a host. */
function hostOf(header: string): string {
  return URL.canParse(`http://${header}/`) ? new URL(`http://${header}/`).hostname : header;
}

/** The value of one cookie of the request, or undefined. */
export function readCookie(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie');
  if (header === null) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) {
      return part.slice(index + 1).trim();
    }
  }
  return undefined;
}

/** A `Set-Cookie` value for a cookie only this dashboard's pages send back. */
export function cookieHeader(request: Request, name: string, value: string, path: string): string {
  const secure = new URL(request.url).protocol === 'https:' ? '; Secure' : '';
  return `${name}=${value}; Path=${path || '/'}; HttpOnly; SameSite=Strict${secure}`;
}
