import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { DashboardHandler } from './dashboard.js';

/** Largest request body read (the dashboard's forms are a few hundred bytes). */
const maxBodyBytes = 64 * 1024;

/**
 * The dashboard (or any Web-standard handler) as a Node `http` listener. The request URL keeps
 * the path as the client sent it (`originalUrl` under Express, whose mounting strips the prefix),
 * so give `dashboard()` the full `basePath`. Mount it before any body parser.
 *
 * @example
 * http.createServer(nodeListener(dashboard(tasks, { authorize }))).listen(4000, '127.0.0.1');
 */
export function nodeListener(
  handler: DashboardHandler,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    void serve(handler, request, response);
  };
}

/** Answers one request; never rejects (a failure is a 500). */
async function serve(
  handler: DashboardHandler,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  try {
    const body = await readBody(request);
    if (body === 'too large') {
      response.writeHead(413, { 'Content-Type': 'text/plain' }).end('request body too large');
      return;
    }
    const webRequest = toRequest(request, body);
    if (webRequest === undefined) {
      response.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad Host header');
      return;
    }
    const answer = await handler(webRequest, {
      ...(request.socket.remoteAddress !== undefined && {
        remoteAddress: request.socket.remoteAddress,
      }),
    });
    await writeResponse(answer, response);
  } catch {
    if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain' });
    response.end('internal error');
  }
}

const hostAndPort = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;

/** The Web request, or undefined when the Host header is not a host (and port). */
function toRequest(request: IncomingMessage, body: Buffer | null): Request | undefined {
  const encrypted = (request.socket as TLSSocket).encrypted === true;
  const host = request.headers.host ?? 'localhost';
  const base = `${encrypted ? 'https' : 'http'}://${host}`;
  if (!hostAndPort.test(host) || !URL.canParse(base)) return undefined;
  const { origin } = new URL(base);
  const path = requestPath(
    (request as IncomingMessage & { originalUrl?: string }).originalUrl ?? request.url ?? '/',
  );
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  // Appended, not resolved: a path `//elsewhere/…` must not name the host the handler sees.
  return new Request(new URL(`${origin}${path}`), {
    method: request.method ?? 'GET',
    headers,
    ...(body !== null && { body: new Uint8Array(body) }),
  });
}

/**
 * The path and query of a request target. The absolute form (`GET http://host/path`) is sent to
 * proxies, not to servers; its host is dropped, so the Host header alone names the host.
 */
function requestPath(target: string): string {
  if (target.startsWith('/')) return target;
  if (URL.canParse(target)) {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  }
  return '/';
}

async function readBody(request: IncomingMessage): Promise<Buffer | null | 'too large'> {
  if (request.method === 'GET' || request.method === 'HEAD') return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) return 'too large';
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function writeResponse(answer: Response, response: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  answer.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = answer.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  response.writeHead(answer.status, headers);
  response.end(Buffer.from(await answer.arrayBuffer()));
}
