import { isEncryptedErrorText, shownErrorText } from './error-text.js';

/** Where an attempt is in its life. */
export type AttemptStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'expired';

export const attemptStatuses: readonly AttemptStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'expired',
];

/**
 * One task, as stored. `args` holds the decoded arguments of a plain (unencrypted) attempt; for an
 * attempt stored with an encryptor it is `undefined`, so encrypted arguments never leave the
 * handler call in clear.
 */
export interface Attempt {
  readonly id: string;
  readonly status: AttemptStatus;
  readonly target: string;
  readonly methodName: string;
  readonly args: unknown;
  readonly encryptor: string | null;
  readonly numAttempts: number;
  readonly maxAttempts: number;
  readonly queue: string;
  readonly priority: number;
  readonly idempotenceToken: string | null;
  readonly scheduledAt: Date;
  readonly completedAt: Date | null;
  /**
   * The most recent failure as `ClassName: message` (no stack); kept after a later success. For
   * an encrypted task only `ClassName: [encrypted]`: the message is stored encrypted with the
   * task's encryptor (`tasks.decryptLastError(id)` reads it).
   */
  readonly lastError: string | null;
  /**
   * What the handler last reported with `ctx.progress`: a fraction from 0 to 1, and its message.
   * Null until a run reports; reset to null whenever the attempt goes back to `pending` (a retry,
   * a rescued lease, a release at shutdown, `retry(id)`), so it always describes the current or
   * the last run. Kept after the run ends, succeeded or failed, as the run last reported it.
   */
  readonly progress: number | null;
  readonly progressMessage: string | null;
  /**
   * The runs that did not succeed, oldest first: at most the last {@link maxRunRecords}, older
   * ones dropped. A succeeded run adds nothing, so an attempt that succeeded the first time has
   * none. Read by `get` and `list`; empty in `ctx.attempt` (the claim does not read it).
   */
  readonly runs: readonly RunRecord[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** How a run that did not succeed ended, as {@link RunRecord.outcome} records it. */
export type RunRecordOutcome =
  /** Its handler failed (threw, timed out) with attempts left: the attempt is pending again. */
  | 'retried'
  /** It failed for good: a permanent error, the last attempt, an unknown method, bad arguments. */
  | 'failed'
  /** `tasks.cancel()` stopped it: the attempt is expired. */
  | 'cancelled'
  /** Its worker's lease ran out before it finished (the worker died or hung); rescued. */
  | 'lease expired';

/**
 * One run of an attempt that did not succeed, as kept in the attempt's bounded run history.
 * Operator transitions (`expire`, `fail`, `retry`, cancelling a pending attempt) are not runs and
 * add nothing; nor does a run handed back uncounted at shutdown, nor a success turned `expired`
 * by a cancel request that landed after the worker last looked (the success statement writes no
 * history). A rescued run and a cancelled one are recorded.
 */
export interface RunRecord {
  /** The run's number: the attempt's `numAttempts` while it ran. */
  readonly n: number;
  /** The worker that ran it (its lease holder id). */
  readonly by: string | null;
  /** When its handler started, by the worker's clock; null when unknown (a rescued lease). */
  readonly startedAt: Date | null;
  /** When it ended: by the worker's clock, or the database's when its lease was rescued. */
  readonly endedAt: Date;
  readonly outcome: RunRecordOutcome;
  /**
   * What it left in `lastError` (class and message, never arguments); for an encrypted task only
   * `ClassName: [encrypted]`.
   */
  readonly error: string | null;
}

/** The most entries a run history keeps; each new one past it drops the oldest. */
export const maxRunRecords = 20;

/** An attempt as a dialect reads it: arguments still in their stored (possibly encrypted) form. */
export interface AttemptRecord extends Omit<Attempt, 'args' | 'runs'> {
  readonly methodArgs: string | null;
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
  /**
   * The enqueuing span's trace context as JSON (W3C `traceparent`, `tracestate`), written when
   * telemetry is configured; never arguments.
   */
  readonly traceContext: string | null;
  /**
   * The run history, as stored; absent when there is none, or where the statement did not read
   * it (claims, inserts, management transitions).
   */
  readonly runs?: readonly RunRecord[] | undefined;
}

/** Statuses from which each management transition is allowed (the gem's `expire!`/`fail!`). */
export const allowedFrom = {
  expire: ['pending'],
  fail: ['pending'],
  retry: ['failed', 'expired'],
  cancel: ['pending', 'running'],
} as const satisfies Record<string, readonly AttemptStatus[]>;

/** The outcome of one run, as the completer writes it. */
export type Outcome =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: string }
  | { readonly kind: 'failed'; readonly error: string };

const noRuns: readonly RunRecord[] = Object.freeze([]);

/**
 * A stored run history (JSON text, or the array a client already parsed) as records; anything
 * unreadable is left out rather than failing the read of the attempt.
 */
export function parseRuns(stored: unknown): readonly RunRecord[] {
  if (stored === null || stored === undefined) return noRuns;
  let value: unknown = stored;
  if (typeof stored === 'string') {
    try {
      value = JSON.parse(stored);
    } catch {
      return noRuns;
    }
  }
  if (!Array.isArray(value)) return noRuns;
  const runs: RunRecord[] = [];
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const ended = Number(e['endedAt']);
    if (!Number.isFinite(ended)) continue;
    runs.push({
      n: Number(e['n']),
      by: typeof e['by'] === 'string' ? e['by'] : null,
      startedAt:
        e['startedAt'] === null || e['startedAt'] === undefined
          ? null
          : new Date(Number(e['startedAt'])),
      endedAt: new Date(ended),
      outcome: e['outcome'] as RunRecordOutcome,
      error: typeof e['error'] === 'string' ? e['error'] : null,
    });
  }
  return runs;
}

const idPattern = /^[1-9][0-9]{0,18}$/;

/** Ids are 64-bit integers carried as strings; anything else cannot name an attempt. */
export function isAttemptId(id: string): boolean {
  return idPattern.test(id) && (id.length < 19 || id <= '9223372036854775807');
}

/**
 * The public view of a record: plain arguments decoded, encrypted ones withheld, Dates of its own
 * (records of one claim share theirs, see ClaimedValues, and user code may change a Date).
 */
export function toAttempt(
  record: AttemptRecord,
  decode: (text: string | null) => unknown,
): Attempt {
  let args: unknown = undefined;
  if (record.encryptor === null) {
    try {
      args = decode(record.methodArgs);
    } catch {
      args = undefined;
    }
  }
  return {
    id: record.id,
    status: record.status,
    target: record.target,
    methodName: record.methodName,
    args,
    encryptor: record.encryptor,
    numAttempts: record.numAttempts,
    maxAttempts: record.maxAttempts,
    queue: record.queue,
    priority: record.priority,
    idempotenceToken: record.idempotenceToken,
    scheduledAt: new Date(record.scheduledAt.getTime()),
    completedAt: record.completedAt && new Date(record.completedAt.getTime()),
    lastError: shownErrorText(record.lastError),
    progress: record.progress,
    progressMessage: record.progressMessage,
    runs:
      record.runs === undefined || !record.runs.some((run) => isEncryptedErrorText(run.error))
        ? (record.runs ?? noRuns)
        : record.runs.map((run) => ({ ...run, error: shownErrorText(run.error) })),
    createdAt: new Date(record.createdAt.getTime()),
    updatedAt: new Date(record.updatedAt.getTime()),
  };
}
