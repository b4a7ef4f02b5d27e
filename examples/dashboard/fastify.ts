// The dashboard mounted in a Fastify app, under /admin/tasks: the routes hand Node's own request
// and response to the dashboard's listener, which reads the (form) body itself.
//   npm start
import Fastify from 'fastify';
import { dashboard, nodeListener } from 'async-task/dashboard';
import { authorize, check, shopTasks } from './shop.js';

const { tasks, close } = await shopTasks();
const app = Fastify();
const listener = nodeListener(dashboard(tasks, { authorize, basePath: '/admin/tasks' }));

await app.register(async (scope) => {
  // Leave form bodies unread: the dashboard reads them from the raw request.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
  for (const url of ['/admin/tasks', '/admin/tasks/*']) {
    scope.all(url, (request, reply) => {
      reply.hijack();
      listener(request.raw, reply.raw);
    });
  }
});

const address = await app.listen({ port: 0, host: '127.0.0.1' });
await check('fastify', `${address}/admin/tasks`);
await app.close();
await close();
