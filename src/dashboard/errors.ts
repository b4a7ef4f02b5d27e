import { AsyncTaskError } from '../core/errors.js';

/** The dashboard's `authorize` said no, or gave no answer it could use (HTTP 401). */
export class DashboardUnauthorizedError extends AsyncTaskError {
  declare readonly code: 'UNAUTHORIZED';
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAUTHORIZED', message, options);
  }
}

/**
 * A state-changing request was refused (HTTP 403): no valid CSRF token, not from the dashboard's
 * own origin, or the dashboard is read-only.
 */
export class DashboardForbiddenError extends AsyncTaskError {
  declare readonly code: 'FORBIDDEN';
  constructor(message: string) {
    super('FORBIDDEN', message);
  }
}
