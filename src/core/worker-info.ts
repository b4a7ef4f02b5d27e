/**
 * A live worker, as `tasks.workers()` lists it: a row of the worker registry, written when the
 * worker starts, refreshed at each of its heartbeats, deleted when it stops.
 */
export interface WorkerInfo {
  /** The worker's id: the `locked_by` of the attempts it holds (`worker.id`). */
  readonly id: string;
  /** The host it runs on (`os.hostname()`). */
  readonly hostname: string;
  /** Its process id on that host. */
  readonly pid: number;
  /** The queues it claims from; null for every queue. */
  readonly queues: readonly string[] | null;
  /** Handlers it runs at once. */
  readonly concurrency: number;
  /** Attempts it held (claimed and leased) at its last heartbeat. */
  readonly running: number;
  readonly startedAt: Date;
  /** Its last heartbeat, on the database's clock. */
  readonly lastSeenAt: Date;
  /**
   * Until when it counts as alive without another heartbeat: its last one plus three heartbeat
   * intervals, at least its lease. A worker that died (kill -9, a lost host) is listed until then.
   */
  readonly aliveUntil: Date;
}
