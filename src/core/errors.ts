import type { AttemptStatus } from './attempt.js';
import { storableText } from './storable-text.js';

/**
 * Stable codes carried by every error async-task throws. Match on `error.code`, not on messages.
 */
export type AsyncTaskErrorCode =
  | 'CANCELLED'
  | 'CONFIG'
  | 'DATABASE'
  | 'DECRYPTION'
  | 'DRAIN_LIMIT'
  | 'FORBIDDEN'
  | 'INVALID_STATE'
  | 'LEASE_LOST'
  | 'PERMANENT'
  | 'SCHEMA_OUTDATED'
  | 'SERIALIZATION'
  | 'TIMEOUT'
  | 'UNAUTHORIZED'
  | 'UNKNOWN_TARGET';

/** Base class of every error async-task throws. `code` is stable across versions. */
export class AsyncTaskError extends Error {
  readonly code: AsyncTaskErrorCode;

  constructor(code: AsyncTaskErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The reason `ctx.signal` aborts when `tasks.cancel(id)` asked the running attempt to stop (and
 * what `ctx.transaction` throws once it has). The attempt ends `expired` with `lastError`
 * 'Cancelled' whatever the handler does next.
 *
 * @example
 * if (ctx.signal.aborted && (ctx.signal.reason as Error).code === 'CANCELLED') return;
 */
export class CancelledError extends AsyncTaskError {
  declare readonly code: 'CANCELLED';
  readonly attemptId: string;

  constructor(attemptId: string, message: string) {
    super('CANCELLED', message);
    this.attemptId = attemptId;
  }
}

/** An option, a name or a table name is wrong. Thrown where the bad value was given. */
export class ConfigError extends AsyncTaskError {
  declare readonly code: 'CONFIG';
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** The database refused a statement; `cause` is the client's own error. */
export class DatabaseError extends AsyncTaskError {
  declare readonly code: 'DATABASE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATABASE', message, options);
  }
}

/** Stored arguments could not be decrypted (unknown encryptor or key, or tampered data). */
export class DecryptionError extends AsyncTaskError {
  declare readonly code: 'DECRYPTION';
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECRYPTION', message, options);
  }
}

/** The attempt is not in a state that allows the requested transition. */
export class InvalidStateError extends AsyncTaskError {
  declare readonly code: 'INVALID_STATE';
  readonly attemptId: string;
  readonly status: AttemptStatus | null;

  constructor(attemptId: string, status: AttemptStatus | null, message: string) {
    super('INVALID_STATE', message);
    this.attemptId = attemptId;
    this.status = status;
  }
}

/** The worker no longer holds the lease of the attempt (it expired and was rescued). */
export class LeaseLostError extends AsyncTaskError {
  declare readonly code: 'LEASE_LOST';
  constructor(message: string) {
    super('LEASE_LOST', message);
  }
}

/**
 * Throw from a handler to fail the attempt at once, without retries.
 *
 * @example
 * if (!customer) throw new PermanentError(`customer ${args.customerToken} does not exist`);
 */
export class PermanentError extends AsyncTaskError {
  declare readonly code: 'PERMANENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMANENT', message, options);
  }
}

/** The database schema is older or newer than this version of async-task understands. */
export class SchemaOutdatedError extends AsyncTaskError {
  declare readonly code: 'SCHEMA_OUTDATED';
  constructor(message: string) {
    super('SCHEMA_OUTDATED', message);
  }
}

/** Arguments cannot be stored as JSON without losing information. `path` names the value. */
export class SerializationError extends AsyncTaskError {
  declare readonly code: 'SERIALIZATION';
  readonly path: string;

  constructor(path: string, message: string) {
    super('SERIALIZATION', message);
    this.path = path;
  }
}

/** The method's target is not one of the `targets` given to this `AsyncTask`. */
export class UnknownTargetError extends AsyncTaskError {
  declare readonly code: 'UNKNOWN_TARGET';
  constructor(message: string) {
    super('UNKNOWN_TARGET', message);
  }
}

/**
 * A run went past its time limit (`timeoutMs` of the method, the target or the worker): its
 * `ctx.signal` was aborted and the run counted as a failed attempt, whatever the handler does next.
 */
export class TaskTimeoutError extends AsyncTaskError {
  declare readonly code: 'TIMEOUT';
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}

/**
 * A user-given value for an error message: never throws (a Symbol, a null-prototype object, a
 * Proxy), and long values are cut.
 */
export function shown(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  } catch {
    text = typeOf(value);
  }
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/** Longest text kept of one error: `last_error` is a record, not a log. */
const maxErrorText = 4000;

/**
 * `ClassName: message`, never a stack: this is what lands in `last_error`. Never throws, whatever
 * was thrown (a null-prototype object, a Proxy whose traps throw, a getter that throws, a BigInt):
 * a value that cannot describe itself is named by its type. A non-Error is not serialised whole
 * (it may hold a task's arguments); a string is kept, as its own message.
 */
export function describeError(error: unknown): string {
  const text = `${errorName(error)}: ${errorMessage(error)}`;
  const stored = storableText(text, maxErrorText);
  return text.length > maxErrorText ? `${stored}… (truncated)` : stored;
}

/** An error's `name` as it reads: what `last_error` of a plain task starts with. */
export function errorName(error: unknown): string {
  try {
    if (isError(error)) {
      const name = (error as { name?: unknown }).name;
      return typeof name === 'string' && name.length > 0 ? storableText(name, 200) : 'Error';
    }
  } catch {
    return 'Error';
  }
  return 'NonError';
}

/** What reads as a class name: a JavaScript identifier (any script), or dotted ones. */
const className =
  /^[\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*(?:\.[\p{ID_Start}_$][\p{ID_Continue}$\u200c\u200d]*)*$/u;

/**
 * The class of what was thrown, for logs, events and encrypted tasks' errors, which must not
 * carry its message. `name` is any string its code chose and may hold data
 * (`this.name = \`CardError(${card})\``): kept only when it reads as a class name, else the
 * constructor's name when that does, else `Error`.
 */
export function errorClassName(error: unknown): string {
  const name = errorName(error);
  if (name === 'NonError' || (name.length <= 100 && className.test(name))) return name;
  try {
    const constructorName = (Object.getPrototypeOf(error) as { constructor?: { name?: unknown } })
      .constructor?.name;
    if (
      typeof constructorName === 'string' &&
      constructorName.length <= 100 &&
      className.test(constructorName)
    ) {
      return constructorName;
    }
  } catch {
    // a Proxy whose traps throw
  }
  return 'Error';
}

/** The message of what was thrown; never throws itself (a hostile value, a Proxy). */
export function errorMessage(error: unknown): string {
  try {
    if (isError(error)) {
      const message = (error as { message?: unknown }).message;
      return typeof message === 'string' ? message : typeOf(message);
    }
    if (typeof error === 'string') return error;
    return typeOf(error);
  } catch {
    return '(the error could not be read)';
  }
}

function isError(value: unknown): boolean {
  try {
    return value instanceof Error;
  } catch {
    return false; // a Proxy whose getPrototypeOf trap throws
  }
}

/** A value's kind, read without calling anything of the value's own. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  // Numbers, booleans and undefined are short and carry no structure worth hiding.
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) {
    return String(value);
  }
  if (typeof value === 'symbol' || typeof value === 'bigint') return `a ${typeof value}`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return 'a string';
  try {
    return Array.isArray(value) ? 'an array' : 'an object';
  } catch {
    return 'an object'; // a revoked Proxy
  }
}
