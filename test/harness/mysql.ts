import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import type { Driver } from '../../src/seam/driver.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import type { DialectFixture, Harness } from './fixture.js';

export const mysqlUrl =
  process.env['ASYNC_TASK_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';

/** `mysqlUrl` with another default database. */
export function mysqlUrlFor(database: string): string {
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A database of its own per harness, so test files run in parallel without seeing each other. */
export async function mysqlHarness(
  options: { max?: number } = {},
): Promise<Harness & { pool: mysql.Pool; database: string }> {
  const database = `at_test_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: mysqlUrl });
  try {
    await admin.query(`CREATE DATABASE \`${database}\``);
  } finally {
    await admin.end();
  }
  const pool = mysql.createPool({
    uri: mysqlUrlFor(database),
    connectionLimit: options.max ?? 10,
  });
  const quoted = `\`${database}\``;
  const table = `${quoted}.\`async_task_attempts\``;
  return {
    pool,
    database,
    driver: mysql2Driver(pool) as unknown as Driver<unknown, unknown>,
    table: `${database}.async_task_attempts`,
    async transaction(fn) {
      const connection = await pool.getConnection();
      try {
        await connection.beginTransaction();
        const result = await fn(connection);
        await connection.commit();
        return result;
      } catch (error) {
        await connection.rollback();
        throw error;
      } finally {
        connection.release();
      }
    },
    async rolledBackSavepoint(tx, fn) {
      const connection = tx as mysql.PoolConnection;
      await connection.query('SAVEPOINT nested');
      await fn(connection);
      await connection.query('ROLLBACK TO SAVEPOINT nested');
    },
    async rawMethodArgs(id) {
      const [rows] = await pool.query<mysql.RowDataPacket[]>(
        `SELECT method_args FROM ${table} WHERE id = ?`,
        [id],
      );
      return (rows[0]?.['method_args'] as string | null | undefined) ?? null;
    },
    async countAttempts() {
      const [rows] = await pool.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
      return Number(rows[0]?.['n'] ?? 0);
    },
    async makeDue(id) {
      await pool.query(
        `UPDATE ${table} SET scheduled_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = ?`,
        [id],
      );
    },
    async expireLease(id) {
      await pool.query(
        `UPDATE ${table} SET locked_until = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE id = ?`,
        [id],
      );
    },
    async createSideTable() {
      await pool.query(
        `CREATE TABLE ${quoted}.side_effects (\`key\` VARCHAR(255) PRIMARY KEY) ENGINE = InnoDB`,
      );
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as mysql.PoolConnection).query(
        `INSERT INTO ${quoted}.side_effects (\`key\`) VALUES (?)`,
        [key],
      );
    },
    async sideKeys() {
      const [rows] = await pool.query<mysql.RowDataPacket[]>(
        `SELECT \`key\` FROM ${quoted}.side_effects ORDER BY \`key\``,
      );
      return rows.map((row) => row['key'] as string);
    },
    async lockWaiters() {
      // From the InnoDB monitor rather than information_schema.INNODB_TRX, which MariaDB fills
      // from a cache that can leave out transactions while many wait. A transaction is counted
      // when it waits for a lock on a table of this harness's database.
      const [rows] = await pool.query<mysql.RowDataPacket[]>('SHOW ENGINE INNODB STATUS');
      const status = String(rows[0]?.['Status'] ?? '');
      const transactions = status.split('\n---TRANSACTION ').slice(1);
      return transactions.filter((block) => {
        const waiting = block.split('FOR THIS LOCK TO BE GRANTED:')[1];
        return waiting !== undefined && waiting.includes(`table ${quoted}.`);
      }).length;
    },
    childEnv() {
      return {
        ASYNC_TASK_CHILD_DIALECT: 'mysql',
        ASYNC_TASK_CHILD_URL: mysqlUrlFor(database),
        ASYNC_TASK_CHILD_TABLE: `${database}.async_task_attempts`,
      };
    },
    async close() {
      await pool.query(`DROP DATABASE ${quoted}`);
      await pool.end();
    },
  };
}

export const mysqlFixture: DialectFixture = {
  label: 'mysql/mysql2',
  dialect: 'mysql',
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlHarness({ max: Math.max(10, options?.connections ?? 0) }),
};
