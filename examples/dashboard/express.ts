// The dashboard mounted in an Express app, under /admin/tasks, before any body parser.
//   npm start
import type { AddressInfo } from 'node:net';
import express from 'express';
import { dashboard, nodeListener } from 'async-task/dashboard';
import { authorize, check, shopTasks } from './shop.js';

const { tasks, close } = await shopTasks();
const app = express();
// nodeListener reads req.originalUrl, so basePath is the full mount path.
app.use('/admin/tasks', nodeListener(dashboard(tasks, { authorize, basePath: '/admin/tasks' })));
app.use(express.json()); // the app's own routes and parsers come after

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as AddressInfo;
await check('express', `http://127.0.0.1:${port}/admin/tasks`);
server.close();
await close();
