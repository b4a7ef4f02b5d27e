// Recurring tasks: every worker runs the schedules, and each tick is one attempt however many
// workers see it, across restarts; runDue enqueues what is due when it is called.
import { describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  defineTarget,
  type Attempt,
  type TaskContext,
} from '../../src/index.js';
import { Scheduler } from '../../src/worker/scheduler.js';
import { caught } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { useFleets } from '../harness/worker-process.js';

/** One fixture per database: the scheduler is above the driver, which the other suites cover. */
const scheduleFixtures = ['postgres/pg', 'mysql/mysql2', 'sqlite/better-sqlite3'];
const target = workerChildTarget();

async function scheduled(tasks: AsyncTask<unknown, unknown>, name: string): Promise<Attempt[]> {
  const all = await tasks.list({ limit: 1000 });
  return all
    .filter((attempt) => attempt.idempotenceToken?.startsWith(`schedule:${name}:`))
    .sort((a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime());
}

/** Seconds between consecutive ticks: all 1 when none was missed. */
function gaps(attempts: readonly Attempt[]): number[] {
  return attempts.slice(1).map((attempt, i) => {
    return (attempt.scheduledAt.getTime() - attempts[i]!.scheduledAt.getTime()) / 1000;
  });
}

for (const fixture of fixtures.filter((f) => scheduleFixtures.includes(f.label))) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const newFleet = useFleets();

    it('three worker processes enqueue each tick of a per-second schedule once, none missed, across a restart of all of them', async () => {
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const schedule = {
        name: 'every-second',
        cron: '* * * * * *',
        method: 'slow',
        args: { ms: 1 },
      };
      // catchUp covers the seconds in which no worker ran, so the restart leaves no hole.
      const env = {
        ...harness().childEnv(),
        ASYNC_TASK_WORKER_SCHEDULES: JSON.stringify([{ ...schedule, catchUp: 60 }]),
      };
      const fleet = newFleet(env, { concurrency: 4, pollIntervalMs: 200 });
      const first = ['a1', 'a2', 'a3'].map((label) => fleet.start(label));
      await Promise.all(first.map((worker) => worker.ready));
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await fleet.stopAll();
      const second = ['b1', 'b2', 'b3'].map((label) => fleet.start(label));
      await Promise.all(second.map((worker) => worker.ready));
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await fleet.stopAll();

      const attempts = await scheduled(tasks, 'every-second');
      // Every process started within the span, so at least 8 seconds of ticks are in the table.
      expect(attempts.length, fleet.describe()).toBeGreaterThanOrEqual(8);
      expect(gaps(attempts)).toEqual(attempts.slice(1).map(() => 1));
      const tokens = attempts.map((attempt) => attempt.idempotenceToken);
      expect(new Set(tokens).size).toBe(tokens.length);
      for (const attempt of attempts) {
        expect(attempt.idempotenceToken).toBe(
          `schedule:every-second:${attempt.scheduledAt.toISOString()}`,
        );
        expect(attempt.scheduledAt.getMilliseconds()).toBe(0);
      }
      // The workers performed them too.
      const finished = attempts.filter((attempt) => attempt.status === 'succeeded');
      expect(finished.length).toBeGreaterThanOrEqual(attempts.length - 2);
    }, 60_000);

    it('in-process workers of three AsyncTasks enqueue each tick once and run it once', async () => {
      const runs: string[] = [];
      const Clock = defineTarget('Clock', {
        tick(args: { label: string }, ctx: TaskContext) {
          runs.push(`${args.label} ${ctx.attempt.scheduledAt.toISOString()}`);
        },
      });
      const schedules = [
        { name: 'clock', cron: '* * * * * *', method: Clock.tick, args: { label: 'c' } },
      ];
      const setup = await migratedTasks(harness(), { targets: [Clock] });
      const workers = [0, 1, 2].map(() =>
        track(
          new AsyncTask({
            driver: harness().driver,
            table: setup.table,
            targets: [Clock],
            schedules,
          }).worker({ pollIntervalMs: 100 }),
        ),
      );
      await Promise.all(workers.map((worker) => worker.start()));
      await waitFor('three ticks', async () => (await scheduled(setup, 'clock')).length >= 3);
      await Promise.all(workers.map((worker) => worker.stop()));

      const attempts = await scheduled(setup, 'clock');
      expect(gaps(attempts)).toEqual(attempts.slice(1).map(() => 1));
      const ran = attempts.filter((attempt) => attempt.status === 'succeeded');
      expect(runs.length).toBe(ran.length);
      expect(new Set(runs).size).toBe(runs.length);
    }, 30_000);

    it('runDue enqueues the latest due tick and performs it; calling again in the same tick adds nothing', async () => {
      const runs: string[] = [];
      const Daily = defineTarget('Daily', {
        report(args: { kind: string }, ctx: TaskContext) {
          runs.push(`${args.kind} ${ctx.attempt.scheduledAt.toISOString()}`);
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [Daily],
        schedules: [
          {
            name: 'daily',
            cron: '0 3 * * *',
            timezone: 'Europe/Berlin',
            method: Daily.report,
            args: { kind: 'sales' },
          },
        ],
      });

      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(await tasks.runDue()).toMatchObject({ claimed: 0 });

      const [attempt, ...more] = await scheduled(tasks, 'daily');
      expect(more).toEqual([]);
      expect(attempt).toMatchObject({ status: 'succeeded', target: 'Daily', methodName: 'report' });
      // 03:00 in Berlin is 01:00 or 02:00 UTC, and the newest such instant not after now.
      const due = attempt!.scheduledAt;
      expect([1, 2]).toContain(due.getUTCHours());
      expect(due.getUTCMinutes()).toBe(0);
      expect(Date.now() - due.getTime()).toBeLessThan(86_400_000);
      expect(runs).toEqual([`sales ${due.toISOString()}`]);
    });

    // A pass that waited for a connection (a starved pool, a database away) longer than the
    // retention inserted the ticks it had chosen before the wait: another worker may have run and
    // pruned them meanwhile. The bound is asked again at the insert.
    it('enqueues no tick that grew older than the retention while its pass waited to insert it', async () => {
      const Beat = defineTarget('Beat', { beat(_args: undefined) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Beat],
        schedules: [
          { name: 'beat', cron: '* * * * * *', method: Beat.beat, args: undefined, catchUp: 3 },
        ],
        retention: { succeededMs: 3000 },
      });
      const scheduler = new Scheduler(tasks.runtime, (error) => {
        throw error;
      });
      // A pass that chose its ticks 10 s ago, as if it then waited that long for a connection.
      expect(await scheduler.enqueueDue(new Date(Date.now() - 10_000))).toBe(0);
      expect(await scheduled(tasks, 'beat')).toEqual([]);
      // The next pass, on time, enqueues the ticks since then that are within the retention.
      const enqueued = await scheduler.enqueueDue();
      expect(enqueued).toBeGreaterThanOrEqual(2);
      expect(enqueued).toBeLessThanOrEqual(4);
      expect(await scheduled(tasks, 'beat')).toHaveLength(enqueued);
    });

    // The probe's case: runDue from cron, then prune({ olderThan }) an hour back with a daily
    // schedule and a day's retention: the next runDue enqueued the pruned tick, which ran again.
    it('prune refuses an olderThan within the shortest retention when there are schedules', async () => {
      const Beat = defineTarget('Beat', { beat(_args: undefined) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Beat],
        schedules: [{ name: 'beat', cron: '* * * * * *', method: Beat.beat, args: undefined }],
        retention: { succeededMs: 60_000, failedMs: 3_600_000 },
      });
      await tasks.runDue();
      const refused = await caught(tasks.prune({ olderThan: new Date(Date.now() - 1000) }));
      expect(refused).toBeInstanceOf(ConfigError);
      expect(String(refused)).toMatch(/within the shortest retention \(60000 ms\).*run again/);
      expect(await scheduled(tasks, 'beat')).toHaveLength(1);
      expect(await tasks.prune({ olderThan: new Date(Date.now() - 60_000) })).toBe(0);
      // Without schedules nothing is enqueued again: any age may be pruned.
      const plain = await migratedTasks(harness(), { targets: [Beat] });
      expect(await plain.prune({ olderThan: new Date() })).toBe(1);
    });

    it('catches up at most catchUp missed ticks, none older than the retention', async () => {
      const Beat = defineTarget('Beat', { beat(_args: undefined) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Beat],
        schedules: [
          { name: 'three', cron: '* * * * * *', method: Beat.beat, args: undefined, catchUp: 3 },
          { name: 'none', cron: '* * * * * *', method: Beat.beat, args: undefined, catchUp: 0 },
          { name: 'kept', cron: '* * * * * *', method: Beat.beat, args: undefined, catchUp: 50 },
        ],
        retention: { succeededMs: 3500 },
      });

      await tasks.runDue({ queues: ['nothing-here'] });

      expect(await scheduled(tasks, 'three')).toHaveLength(3);
      expect(await scheduled(tasks, 'none')).toHaveLength(0);
      // A tick older than 3.5 s may have been pruned already; catching it up could run it twice.
      const kept = await scheduled(tasks, 'kept');
      expect(kept.length).toBeGreaterThanOrEqual(3);
      expect(kept.length).toBeLessThanOrEqual(4);
    });
  });
}
