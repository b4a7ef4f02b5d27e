export { AsyncTask } from './async-task.js';
export type {
  AsyncTaskDefaults,
  AsyncTaskOptions,
  AttemptStats,
  CancelResult,
  EnqueueArgs,
  EnqueueItem,
  EnqueueOptions,
  ListOptions,
  MigrateOptions,
  PruneOptions,
  Schedule,
  WorkerInfo,
} from './async-task.js';
export type { Attempt, AttemptStatus, RunRecord, RunRecordOutcome } from './core/attempt.js';
export { aesGcmEncryptor } from './core/encryptor.js';
export type { AesGcmEncryptorOptions, Encryptor } from './core/encryptor.js';
export {
  AsyncTaskError,
  CancelledError,
  ConfigError,
  DatabaseError,
  DecryptionError,
  InvalidStateError,
  LeaseLostError,
  PermanentError,
  SchemaOutdatedError,
  SerializationError,
  TaskTimeoutError,
  UnknownTargetError,
} from './core/errors.js';
export type { AsyncTaskErrorCode } from './core/errors.js';
export type { Logger } from './core/logger.js';
export type { QueueFlowOptions, RateLimitOptions } from './core/flow.js';
export type { RetentionOptions } from './core/retention.js';
export { exponentialBackoff } from './core/retry-policy.js';
export type { Backoff } from './core/retry-policy.js';
export type { JsonArgs } from './core/json-args.js';
export { defineTarget } from './core/target.js';
export type {
  MethodOptions,
  Register,
  Target,
  TargetOptions,
  TaskContext,
  TaskMethod,
} from './core/target.js';
export type { Driver } from './seam/driver.js';
export type { Telemetry } from './seam/telemetry.js';
export type { RunDueOptions, RunDueResult } from './worker/pass.js';
export type { ErrorHook } from './worker/runtime.js';
export { Worker } from './worker/worker.js';
export type { QueueOption, StopOptions, WorkerEvents, WorkerOptions } from './worker/worker.js';
