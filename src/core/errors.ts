/**
 * Stable codes carried by every error async-task throws. Match on `error.code`, not on messages.
 */
export type AsyncTaskErrorCode =
  | 'CONFIG'
  | 'DATABASE'
  | 'DECRYPTION'
  | 'INVALID_STATE'
  | 'LEASE_LOST'
  | 'PERMANENT'
  | 'SCHEMA_OUTDATED'
  | 'SERIALIZATION'
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

/** An option, a name or a table name is wrong. Thrown where the bad value was given. */
export class ConfigError extends AsyncTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

/** The database refused a statement; `cause` is the client's own error. */
export class DatabaseError extends AsyncTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATABASE', message, options);
  }
}

/** Stored arguments could not be decrypted (unknown encryptor or key, or tampered data). */
export class DecryptionError extends AsyncTaskError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECRYPTION', message, options);
  }
}

/** The attempt is not in a state that allows the requested transition. */
export class InvalidStateError extends AsyncTaskError {
  readonly attemptId: string;
  readonly status: string | null;

  constructor(attemptId: string, status: string | null, message: string) {
    super('INVALID_STATE', message);
    this.attemptId = attemptId;
    this.status = status;
  }
}

/** The worker no longer holds the lease of the attempt (it expired and was rescued). */
export class LeaseLostError extends AsyncTaskError {
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
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMANENT', message, options);
  }
}

/** The database schema is older or newer than this version of async-task understands. */
export class SchemaOutdatedError extends AsyncTaskError {
  constructor(message: string) {
    super('SCHEMA_OUTDATED', message);
  }
}

/** Arguments cannot be stored as JSON without losing information. `path` names the value. */
export class SerializationError extends AsyncTaskError {
  readonly path: string;

  constructor(path: string, message: string) {
    super('SERIALIZATION', message);
    this.path = path;
  }
}

/** The method's target is not one of the `targets` given to this `AsyncTask`. */
export class UnknownTargetError extends AsyncTaskError {
  constructor(message: string) {
    super('UNKNOWN_TARGET', message);
  }
}

/** `ClassName: message`, never a stack: this is what lands in `last_error`. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `NonError: ${typeof error === 'string' ? error : safeString(error)}`;
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
