// The executor seen directly, below AsyncTask: what test/conformance/executor*.test.ts call on
// every fixture, plus the few things only plain SQL can do (age a row, hold a lock).
import { expect } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { parseTableName } from '../../src/core/table-name.js';
import type { AttemptClaimParams, AttemptInsertParams, Executor } from '../../src/seam/executor.js';
import type { SqlConnection } from '../../src/seam/sql-connection.js';
import type { DialectFixture, Harness } from './fixture.js';
import { migratedTasks } from './new-tasks.js';

type Dialect = DialectFixture['dialect'];

export interface ExecutorHarness {
  readonly harness: Harness;
  readonly dialect: Dialect;
  /** Runs `fn` on an executor over one autocommit connection of the driver, as workers do. */
  run<T>(fn: (executor: Executor) => Promise<T>): Promise<T>;
  /** Inserts rows (defaults: `T.m`, queue `default`, due now, 3 attempts) and returns their records. */
  insert(rows: readonly Partial<AttemptInsertParams>[]): Promise<AttemptRecord[]>;
  /** The attempt as stored now; fails when it does not exist. */
  get(id: string): Promise<AttemptRecord>;
  /**
   * Makes the attempts `ids` look `ms` old: created no later than then, and finished ones
   * completed then.
   */
  age(ids: readonly string[], ms: number): Promise<void>;
  /**
   * Runs `fn` while another transaction holds row locks on `ids` (as a concurrent claimer between
   * its SELECT … FOR UPDATE and its commit). Not on SQLite, which has no row locks.
   */
  holdingRows<T>(ids: readonly string[], fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` while another session holds the table's prune lock. Not on SQLite. */
  holdingPruneLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** An insert row with defaults for what a test does not care about. */
export function insertRow(row: Partial<AttemptInsertParams> = {}): AttemptInsertParams {
  return {
    target: 'T',
    methodName: 'm',
    methodArgs: '[]',
    encryptor: null,
    maxAttempts: 3,
    queue: 'default',
    priority: 0,
    idempotenceToken: null,
    scheduledAt: null,
    ...row,
  };
}

/** Ids inlined into SQL text: checked to be plain integers first. */
function idList(ids: readonly string[]): string {
  for (const id of ids) if (!/^[1-9][0-9]*$/.test(id)) throw new Error(`not an id: ${id}`);
  return ids.join(', ');
}

/** A claim by `lockedBy` of every queue, no horizon, a one-minute lease, unless overridden. */
export function claimParams(
  lockedBy: string,
  overrides: Partial<AttemptClaimParams> = {},
): AttemptClaimParams {
  return {
    lockedBy,
    limit: 100,
    leaseMs: 60_000,
    queues: null,
    horizon: null,
    durable: false,
    ...overrides,
  };
}

const sqliteNow = `CAST(round(unixepoch('subsec') * 1000) AS INTEGER)`;

/** The harness's table migrated, and an executor over it (the one workers get from the runtime). */
export async function executorHarness(
  harness: Harness,
  dialect: Dialect,
): Promise<ExecutorHarness> {
  const tasks = await migratedTasks(harness, { targets: [] });
  const table = parseTableName(harness.table);
  const quoted =
    dialect === 'mysql'
      ? [table.schema, table.name]
          .flatMap((part) => (part === null ? [] : [`\`${part}\``]))
          .join('.')
      : [table.schema, table.name]
          .flatMap((part) => (part === null ? [] : [`"${part}"`]))
          .join('.');

  const query = async (
    connection: SqlConnection,
    text: string,
    params: readonly unknown[],
    returnsRows: boolean,
  ): Promise<readonly Record<string, unknown>[]> => {
    const statement = { name: '', text, returnsRows };
    return (await connection.query(statement, params)).rows;
  };
  const sql = (text: string, params: readonly unknown[]): Promise<unknown> =>
    harness.driver.run((connection) => query(connection, text, params, false));
  const run = <T>(fn: (executor: Executor) => Promise<T>): Promise<T> =>
    harness.driver.run((connection) => fn(tasks.runtime.executor(connection)));

  /** A transaction of the harness (a connection of its own) running `fn` after `prepare`. */
  const holding = <T>(
    prepare: (connection: SqlConnection) => Promise<void>,
    release: (connection: SqlConnection) => Promise<void>,
    fn: () => Promise<T>,
  ): Promise<T> =>
    harness.transaction(async (tx) => {
      const connection = harness.driver.connection(tx);
      await prepare(connection);
      try {
        return await fn();
      } finally {
        await release(connection);
      }
    });

  return {
    harness,
    dialect,
    run,
    async insert(rows) {
      const results = await run((executor) => executor.attemptInsertMany(rows.map(insertRow)));
      return results.map((result) => result.record);
    },
    async get(id) {
      const record = await run((executor) => executor.attemptGet(id));
      if (!record) throw new Error(`attempt ${id} does not exist`);
      return record;
    },
    async age(ids, ms) {
      if (ids.length === 0) return;
      if (!Number.isSafeInteger(ms)) throw new Error(`not a whole number of milliseconds: ${ms}`);
      const then = {
        postgres: `now() - ${ms} * interval '1 millisecond'`,
        mysql: `UTC_TIMESTAMP(3) - INTERVAL ${ms * 1000} MICROSECOND`,
        sqlite: `${sqliteNow} - ${ms}`,
      }[dialect];
      const least = dialect === 'sqlite' ? 'min' : 'least';
      await sql(
        `UPDATE ${quoted} SET created_at = ${least}(created_at, ${then}),
           completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE ${then} END
         WHERE id IN (${idList(ids)})`,
        [],
      );
    },
    holdingRows(ids, fn) {
      if (dialect === 'sqlite') throw new Error('SQLite has no row locks');
      // By primary key only, so MySQL locks exactly these rows (no gap or scan locks).
      const lock = `SELECT id FROM ${quoted} WHERE id IN (${idList(ids)}) FOR UPDATE`;
      return holding(
        async (connection) => {
          expect(await query(connection, lock, [], true)).toHaveLength(ids.length);
        },
        () => Promise.resolve(),
        fn,
      );
    },
    holdingPruneLock(fn) {
      if (dialect === 'postgres') {
        return holding(
          async (connection) => {
            await query(
              connection,
              'SELECT true AS locked FROM pg_advisory_xact_lock(hashtext($1))',
              [`async-task:prune:${quoted}`],
              true,
            );
          },
          () => Promise.resolve(),
          fn,
        );
      }
      if (dialect === 'mysql') {
        const name = `CONCAT('async_task_prune:', LEFT(SHA2(CONCAT(COALESCE(?, DATABASE(), ''), '.', ?), 256), 40))`;
        const params = [table.schema, table.name];
        return holding(
          async (connection) => {
            const rows = await query(
              connection,
              `SELECT GET_LOCK(${name}, 10) AS acquired`,
              params,
              true,
            );
            expect(Number(rows[0]?.['acquired'])).toBe(1);
          },
          async (connection) => {
            await query(connection, `SELECT RELEASE_LOCK(${name}) AS released`, params, true);
          },
          fn,
        );
      }
      throw new Error('SQLite takes no prune lock');
    },
  };
}
