import type { LockWaitSteps } from '../migrate-lock-wait.js';
import { adHoc } from '../statements.js';
import { transientTest } from '../transient-errors.js';
import { quoteTable } from './executor.js';

/**
 * PostgreSQL: `lock_timeout` for the migration's own transaction (set_config with is_local, so
 * the setting ends with it whatever happens), and 55P03 (lock_not_available) when it passes.
 */
export const postgresLockWait: LockWaitSteps = {
  async limit(connection, ms) {
    await connection.query(adHoc(`SELECT set_config('lock_timeout', $1, true) AS lock_timeout`), [
      `${Math.ceil(ms)}ms`,
    ]);
    return () => Promise.resolve();
  },
  timedOut: transientTest(new Set(['55P03'])),
  async holders(connection, table) {
    const { rows } = await connection.query(
      adHoc(
        `SELECT a.pid, coalesce(a.state, 'unknown') AS state,
           extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::int AS seconds
         FROM pg_stat_activity AS a
         WHERE a.pid IN (SELECT l.pid FROM pg_locks AS l
             WHERE l.relation = to_regclass($1::text) AND l.granted)
           AND a.pid <> pg_backend_pid()
         ORDER BY a.xact_start NULLS LAST
         LIMIT 5`,
      ),
      [quoteTable(table)],
    );
    return rows.map(
      (row) =>
        `pid ${String(row['pid'])} (${String(row['state'])}, its transaction open ${String(row['seconds'])} s; pg_stat_activity shows it, pg_terminate_backend ends it)`,
    );
  },
};
