// The worker registry (tasks.workers()): a started worker is listed with what it is, refreshed at
// each heartbeat, and gone when it stops; a row past its alive_until is not listed, and one dead
// for over an hour is deleted by the next beat; a failing registry write never stops the worker.
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { defineTarget, type TaskContext, type WorkerInfo } from '../../src/index.js';
import type { WorkerBeatParams } from '../../src/seam/executor.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { quotedTable, rawQuery } from '../harness/schema-catalog.js';
import { useHarness } from '../harness/use-harness.js';
import { useWorkers } from '../harness/use-workers.js';
import { waitFor } from '../harness/wait-for.js';
import { useFleets, within } from '../harness/worker-process.js';

/** A target whose `hold` runs until `release()` is called. */
function holdingTarget() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const target = defineTarget('Holding', {
    async hold(_args: { n: number }, _ctx: TaskContext) {
      await released;
    },
    note(_args: { n: number }) {},
  });
  return { target, release };
}

const ids = (workers: readonly WorkerInfo[]): string[] => workers.map((worker) => worker.id);

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);
    const track = useWorkers();
    const newFleet = useFleets();
    const inProcesses = itOnNativeDrivers(
      fixture,
      `these spawn worker processes and test the worker’s start, stop and the listing’s alive_until; the registry’s statements run through every driver in ${coveredBy('conformance/workers-registry.test.ts', 'lists a started worker with its host, pid, queues and concurrency')}`,
    );

    /** The registry table as SQL names it. */
    const workersTable = (): string =>
      quotedTable({ table: `${harness().table}_workers` } as Harness, fixture.dialect);
    const storedIds = async (): Promise<string[]> =>
      (await rawQuery(harness(), `SELECT id FROM ${workersTable()} ORDER BY id`)).map((row) =>
        String(row['id']),
      );

    it('lists a started worker with its host, pid, queues and concurrency; stop() removes it', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      expect(await tasks.workers()).toEqual([]);
      const worker = track(
        tasks.worker({ concurrency: 7, queues: ['mail', { name: 'sms', concurrency: 2 }] }),
      );
      const before = Date.now();
      await worker.start();

      const [listed, ...others] = await tasks.workers();
      expect(others).toEqual([]);
      expect(listed).toMatchObject({
        id: worker.id,
        hostname: hostname(),
        pid: process.pid,
        queues: ['mail', 'sms'],
        concurrency: 7,
        running: 0,
      });
      // Database clock against this process's: the same machine, within a few seconds.
      expect(Math.abs(listed!.startedAt.getTime() - before)).toBeLessThan(5_000);
      expect(listed!.lastSeenAt.getTime()).toBeGreaterThanOrEqual(listed!.startedAt.getTime());
      // Three heartbeats of the default 10 s outlast the default 30 s lease exactly.
      expect(listed!.aliveUntil.getTime() - listed!.lastSeenAt.getTime()).toBe(30_000);

      await worker.stop();
      expect(await tasks.workers()).toEqual([]);
      expect(await storedIds()).toEqual([]);
    });

    it('running is the attempts held at the last beat; every queue is null', async () => {
      const { target, release } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const worker = track(tasks.worker({ heartbeatMs: 50, leaseMs: 1000, pollIntervalMs: 20 }));
      await worker.start();
      expect(await tasks.workers()).toMatchObject([{ id: worker.id, queues: null, running: 0 }]);
      for (const n of [1, 2, 3]) await tasks.enqueue(harness().pool, target.hold, { n });

      await waitFor(
        'the registry to show three held attempts',
        async () => (await tasks.workers())[0]?.running === 3,
      );
      const [busy] = await tasks.workers();
      // At least the lease; three 50 ms beats would be less.
      expect(busy!.aliveUntil.getTime() - busy!.lastSeenAt.getTime()).toBe(1000);
      release();
      await waitFor(
        'the registry to show nothing held',
        async () => (await tasks.workers())[0]?.running === 0,
      );
    });

    it('lists two workers, oldest first', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const first = track(tasks.worker({ id: 'worker-b-first' }));
      const second = track(tasks.worker({ id: 'worker-a-second', queues: ['other'] }));
      await first.start();
      // SQLite's clock counts milliseconds: two starts within one would tie.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await second.start();

      const listed = await tasks.workers();
      expect(ids(listed)).toEqual(['worker-b-first', 'worker-a-second']);
      expect(listed[0]!.startedAt.getTime()).toBeLessThanOrEqual(listed[1]!.startedAt.getTime());

      await first.stop();
      expect(ids(await tasks.workers())).toEqual(['worker-a-second']);
    });

    it('leaves out a row past its alive_until; a beat deletes rows dead for over an hour', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const row = (id: string, aliveMs: number): WorkerBeatParams => ({
        id,
        hostname: 'gone.example',
        pid: 1,
        queues: null,
        concurrency: 1,
        running: 0,
        aliveMs,
      });
      const beat = (params: WorkerBeatParams) =>
        harness().driver.run((connection) => tasks.runtime.executor(connection).workerBeat(params));
      await beat(row('dead-a-second-ago', -1000));
      await beat(row('dead-two-hours-ago', -7_200_000));
      expect(await tasks.workers()).toEqual([]);

      const worker = track(tasks.worker({ id: 'alive' }));
      await worker.start();

      expect(ids(await tasks.workers())).toEqual(['alive']);
      expect(await storedIds()).toEqual(['alive', 'dead-a-second-ago']);
    });

    it('a failing registry write is reported, and the worker goes on performing tasks', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const worker = track(tasks.worker({ heartbeatMs: 50, leaseMs: 1000, pollIntervalMs: 20 }));
      const errors: string[] = [];
      worker.on('error', ({ during }) => errors.push(during));
      let succeeded = 0;
      worker.on('succeeded', () => (succeeded += 1));
      await worker.start();

      await rawQuery(harness(), `DROP TABLE ${workersTable()}`);
      await waitFor('a registry error', () => errors.includes('registry'));
      await tasks.enqueue(harness().pool, target.note, { n: 1 });
      await waitFor('the task to succeed', () => succeeded === 1);
      await worker.stop();

      expect(new Set(errors)).toEqual(new Set(['registry']));
      expect(await tasks.list({ status: 'succeeded' })).toHaveLength(1);
    });

    inProcesses(
      'a worker killed with SIGKILL stays listed until its alive_until passes, then is not',
      async () => {
        const { target } = holdingTarget();
        const tasks = await migratedTasks(harness(), { targets: [target] });
        const fleet = newFleet(harness().childEnv(), { heartbeatMs: 100, leaseMs: 1500 });
        const child = fleet.start('doomed');
        await within(child.ready, 20_000, 'the child worker to start');
        expect(ids(await tasks.workers())).toEqual(['doomed']);

        await fleet.kill(child);
        const [listed] = await tasks.workers();
        expect(listed).toMatchObject({ id: 'doomed', pid: child.pid });
        expect(listed!.aliveUntil.getTime() - listed!.lastSeenAt.getTime()).toBe(1500);
        await waitFor(
          'the dead worker to drop out',
          async () => ids(await tasks.workers()).length === 0,
        );
        // Not before its alive_until (the database's clock is this machine's; 50 ms of slack).
        expect(Date.now()).toBeGreaterThanOrEqual(listed!.aliveUntil.getTime() - 50);
        // Its row stays (for an hour) until a beat deletes it; only the listing leaves it out.
        expect(await storedIds()).toEqual(['doomed']);
      },
    );

    inProcesses('a worker stopped while it starts leaves no row behind', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const fleet = newFleet(harness().childEnv(), {});
      const child = fleet.start('brief', {}, { ASYNC_TASK_CHILD_STOP_DURING_START: '1' });
      expect(await within(child.exited, 20_000, 'the child to exit')).toEqual({
        code: 0,
        signal: null,
      });
      expect(await tasks.workers()).toEqual([]);
      expect(await storedIds()).toEqual([]);
    });

    it('uninstall() removes the registry; migrate() recreates it', async () => {
      const { target } = holdingTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const { removed } = await tasks.uninstall();
      expect(removed.filter((label) => /_workers\W*$/.test(label))).toHaveLength(1);

      await tasks.migrate();
      const worker = track(tasks.worker());
      await worker.start();
      expect(ids(await tasks.workers())).toEqual([worker.id]);
    });
  });
}
