// One chaos scenario: worker processes (test/harness/worker-child.ts) drain `side` tasks, each
// writing its key to a side table with a unique key through ctx.transaction, while a fault
// injector runs; then the database says whether anything was lost or committed twice.
import type { AsyncTask, WorkerOptions } from '../../src/index.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { workerChildTarget } from '../harness/worker-child-target.js';
import { WorkerFleet, type Run, type WorkerProcess } from '../harness/worker-process.js';
import type { ChaosRow } from './chaos-report.js';

export const sideTarget = workerChildTarget();

/** What a fault injector reports: what it did and how long each recovery took. */
export interface Faults {
  readonly description: string;
  readonly recoveriesMs: readonly number[];
}

export interface InjectorContext {
  readonly fleet: WorkerFleet;
  readonly tasks: AsyncTask<unknown, unknown>;
  /** Tasks enqueued so far. */
  readonly count: number;
  /** True once no task is pending or running (and the injector does not hold the drain). */
  drained(): boolean;
  /** While held, an empty backlog does not end the scenario (more tasks are coming). */
  hold(held: boolean): void;
  /** Enqueues `n` more tasks (keys follow on from the first ones). */
  enqueueMore(n: number): Promise<void>;
}

export interface DrainUnderFaults {
  readonly scenario: string;
  readonly harness: Harness;
  /** Environment for the children; the harness's by default. */
  readonly childEnv?: Record<string, string>;
  readonly count: number;
  /** Worker processes started before the tasks are enqueued, labelled w1, w2, … */
  readonly workers: number;
  /** Environment added for one of the first workers (by label). */
  readonly workerEnv?: (label: string) => Record<string, string>;
  readonly workerOptions: WorkerOptions;
  /** Runs while the backlog drains; resolves once `drained()` (or earlier) with what it did. */
  readonly inject: (context: InjectorContext) => Promise<Faults>;
  readonly timeoutMs: number;
}

export async function enqueueSideTasks(
  harness: Harness,
  tasks: AsyncTask<unknown, unknown>,
  count: number,
  first = 0,
): Promise<void> {
  for (let from = first; from < first + count; from += 1000) {
    const size = Math.min(1000, first + count - from);
    await harness.transaction((tx) =>
      tasks.enqueueMany(
        tx,
        Array.from({ length: size }, (_, i) => ({
          method: sideTarget.side,
          args: { key: `k${from + i}` },
        })),
      ),
    );
  }
}

/** Whether any attempt is pending or running (one page is enough to know). */
async function open(tasks: AsyncTask<unknown, unknown>): Promise<boolean> {
  const lists = await Promise.all([
    tasks.list({ status: 'pending', limit: 1 }),
    tasks.list({ status: 'running', limit: 1 }),
  ]);
  return lists.some((list) => list.length > 0);
}

export interface DrainResult {
  readonly row: ChaosRow;
  /** The processes of the scenario, all gone by now, with what each reported. */
  readonly fleet: WorkerFleet;
}

export async function drainUnderFaults(options: DrainUnderFaults): Promise<DrainResult> {
  const { harness } = options;
  await harness.createSideTable();
  const tasks = await migratedTasks(harness, { targets: [sideTarget] });
  const fleet = new WorkerFleet(options.childEnv ?? harness.childEnv(), options.workerOptions);
  try {
    const first = Array.from({ length: options.workers }, (_, n) => {
      const label = `w${n + 1}`;
      return fleet.start(label, {}, options.workerEnv?.(label) ?? {});
    });
    await Promise.all(first.map((worker) => worker.ready));
    const started = Date.now();
    let count = options.count;
    await enqueueSideTasks(harness, tasks, count);

    let drained = false;
    let held = false;
    const faults = options.inject({
      fleet,
      tasks,
      get count() {
        return count;
      },
      drained: () => drained,
      hold: (value) => {
        held = value;
      },
      enqueueMore: async (n) => {
        await enqueueSideTasks(harness, tasks, n, count);
        count += n;
      },
    });
    // A failing injector ends the wait at once, with its own error.
    let injectorError: Error | undefined;
    faults.catch((error: unknown) => {
      injectorError = error instanceof Error ? error : new Error(String(error));
    });
    let checkedAt = 0;
    await fleet.waitFor(
      `all tasks to finish`,
      async () => {
        if (injectorError !== undefined) throw injectorError;
        if (held || Date.now() - checkedAt < 500) return false;
        checkedAt = Date.now();
        const busy = await open(tasks).catch(() => true);
        // Held meanwhile: the injector may have enqueued more after the check began.
        return !busy && !held;
      },
      options.timeoutMs,
    );
    drained = true;
    const { description, recoveriesMs } = await faults;
    const elapsedMs = Date.now() - started;
    await fleet.stopAll();

    // Lost: an attempt missing, not succeeded, or without its side row.
    const rows = await harness.countAttempts();
    const lostDetails: string[] = [];
    let notSucceeded = 0;
    for (const status of ['pending', 'running', 'failed', 'expired'] as const) {
      const list = await tasks.list({ status, limit: 1000 });
      notSucceeded += list.length;
      for (const attempt of list.slice(0, 5)) {
        lostDetails.push(
          `${attempt.id} ${attempt.status} n=${attempt.numAttempts} ${attempt.lastError ?? ''}`,
        );
      }
    }
    const keys = new Set(await harness.sideKeys());
    let missingSide = 0;
    for (let n = 0; n < count; n += 1) {
      if (keys.has(`k${n}`)) continue;
      missingSide += 1;
      if (missingSide <= 5) lostDetails.push(`no side row for k${n}`);
    }
    const lost = Math.max(count - rows + notSucceeded, missingSide);
    if (count !== rows) lostDetails.push(`${rows} attempts for ${count} tasks`);

    // Double success: one id reported committed by two runs (the unique key would turn a
    // second insert into a failed attempt, so also counted as lost above).
    const doneRuns = new Map<string, number>();
    const starts = new Set<string>();
    let runs = 0;
    for (const worker of fleet.all) {
      for (const done of worker.done) {
        const id = done.split(' ')[0]!;
        doneRuns.set(id, (doneRuns.get(id) ?? 0) + 1);
      }
      for (const run of worker.starts) {
        starts.add(run.id);
        runs += 1;
      }
    }
    const doubleSuccesses =
      [...doneRuns.values()].filter((n) => n > 1).length + (keys.size > count ? 1 : 0);
    return {
      row: {
        scenario: options.scenario,
        faults: description,
        tasks: count,
        lost,
        doubleSuccesses,
        reruns: runs - starts.size,
        recoveryMs: recoveriesMs.length === 0 ? null : Math.max(...recoveriesMs),
        elapsedMs,
        ...(lost > 0 ? { lostDetails } : {}),
      },
      fleet,
    };
  } finally {
    await fleet.close();
  }
}

/** Whether `worker` has started (printed `ready`). */
export function isReady(worker: WorkerProcess): boolean {
  return worker.lines.some((line) => line.startsWith('ready '));
}

/**
 * A random live worker to kill, or none while any live worker is still starting: on a loaded
 * machine a replacement can take longer to start than the kill interval, and kills must not
 * outpace them until no worker is left to rescue anything.
 */
export function pickVictim(
  fleet: WorkerFleet,
  eligible: (worker: WorkerProcess) => boolean = () => true,
): WorkerProcess | undefined {
  const alive = fleet.alive();
  if (alive.length === 0 || !alive.every(isReady)) return undefined;
  const candidates = alive.filter(eligible);
  return candidates[Math.floor(Math.random() * candidates.length)];
}

/**
 * After at least `ms`, the next victim: as soon as every live worker is up (a replacement can
 * take longer than `ms` to start on a loaded machine). Undefined once `stop()` turns true.
 */
export async function nextVictim(
  fleet: WorkerFleet,
  ms: number,
  stop: () => boolean,
  eligible?: (worker: WorkerProcess) => boolean,
): Promise<WorkerProcess | undefined> {
  await pause(ms, stop);
  for (;;) {
    if (stop()) return undefined;
    const victim = pickVictim(fleet, eligible);
    if (victim !== undefined) return victim;
    await pause(50, stop);
  }
}

/** Resolves after `ms`, or at once when `stop()` turns true (checked every 50 ms). */
export async function pause(ms: number, stop: () => boolean = () => false): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !stop()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, until - Date.now())));
  }
}

/**
 * Until every run in `runs` is running again or finished: a rescuer handed it back after
 * `since`, or the database no longer shows that run (it committed unreported, or its own worker
 * wrote its outcome late). Resolves with the time since `since`.
 */
export async function rescued(
  fleet: WorkerFleet,
  tasks: AsyncTask<unknown, unknown>,
  runs: readonly Run[],
  since: number,
  what: string,
): Promise<number> {
  const open = (): Run[] => runs.filter((run) => (fleet.rescuedAt.get(run.id) ?? 0) < since);
  let checkedAt = 0;
  await fleet.waitFor(
    `the ${runs.length} tasks ${what} to be rescued`,
    async () => {
      const left = open();
      if (left.length === 0) return true;
      if (Date.now() - checkedAt < 100) return false;
      checkedAt = Date.now();
      const rows = await Promise.all(left.map((run) => tasks.get(run.id)));
      return rows.every(
        (row, i) => row?.status !== 'running' || row.numAttempts > left[i]!.numAttempts,
      );
    },
    60_000,
  );
  return Date.now() - since;
}

/** `rescued` for the runs `victim` had in flight when it was killed at `killedAt`. */
export function recovered(
  fleet: WorkerFleet,
  tasks: AsyncTask<unknown, unknown>,
  victim: WorkerProcess,
  killedAt: number,
): Promise<number> {
  return rescued(fleet, tasks, victim.inFlight(), killedAt, `${victim.label} had in flight`);
}
