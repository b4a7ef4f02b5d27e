// The Node adapter in front of an unauthenticated dashboard, over real sockets: the host the
// handler checks is the Host header's, whatever the request target says.
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTarget } from '../../src/index.js';
import { dashboard, nodeListener } from '../../src/dashboard/index.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { sqliteHarness } from '../harness/sqlite.js';

/** Sends `target` as the request line's target, as a client that is not a browser may. */
function get(
  port: number,
  target: string,
  host: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = request(
      { host: '127.0.0.1', port, path: target, headers: { host } },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    sent.on('error', reject);
    sent.end();
  });
}

describe('nodeListener with allowUnauthenticated', () => {
  let harness: Awaited<ReturnType<typeof sqliteHarness>>;
  let server: Server;
  let port: number;
  let handler: ReturnType<typeof dashboard>;

  beforeAll(async () => {
    harness = await sqliteHarness();
    const orders = defineTarget('Orders', { fulfill(_args: { n: number }) {} });
    const tasks = await migratedTasks(harness, { targets: [orders] });
    await tasks.enqueue(harness.pool, orders.fulfill, { n: 1 });
    handler = dashboard(tasks, { allowUnauthenticated: true });
    server = createServer(nodeListener(handler));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await harness.close();
  });

  it('serves a request to localhost', async () => {
    const answer = await get(port, '/api/queues', `localhost:${port}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('"queues"');
  });

  // DNS rebinding: a page on evil.test, resolved to 127.0.0.1, fetched `//localhost/api/…` (or
  // sent the absolute form) and the handler saw localhost as the host: a 200 with every attempt.
  it.each([
    ['a path starting with //localhost', '//localhost/api/queues'],
    ['a path starting with //127.0.0.1', '//127.0.0.1/api/attempts'],
    ['the absolute form', 'http://localhost/api/queues'],
  ])('refuses %s sent to another host', async (_label, target) => {
    const answer = await get(port, target, `evil.test:${port}`);
    expect(answer.status).toBe(401);
    expect(answer.body).not.toContain('"queues"');
    expect(answer.body).not.toContain('Orders');
  });

  it.each(['localhost/x', 'evil.test@localhost', 'local host', 'localhost:99999'])(
    'answers 400 to the Host header %j',
    async (host) => {
      expect((await get(port, '/api/queues', host)).status).toBe(400);
    },
  );

  it('keeps the path of the absolute form when the host is local', async () => {
    const answer = await get(port, `http://localhost:${port}/api/queues`, `localhost:${port}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('"queues"');
  });

  // Another adapter may build the URL from the request target: the Host header is checked too.
  it('refuses a Web request whose Host header names another host', async () => {
    const answer = await handler(
      new Request('http://localhost/api/queues', { headers: { host: 'evil.test' } }),
      { remoteAddress: '127.0.0.1' },
    );
    expect(answer.status).toBe(401);
  });
});
