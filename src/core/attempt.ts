import { shownErrorText } from './error-text.js';

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
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An attempt as a dialect reads it: arguments still in their stored (possibly encrypted) form. */
export interface AttemptRecord extends Omit<Attempt, 'args'> {
  readonly methodArgs: string | null;
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
  /**
   * The enqueuing span's trace context as JSON (W3C `traceparent`, `tracestate`), written when
   * telemetry is configured; never arguments.
   */
  readonly traceContext: string | null;
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

const idPattern = /^[1-9][0-9]{0,18}$/;

/** Ids are 64-bit integers carried as strings; anything else cannot name an attempt. */
export function isAttemptId(id: string): boolean {
  return idPattern.test(id) && (id.length < 19 || id <= '9223372036854775807');
}

/** The public view of a record: plain arguments decoded, encrypted ones withheld. */
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
    scheduledAt: record.scheduledAt,
    completedAt: record.completedAt,
    lastError: shownErrorText(record.lastError, record.encryptor !== null),
    progress: record.progress,
    progressMessage: record.progressMessage,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}
