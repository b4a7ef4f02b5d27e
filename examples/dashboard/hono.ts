// The dashboard mounted in a Hono app (served by @hono/node-server), under /admin/tasks. Hono
// speaks Request and Response already: hand the raw request over, with the client's address.
//   npm start
import type { AddressInfo } from 'node:net';
import { serve, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { dashboard } from 'async-task/dashboard';
import { authorize, check, shopTasks } from './shop.js';

const { tasks, close } = await shopTasks();
const handle = dashboard(tasks, { authorize, basePath: '/admin/tasks' });
const app = new Hono<{ Bindings: HttpBindings }>();
app.all('/admin/tasks/*', (c) =>
  handle(c.req.raw, { remoteAddress: c.env.incoming.socket.remoteAddress ?? '' }),
);
app.all('/admin/tasks', (c) => handle(c.req.raw));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as AddressInfo;
await check('hono', `http://127.0.0.1:${port}/admin/tasks`);
server.close();
await close();
