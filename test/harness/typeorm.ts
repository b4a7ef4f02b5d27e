import { DataSource, EntitySchema, type DataSourceOptions, type EntityManager } from 'typeorm';
import type { Driver } from '../../src/seam/driver.js';
import { typeormDriver, type TypeormDriver } from '../../src/drivers/typeorm/index.js';
import type { DialectFixture, Harness, HarnessOptions } from './fixture.js';
import { mysqlHarness, mysqlUrlFor } from './mysql.js';
import { postgresHarness, postgresUrl } from './postgres.js';
import { sqliteFixture, sqliteHarness } from './sqlite.js';

/**
 * The drain and kill -9 runs of worker-processes.test.ts take minutes per fixture; the TypeORM
 * fixtures still run the child-process cases of worker-leases and worker-shutdown.
 */
const multiProcessWorkers =
  "the TypeORM driver runs the native drivers' statements on the native connections TypeORM holds; the multi-minute drain and kill -9 runs are left to postgres/pg, mysql/mysql2 and sqlite/better-sqlite3";

/** A row of the harness's side table, as a TypeORM entity. */
export interface SideEffect {
  key: string;
}

/** The side table (`createSideTable`) as an entity, in the harness's schema or database. */
export function sideEffectEntity(
  where: { schema?: string; database?: string } = {},
): EntitySchema<SideEffect> {
  return new EntitySchema<SideEffect>({
    name: 'SideEffect',
    tableName: 'side_effects',
    ...where,
    columns: { key: { type: String, primary: true } },
  });
}

export type TypeormHarness = Harness & {
  readonly dataSource: DataSource;
  readonly typeorm: TypeormDriver;
  readonly SideEffect: EntitySchema<SideEffect>;
};

/** Thrown inside a nested transaction to roll it back; swallowed by `rolledBackSavepoint`. */
class RollBackSavepoint extends Error {}

/**
 * A base harness (its own schema, database or file, its helpers in plain SQL on the native
 * client) with the driver, transactions and the handler-side writes going through a TypeORM
 * DataSource on the same database. The handler's side rows are saved as entities.
 */
async function overTypeorm(
  base: Harness,
  options: DataSourceOptions,
  SideEffect: EntitySchema<SideEffect>,
): Promise<TypeormHarness> {
  const dataSource = new DataSource({ ...options, entities: [SideEffect] });
  await dataSource.initialize().catch(async (error: unknown) => {
    await base.close();
    throw error;
  });
  const typeorm = typeormDriver(dataSource);
  return {
    ...base,
    dataSource,
    typeorm,
    SideEffect,
    driver: typeorm as unknown as Driver<unknown, unknown>,
    pool: dataSource.manager,
    transaction: (fn) => dataSource.transaction((manager) => fn(manager)),
    async rolledBackSavepoint(tx, fn) {
      // TypeORM's nested transaction is a savepoint (SAVEPOINT typeorm_1 … ROLLBACK TO).
      await (tx as EntityManager)
        .transaction(async (inner) => {
          await fn(inner);
          throw new RollBackSavepoint();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RollBackSavepoint)) throw error;
        });
    },
    async insertSide(handlerTx, key) {
      await (handlerTx as EntityManager).insert(SideEffect, { key });
    },
    childEnv: () => ({ ...base.childEnv(), ASYNC_TASK_CHILD_CLIENT: 'typeorm' }),
    async close() {
      await typeorm.close();
      if (dataSource.isInitialized) await dataSource.destroy();
      await base.close();
    },
  };
}

/** PostgreSQL through TypeORM's `postgres` type (pg), in a schema of its own (the pg harness's). */
export async function postgresTypeormHarness(
  options: HarnessOptions = {},
): Promise<TypeormHarness> {
  const base = await postgresHarness({ max: 2 });
  return overTypeorm(
    base,
    { type: 'postgres', url: postgresUrl, poolSize: Math.max(10, options.connections ?? 0) },
    sideEffectEntity({ schema: base.schema }),
  );
}

/** MariaDB/MySQL through TypeORM's `mariadb` type (mysql2), in a database of its own. */
export async function mysqlTypeormHarness(options: HarnessOptions = {}): Promise<TypeormHarness> {
  const base = await mysqlHarness({ max: 2 });
  return overTypeorm(
    base,
    {
      type: 'mariadb',
      url: mysqlUrlFor(base.database),
      poolSize: Math.max(10, options.connections ?? 0),
    },
    sideEffectEntity({ database: base.database }),
  );
}

/**
 * SQLite through TypeORM's `better-sqlite3` type, on a file of its own (the sqlite harness's,
 * whose own connection runs the helpers' SQL).
 */
export async function sqliteTypeormHarness(): Promise<TypeormHarness> {
  const base = await sqliteHarness();
  return overTypeorm(base, { type: 'better-sqlite3', database: base.file }, sideEffectEntity());
}

export const postgresTypeormFixture: DialectFixture = {
  label: 'postgres/typeorm',
  dialect: 'postgres',
  skips: { multiProcessWorkers },
  setup: (options) => postgresTypeormHarness(options),
};

export const mysqlTypeormFixture: DialectFixture = {
  label: 'mysql/typeorm',
  dialect: 'mysql',
  skips: { multiProcessWorkers },
  tokenRollbackDeadlocks:
    'InnoDB makes waiters on a duplicate key deadlock victims (ER_LOCK_DEADLOCK) when the holder rolls back',
  setup: (options) => mysqlTypeormHarness(options),
};

export const sqliteTypeormFixture: DialectFixture = {
  label: 'sqlite/typeorm',
  dialect: 'sqlite',
  skips: {
    concurrentTransactions: sqliteFixture.skips!.concurrentTransactions!,
    listen:
      'SQLite has no LISTEN/NOTIFY; the TypeORM driver leaves Driver.listen undefined on SQLite',
    multiProcessWorkers,
  },
  setup: () => sqliteTypeormHarness(),
};

/**
 * The driver of `childEnv()`, built in a worker child process by `child-driver.ts`. A handler's
 * `tx` (an EntityManager) is handed on as worker-child.ts writes with it: `{ query(text, values) }`
 * running through the manager on PostgreSQL and MySQL, the better-sqlite3 `Database` the manager
 * runs on for SQLite.
 */
export async function typeormChildDriver(
  dialect: string | undefined,
  url: string,
  table: string,
): Promise<{ driver: Driver<unknown, unknown>; table: string; close: () => Promise<void> }> {
  let options: DataSourceOptions;
  if (dialect === 'postgres') options = { type: 'postgres', url, poolSize: 10 };
  else if (dialect === 'mysql') options = { type: 'mariadb', url, poolSize: 10 };
  else if (dialect === 'sqlite') options = { type: 'better-sqlite3', database: url };
  else throw new Error(`child-driver: no TypeORM fixture for dialect ${String(dialect)}`);
  const dataSource = new DataSource(options);
  await dataSource.initialize();
  const driver = typeormDriver(dataSource);
  const handlerTx = async (manager: EntityManager): Promise<unknown> =>
    dialect === 'sqlite'
      ? await manager.queryRunner!.connect()
      : { query: (text: string, values: unknown[]) => manager.query(text, values) };
  return {
    driver: {
      ...(driver as unknown as Driver<unknown, unknown>),
      transaction: (fn) =>
        driver.transaction(async (connection, manager) => fn(connection, await handlerTx(manager))),
    },
    table,
    close: async () => {
      await driver.close();
      await dataSource.destroy();
    },
  };
}
