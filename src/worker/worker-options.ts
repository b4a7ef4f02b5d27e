import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, shown } from '../core/errors.js';
import { checkOptionNames, integerOption, optionNames } from '../core/options.js';
import { checkQueue, checkTimeout } from '../core/target.js';

const integer = integerOption('worker');

/** A queue to work, with its own cap on handlers running at once. */
export interface QueueOption {
  readonly name: string;
  readonly concurrency: number;
}

export interface WorkerOptions {
  /** Handlers running at once, across queues. @defaultValue 10 */
  readonly concurrency?: number;
  /** Queues to work (names, or `{ name, concurrency }` for a per-queue cap). @defaultValue every queue */
  readonly queues?: readonly (string | QueueOption)[];
  /**
   * Attempts claimed ahead of free handler slots, so handlers never wait for a round trip. Leave
   * it out: the worker then holds about 200 ms of work at the rate its handlers finish (from
   * twice `concurrency` up to 2,000, and fewer when arguments are large: about 16 MB of them as
   * stored, but never fewer than `concurrency`), which drains a backlog of short tasks in big
   * claims and leaves slow tasks pending for other workers. A number fixes it, whatever the size.
   * @defaultValue adaptive
   */
  readonly prefetch?: number;
  /** Most attempts claimed by one statement. @defaultValue 1000 */
  readonly batchSize?: number;
  /**
   * How often an idle worker looks for due work without a notification. Where enqueues from other
   * processes send none (SQLite, MySQL/MariaDB, `pollOnly`), a worker whose claims take something
   * looks every 25 ms, backing off to this interval once they find nothing. @defaultValue 1000
   */
  readonly pollIntervalMs?: number;
  /** Skip LISTEN/NOTIFY and rely on polling (PgBouncer/Supavisor transaction pooling). @defaultValue false */
  readonly pollOnly?: boolean;
  /**
   * PostgreSQL: make each claim wait for its WAL flush. By default a claim does not (it is most
   * of an idle pickup's latency), so a database server crash can forget a claim made in its last
   * moments, and that task may start again while its first run is still going (the first run's
   * outcome is then fenced off). Set it where a task must never run twice at once even then.
   * @defaultValue false
   */
  readonly durableClaims?: boolean;
  /** Lease on each claimed attempt. @defaultValue 30000 */
  readonly leaseMs?: number;
  /**
   * How often leases of in-flight attempts are extended and the worker's row in the worker
   * registry (`tasks.workers()`) is refreshed. @defaultValue 10000
   */
  readonly heartbeatMs?: number;
  /**
   * Longest a run may take unless its method or target says otherwise (`timeoutMs`): past it,
   * `ctx.signal` aborts, the run counts as a failed attempt and its slot is freed.
   * @defaultValue 10 × `leaseMs` (5 minutes)
   */
  readonly taskTimeoutMs?: number;
  /** How often attempts with expired leases are handed back. @defaultValue 5000 */
  readonly rescueIntervalMs?: number;
  /**
   * How long a finished attempt's outcome may wait to share a write with others. With 0 it is
   * written as soon as the write before it is done (outcomes that finish meanwhile go together),
   * which under load batches as well as a delay would, and keeps the crash window small.
   * @defaultValue 0
   */
  readonly flushMs?: number;
  /** Call `stop()` on SIGTERM and SIGINT. @defaultValue false */
  readonly handleSignals?: boolean;
  /** Shows up in `locked_by`: 1-200 printable characters. @defaultValue `host:pid:random` */
  readonly id?: string;
}

export interface StopOptions {
  /** How long in-flight handlers may run before they are aborted and their leases handed back. @defaultValue 30000 */
  readonly timeoutMs?: number;
}

/** `WorkerOptions` checked, with every default filled in. */
export interface WorkerSettings {
  readonly id: string;
  readonly concurrency: number;
  /** Left out: the claim sizer adapts. */
  readonly prefetch: number | undefined;
  readonly batchSize: number | undefined;
  readonly pollIntervalMs: number;
  readonly pollOnly: boolean;
  readonly durableClaims: boolean;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly taskTimeoutMs: number;
  readonly rescueIntervalMs: number;
  readonly flushMs: number;
  readonly handleSignals: boolean;
  /** Null: every queue. */
  readonly queues: readonly string[] | null;
  /** Caps of the queues given as `{ name, concurrency }`. */
  readonly queueLimits: ReadonlyMap<string, number>;
}

const workerOptionNames = optionNames<WorkerOptions>({
  concurrency: true,
  queues: true,
  prefetch: true,
  batchSize: true,
  pollIntervalMs: true,
  pollOnly: true,
  durableClaims: true,
  leaseMs: true,
  heartbeatMs: true,
  taskTimeoutMs: true,
  rescueIntervalMs: true,
  flushMs: true,
  handleSignals: true,
  id: true,
});

const stopOptionNames = optionNames<StopOptions>({ timeoutMs: true });
const queueOptionNames = optionNames<QueueOption>({ name: true, concurrency: true });

/** Checks a worker's options; a ConfigError names the first one that is wrong. */
export function workerSettings(options: WorkerOptions): WorkerSettings {
  checkOptionNames(options, workerOptionNames, 'worker');
  const concurrency = integer(options.concurrency, 10, 'concurrency', 1, 10_000);
  const prefetch =
    options.prefetch === undefined
      ? undefined
      : integer(options.prefetch, 0, 'prefetch', 0, 100_000);
  const batchSize =
    options.batchSize === undefined
      ? undefined
      : integer(options.batchSize, 0, 'batchSize', 1, 10_000);
  const pollIntervalMs = integer(options.pollIntervalMs, 1000, 'pollIntervalMs', 1, 3_600_000);
  const leaseMs = integer(options.leaseMs, 30_000, 'leaseMs', 100, 86_400_000);
  const heartbeatMs = integer(options.heartbeatMs, 10_000, 'heartbeatMs', 10, 86_400_000);
  const taskTimeoutMs = checkTimeout(
    options.taskTimeoutMs ?? Math.min(leaseMs * 10, 7 * 86_400_000),
    'worker: taskTimeoutMs',
  );
  if (heartbeatMs >= leaseMs) {
    throw new ConfigError(
      `worker: heartbeatMs (${heartbeatMs}) must be shorter than leaseMs (${leaseMs}), or leases run out between heartbeats`,
    );
  }
  const rescueIntervalMs = integer(
    options.rescueIntervalMs,
    5000,
    'rescueIntervalMs',
    10,
    86_400_000,
  );
  const flushMs = integer(options.flushMs, 0, 'flushMs', 0, 60_000);
  const { queues, queueLimits } = queueSettings(options.queues);
  return {
    id: workerId(options.id),
    concurrency,
    prefetch,
    batchSize,
    pollIntervalMs,
    pollOnly: options.pollOnly ?? false,
    durableClaims: options.durableClaims ?? false,
    leaseMs,
    heartbeatMs,
    taskTimeoutMs,
    rescueIntervalMs,
    flushMs,
    handleSignals: options.handleSignals ?? false,
    queues,
    queueLimits,
  };
}

function queueSettings(
  queues: WorkerOptions['queues'],
): Pick<WorkerSettings, 'queues' | 'queueLimits'> {
  const limits = new Map<string, number>();
  const names: string[] = [];
  for (const queue of queues ?? []) {
    if (typeof queue !== 'string' && (typeof queue !== 'object' || queue === null)) {
      throw new ConfigError(
        `worker: queues holds ${shown(queue)}; each entry is a queue name or { name, concurrency }`,
      );
    }
    const name = checkQueue(typeof queue === 'string' ? queue : queue.name, 'worker: queues');
    if (names.includes(name)) {
      throw new ConfigError(`worker: queues lists '${name}' twice; list each queue once`);
    }
    names.push(name);
    if (typeof queue !== 'string') {
      checkOptionNames(queue, queueOptionNames, `worker: queues entry '${name}'`);
      // Left out, it would have meant 1: a typo must not quietly run the queue one at a time.
      if (queue.concurrency === undefined) {
        throw new ConfigError(
          `worker: queues entry '${name}' has no concurrency; give it one, or pass '${name}' alone to work it without a cap`,
        );
      }
      limits.set(name, integer(queue.concurrency, 1, `queues.${name}.concurrency`, 1, 10_000));
    }
  }
  if (queues !== undefined && names.length === 0) {
    throw new ConfigError('worker: queues is empty; leave it out to work every queue');
  }
  return { queues: queues === undefined ? null : names, queueLimits: limits };
}

function workerId(given: string | undefined): string {
  const id = given ?? `${hostname().slice(0, 100)}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // Stored in every claimed row (MySQL: VARCHAR(255)) and printed by the CLI.
  if (typeof id !== 'string' || !/^[\x21-\x7e][\x20-\x7e]{0,199}$/.test(id)) {
    throw new ConfigError(
      `worker: id must be 1-200 printable ASCII characters, not starting with a space; got ${shown(id)}`,
    );
  }
  return id;
}

/** How long `stop()` lets handlers run before it aborts them. */
export function stopTimeoutMs(options: StopOptions): number {
  checkOptionNames(options, stopOptionNames, 'worker.stop');
  return integer(options.timeoutMs, 30_000, 'timeoutMs', 0, 86_400_000);
}
