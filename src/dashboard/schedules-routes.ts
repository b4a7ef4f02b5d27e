import type { Hono } from 'hono';
import type { BlankSchema } from 'hono/types';
import type { AnyTasks } from './data.js';
import { schedulesPage } from './pages/schedules.js';
import type { DashboardEnv } from './routes.js';
import { queueLimits, scheduleRows } from './schedules-data.js';

/** The schedules and limits page and its JSON API: reads only. */
export function schedulesRoutes(
  app: Hono<DashboardEnv, BlankSchema, string>,
  tasks: AnyTasks,
): void {
  app.get('/schedules', async (c) => {
    const [schedules, limits] = await Promise.all([scheduleRows(tasks), queueLimits(tasks)]);
    return c.html(schedulesPage(c.get('page'), schedules, limits));
  });

  app.get('/api/schedules', async (c) => c.json({ schedules: await scheduleRows(tasks) }));

  app.get('/api/limits', async (c) => c.json({ limits: await queueLimits(tasks) }));
}
