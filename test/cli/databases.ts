// One database per CLI test file: a PostgreSQL schema, a MariaDB database, or a SQLite file, and
// an AsyncTask on the same table to seed and inspect attempts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { AsyncTask } from '../../src/index.js';
import {
  betterSqlite3Driver,
  type BetterSqlite3Database,
  type BetterSqlite3Statement,
} from '../../src/drivers/better-sqlite3.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import { pgDriver } from '../../src/drivers/pg.js';
import { CliFixture, encryptors } from './fixtures/targets.js';

export const postgresUrl =
  process.env['ASYNC_TASK_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const mysqlUrl =
  process.env['ASYNC_TASK_TEST_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test';

export type SeedTasks = AsyncTask<unknown, unknown, typeof encryptors>;

export interface CliDatabase {
  readonly label: string;
  /** What `--database-url` gets. */
  readonly url: string;
  /** The attempts table, as `--table` gets it. */
  readonly table: string;
  /** `--database-url <url> --table <table>`. */
  readonly args: readonly string[];
  /** A table name (as `--table` takes it) next to `table`, for tests that need a fresh one. */
  tableNamed(name: string): string;
  /** An AsyncTask on `table` with the fixture's targets and encryptors. */
  readonly tasks: SeedTasks;
  /** What `enqueue` takes outside a transaction (the pool, or the SQLite database). */
  readonly pool: unknown;
  /** Moves an attempt's `completed_at` back by `ms`. */
  backdateCompleted(id: string, ms: number): Promise<void>;
  close(): Promise<void>;
}

function newTasks(driver: unknown, table: string): SeedTasks {
  return new AsyncTask({
    driver: driver as ConstructorParameters<typeof AsyncTask<unknown>>[0]['driver'],
    targets: [CliFixture],
    encryptors,
    table,
  });
}

/** A schema of its own in the test database: `--table <schema>.async_task_attempts`. */
export async function postgresCliDatabase(): Promise<CliDatabase> {
  const schema = `at_cli_${randomBytes(6).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: postgresUrl, max: 4 });
  await pool.query(`CREATE SCHEMA "${schema}"`);
  const table = `${schema}.async_task_attempts`;
  return {
    label: 'postgres',
    url: postgresUrl,
    table,
    args: ['--database-url', postgresUrl, '--table', table],
    tableNamed: (name) => `${schema}.${name}`,
    tasks: newTasks(pgDriver(pool), table),
    pool,
    async backdateCompleted(id, ms) {
      await pool.query(
        `UPDATE "${schema}".async_task_attempts
         SET completed_at = completed_at - $2 * interval '1 millisecond' WHERE id = $1`,
        [id, ms],
      );
    },
    async close() {
      await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** A database of its own on the MariaDB server, named in the URL; the default table name. */
export async function mysqlCliDatabase(): Promise<CliDatabase> {
  const database = `at_cli_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: mysqlUrl });
  try {
    await admin.query(`CREATE DATABASE \`${database}\``);
  } finally {
    await admin.end();
  }
  const url = new URL(mysqlUrl);
  url.pathname = `/${database}`;
  const pool = mysql.createPool({ uri: url.toString(), connectionLimit: 4 });
  const table = 'async_task_attempts';
  return {
    label: 'mysql',
    url: url.toString(),
    table,
    args: ['--database-url', url.toString()],
    tableNamed: (name) => name,
    tasks: newTasks(mysql2Driver(pool), table),
    pool,
    async backdateCompleted(id, ms) {
      await pool.query(
        'UPDATE async_task_attempts SET completed_at = completed_at - INTERVAL ? SECOND WHERE id = ?',
        [Math.round(ms / 1000), id],
      );
    },
    async close() {
      await pool.query(`DROP DATABASE \`${database}\``);
      await pool.end();
    },
  };
}

interface TestDatabase extends BetterSqlite3Database {
  prepare(source: string): BetterSqlite3Statement;
}

/** A file of its own in a temporary folder, given as a plain path ending in .db. */
export function sqliteCliDatabase(): Promise<CliDatabase> {
  const Database = createRequire(import.meta.url)('better-sqlite3') as new (
    file: string,
  ) => TestDatabase;
  const folder = mkdtempSync(join(tmpdir(), 'async-task-cli-'));
  const file = join(folder, 'cli.db');
  const db = new Database(file);
  const driver = betterSqlite3Driver(db);
  const table = 'async_task_attempts';
  return Promise.resolve({
    label: 'sqlite',
    url: file,
    table,
    args: ['--database-url', file],
    tableNamed: (name: string) => name,
    tasks: newTasks(driver, table),
    pool: db,
    backdateCompleted(id: string, ms: number) {
      db.prepare('UPDATE async_task_attempts SET completed_at = completed_at - ? WHERE id = ?').run(
        ms,
        Number(id),
      );
      return Promise.resolve();
    },
    async close() {
      await driver.close();
      db.close();
      rmSync(folder, { recursive: true, force: true });
    },
  });
}
