// Checked by `tsc --noEmit` only (never run): each error class's `code` is its own literal, so a
// comparison with another code does not compile, and InvalidStateError's status is a status.
import type {
  AttemptStatus,
  CancelledError,
  ConfigError,
  InvalidStateError,
  TaskTimeoutError,
} from '../../src/index.js';
import type { DrainLimitError } from '../../src/testing/index.js';
import type { DashboardUnauthorizedError } from '../../src/dashboard/index.js';

/** Never called: the body only has to type-check. */
export function errorTypes(
  cancelled: CancelledError,
  config: ConfigError,
  invalid: InvalidStateError,
  timeout: TaskTimeoutError,
  drain: DrainLimitError,
  unauthorized: DashboardUnauthorizedError,
): void {
  const codes: ['CANCELLED', 'CONFIG', 'TIMEOUT', 'DRAIN_LIMIT', 'UNAUTHORIZED'] = [
    cancelled.code,
    config.code,
    timeout.code,
    drain.code,
    unauthorized.code,
  ];
  void codes;
  // @ts-expect-error a ConfigError's code is never TIMEOUT
  if (config.code === 'TIMEOUT') return;
  const status: AttemptStatus | null = invalid.status;
  void status;
}
