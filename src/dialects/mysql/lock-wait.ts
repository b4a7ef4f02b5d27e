import type { LockWaitSteps } from '../migrate-lock-wait.js';
import { adHoc } from '../statements.js';
import { transientTest } from '../transient-errors.js';

/**
 * MySQL/MariaDB: the session's `lock_wait_timeout` (metadata locks, what DDL waits for), in whole
 * seconds, given back afterwards: the connection may return to the application's pool. Error
 * 1205 when it passes.
 */
export const mysqlLockWait: LockWaitSteps = {
  async limit(connection, ms) {
    const { rows } = await connection.query(
      adHoc('SELECT @@SESSION.lock_wait_timeout AS previous'),
      [],
    );
    const previous = Math.trunc(Number(rows[0]?.['previous']));
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    await connection.query(adHoc(`SET SESSION lock_wait_timeout = ${seconds}`), []);
    return async () => {
      if (!Number.isSafeInteger(previous) || previous < 1) return;
      await connection
        .query(adHoc(`SET SESSION lock_wait_timeout = ${previous}`), [])
        .catch(() => undefined);
    };
  },
  timedOut: transientTest(new Set(['1205', 'ER_LOCK_WAIT_TIMEOUT'])),
  // Which session holds a metadata lock needs the metadata_lock_info plugin (MariaDB) or
  // performance_schema (MySQL), often off: the oldest open transactions are the likely holders.
  async holders(connection) {
    const { rows } = await connection.query(
      adHoc(
        `SELECT trx_mysql_thread_id AS id,
           TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS seconds
         FROM information_schema.INNODB_TRX
         WHERE trx_mysql_thread_id <> CONNECTION_ID()
         ORDER BY trx_started
         LIMIT 5`,
      ),
      [],
    );
    return rows.map(
      (row) =>
        `perhaps connection ${String(row['id'])} (a transaction open ${String(row['seconds'])} s; SHOW PROCESSLIST shows it, KILL ends it)`,
    );
  },
};
