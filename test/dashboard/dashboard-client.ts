import type { DashboardHandler } from '../../src/dashboard/index.js';

export const origin = 'http://127.0.0.1:4000';

/** Talks to a dashboard handler as a browser on its own origin would: cookies, CSRF, Origin. */
export class DashboardClient {
  readonly #handle: DashboardHandler;
  readonly #headers: Record<string, string>;
  readonly #remoteAddress: string;
  #cookie = '';

  constructor(
    handle: DashboardHandler,
    headers: Record<string, string> = {},
    remoteAddress = '127.0.0.1',
  ) {
    this.#handle = handle;
    this.#headers = headers;
    this.#remoteAddress = remoteAddress;
  }

  async get(path: string, accept = 'text/html'): Promise<Response> {
    return this.#send(new Request(`${origin}${path}`, { headers: this.#with({ accept }) }));
  }

  async json<T>(path: string): Promise<T> {
    const response = await this.get(path, 'application/json');
    if (response.status !== 200)
      throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async text(path: string): Promise<string> {
    const response = await this.get(path);
    if (response.status !== 200)
      throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.text();
  }

  /** The CSRF token of the dashboard's forms (also sets the cookie it signs). */
  async csrf(path: string): Promise<string> {
    const page = await this.text(path);
    const token = /name="csrf" value="([^"]+)"/.exec(page)?.[1];
    if (!token) throw new Error(`no CSRF token on ${path}`);
    return token;
  }

  async post(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = { origin },
  ): Promise<Response> {
    return this.#send(
      new Request(`${origin}${path}`, {
        method: 'POST',
        headers: this.#with({
          accept: 'text/html',
          'content-type': 'application/x-www-form-urlencoded',
          ...headers,
        }),
        body: new URLSearchParams(fields).toString(),
      }),
    );
  }

  #with(headers: Record<string, string>): Record<string, string> {
    return { ...this.#headers, ...headers, ...(this.#cookie && { cookie: this.#cookie }) };
  }

  async #send(request: Request): Promise<Response> {
    const response = await this.#handle(request, { remoteAddress: this.#remoteAddress });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const name = pair.split('=')[0]!;
      const others = this.#cookie
        .split('; ')
        .filter((part) => part && !part.startsWith(`${name}=`));
      this.#cookie = [...others, pair].join('; ');
    }
    return response;
  }
}
