// What only the TypeORM driver has: enqueue takes TypeORM's EntityManager (of
// dataSource.transaction, of a QueryRunner's transaction, or dataSource.manager), a nested
// manager.transaction() is a savepoint, the dialect comes from dataSource.options.type, a handler's
// ctx.transaction hands it an EntityManager, and TypeORM's errors surface as async-task's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource, EntityManager, QueryFailedError, type DataSourceOptions } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  defineTarget,
  type Attempt,
  type TaskContext,
} from '../../src/index.js';
import { typeormDriver } from '../../src/drivers/typeorm/index.js';
import { caught, caughtSync } from '../harness/caught.js';
import { mysqlUrl } from '../harness/mysql.js';
import { postgresUrl } from '../harness/postgres.js';
import {
  mysqlTypeormHarness,
  postgresTypeormHarness,
  sqliteTypeormHarness,
  type TypeormHarness,
} from '../harness/typeorm.js';
import { waitFor } from '../harness/wait-for.js';

class Rollback extends Error {}

/** Ignores the `Rollback` a test threw to roll a (nested) transaction back. */
const rolledBack = (error: unknown): void => {
  if (!(error instanceof Rollback)) throw error;
};

/** A transaction whose COMMIT the database refuses, and what the client's error looks like. */
interface FailingCommit {
  prepare(harness: TypeormHarness): Promise<void>;
  /** Runs inside the transaction; the COMMIT that follows fails. */
  breakCommit(harness: TypeormHarness, manager: EntityManager): Promise<void>;
  expectCause(cause: unknown): void;
}

const cases: readonly {
  label: string;
  dialect: 'postgres' | 'mysql' | 'sqlite';
  setup: () => Promise<TypeormHarness>;
  failingCommit: FailingCommit;
}[] = [
  {
    label: 'postgres/typeorm',
    dialect: 'postgres',
    setup: () => postgresTypeormHarness(),
    // A deferred unique constraint is checked by COMMIT, which TypeORM sends.
    failingCommit: {
      async prepare(harness) {
        const schema = harness.table.split('.')[0]!;
        await harness.dataSource.query(
          `CREATE TABLE "${schema}".deferred (k int, CONSTRAINT deferred_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)`,
        );
      },
      async breakCommit(harness, manager) {
        const schema = harness.table.split('.')[0]!;
        await manager.query(`INSERT INTO "${schema}".deferred (k) VALUES (1), (1)`);
      },
      expectCause: (cause) => expect(cause).toBeInstanceOf(QueryFailedError),
    },
  },
  {
    label: 'mysql/typeorm',
    dialect: 'mysql',
    setup: () => mysqlTypeormHarness(),
    // InnoDB has no deferred constraints: the transaction's connection is killed before COMMIT.
    failingCommit: {
      prepare: () => Promise.resolve(),
      async breakCommit(harness, manager) {
        const [row] = await manager.query<{ id: number }[]>('SELECT CONNECTION_ID() AS id');
        await harness.dataSource.query(`KILL ${row!.id}`);
      },
      expectCause: (cause) => expect(cause).toBeInstanceOf(QueryFailedError),
    },
  },
  {
    label: 'sqlite/typeorm',
    dialect: 'sqlite',
    setup: () => sqliteTypeormHarness(),
    // A deferred foreign key, checked at COMMIT: the worker's connection enforces foreign keys as
    // TypeORM's does. That COMMIT is the better-sqlite3 driver's, so the cause is SQLite's error.
    failingCommit: {
      async prepare(harness) {
        await harness.dataSource.query('CREATE TABLE parent (id INTEGER PRIMARY KEY)');
        await harness.dataSource.query(
          'CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)',
        );
      },
      async breakCommit(_harness, manager) {
        await manager.query('INSERT INTO child (pid) VALUES (99)');
      },
      expectCause: (cause) =>
        expect((cause as { code?: unknown }).code).toBe('SQLITE_CONSTRAINT_FOREIGNKEY'),
    },
  },
];

for (const { label, dialect, setup, failingCommit } of cases) {
  describe(`${label}: enqueue in TypeORM transactions`, () => {
    let harness: TypeormHarness;
    let dataSource: DataSource;
    let tasks: AsyncTask<EntityManager, EntityManager>;
    const performed: number[] = [];
    const managers: unknown[] = [];
    const Shop = defineTarget('Shop', {
      order: async (args: { n: number }, ctx: TaskContext<EntityManager>) => {
        await ctx.transaction(async (manager) => {
          managers.push(manager);
          await manager.save(harness.SideEffect, { key: `order-${args.n}` });
          // TypeORM's nested transaction is a savepoint here too.
          await manager
            .transaction(async (inner) => {
              await inner.save(harness.SideEffect, { key: `dropped-${args.n}` });
              throw new Rollback();
            })
            .catch(rolledBack);
          if (args.n === 1) {
            // Reads through the driver and enqueues with the handler's manager, inside it.
            expect(await tasks.get(ctx.attempt.id)).toMatchObject({ status: 'running' });
            await tasks.enqueue(manager, Shop.order, { n: 2 });
          }
        });
        performed.push(args.n);
      },
    });

    const ns = async (): Promise<number[]> =>
      (await tasks.list({}))
        .map((attempt: Attempt) => (attempt.args as { n: number }).n)
        .sort((a, b) => a - b);

    beforeEach(async () => {
      harness = await setup();
      dataSource = harness.dataSource;
      await harness.createSideTable();
      performed.length = 0;
      managers.length = 0;
      tasks = new AsyncTask({ driver: harness.typeorm, table: harness.table, targets: [Shop] });
      await tasks.migrate();
    });
    afterEach(() => harness.close());

    it('detects the dialect from dataSource.options.type', () => {
      expect(harness.typeorm.dialect.name).toBe(dialect);
      expect(harness.typeorm.listen !== undefined).toBe(dialect === 'postgres');
    });

    it('dataSource.transaction: a rollback leaves no task, a commit leaves one', async () => {
      const error = await caught(
        dataSource.transaction(async (manager) => {
          await tasks.enqueue(manager, Shop.order, { n: 1 });
          throw new Rollback('boom');
        }),
      );
      expect(error).toBeInstanceOf(Rollback);
      expect(await harness.countAttempts()).toBe(0);

      const attempt = await dataSource.transaction((manager) =>
        tasks.enqueue(manager, Shop.order, { n: 2 }),
      );
      expect(await harness.countAttempts()).toBe(1);
      expect((await tasks.get(attempt.id))?.args).toEqual({ n: 2 });
    });

    it("a QueryRunner's transaction: a rollback leaves no task, a commit leaves one", async () => {
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await tasks.enqueue(runner.manager, Shop.order, { n: 1 });
        await runner.rollbackTransaction();
        expect(await harness.countAttempts()).toBe(0);

        await runner.startTransaction();
        await tasks.enqueue(runner.manager, Shop.order, { n: 2 });
        await runner.commitTransaction();
        expect(await ns()).toEqual([2]);

        // Outside a transaction the runner's manager is refused: the enqueue would commit alone.
        const outside = await caught(tasks.enqueue(runner.manager, Shop.order, { n: 3 }));
        expect(outside).toBeInstanceOf(ConfigError);
        expect((outside as Error).message).toMatch(/not in a transaction/);
      } finally {
        await runner.release();
      }
    });

    it('a nested manager.transaction rolled back drops only its own task', async () => {
      await dataSource.transaction(async (manager) => {
        await tasks.enqueue(manager, Shop.order, { n: 1 });
        await manager
          .transaction(async (nested) => {
            await tasks.enqueue(nested, Shop.order, { n: 2 });
            throw new Rollback('inner');
          })
          .catch(rolledBack);
        await tasks.enqueue(manager, Shop.order, { n: 3 });
      });
      expect(await ns()).toEqual([1, 3]);
    });

    it('enqueue on dataSource.manager commits at once', async () => {
      await tasks.enqueue(dataSource.manager, Shop.order, { n: 4 });
      expect(await harness.countAttempts()).toBe(1);
    });

    it("ctx.transaction hands the handler an EntityManager of the DataSource that saves entities, in the task's transaction", async () => {
      await dataSource.transaction((manager) => tasks.enqueue(manager, Shop.order, { n: 1 }));
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(managers[0]).toBeInstanceOf(EntityManager);
      expect((managers[0] as EntityManager).queryRunner?.isReleased).toBe(true);
      expect(await harness.sideKeys()).toEqual(['order-1']);
      // The task the handler enqueued with its manager committed with it.
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(performed).toEqual([1, 2]);
      expect(await harness.sideKeys()).toEqual(['order-1', 'order-2']);
    });

    it('a worker on the driver performs the task', async () => {
      await dataSource.transaction((manager) => tasks.enqueue(manager, Shop.order, { n: 7 }));
      const worker = tasks.worker({ pollIntervalMs: 50 });
      await worker.start();
      try {
        await waitFor('the task to be performed', async () => {
          const [attempt] = await tasks.list({});
          return attempt?.status === 'succeeded';
        });
      } finally {
        await worker.stop();
      }
      expect(performed).toEqual([7]);
      expect(await harness.sideKeys()).toEqual(['order-7']);
    });

    it('refuses what is not an EntityManager of this DataSource, and a transaction already over', async () => {
      for (const wrong of [dataSource, {}, new pg.Pool({ connectionString: postgresUrl })]) {
        const error = caughtSync(() =>
          tasks.enqueue(wrong as unknown as EntityManager, Shop.order, { n: 1 }),
        );
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toMatch(/EntityManager/);
      }
      const other = new DataSource(dataSource.options);
      expect(caughtSync(() => tasks.enqueue(other.manager, Shop.order, { n: 1 }))).toBeInstanceOf(
        ConfigError,
      );

      let finished: EntityManager | undefined;
      await dataSource.transaction((manager) => {
        finished = manager;
        return Promise.resolve();
      });
      const late = await caught(tasks.enqueue(finished!, Shop.order, { n: 1 }));
      expect(late).toBeInstanceOf(ConfigError);
      expect(await harness.countAttempts()).toBe(0);
    });

    it("a COMMIT the database refuses surfaces as DatabaseError with the client's error as cause", async () => {
      await failingCommit.prepare(harness);
      const error = await caught(
        harness.typeorm.transaction((_connection, manager) =>
          failingCommit.breakCommit(harness, manager),
        ),
      );
      expect(error).toBeInstanceOf(DatabaseError);
      failingCommit.expectCause((error as DatabaseError).cause);
      // The driver still works after.
      await tasks.enqueue(dataSource.manager, Shop.order, { n: 1 });
      expect(await tasks.runDue()).toMatchObject({ claimed: 1, succeeded: 1 });
    });

    it('refuses to run once the DataSource is destroyed', async () => {
      await harness.typeorm.close();
      await dataSource.destroy();
      const error = await caught(tasks.runDue());
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/dataSource\.initialize\(\)/);
    });
  });
}

describe('sqlite/typeorm: the worker keeps off TypeORM’s one connection', () => {
  let harness: TypeormHarness;
  const Shop = defineTarget('Shop', {
    order: async (args: { n: number }, ctx: TaskContext<EntityManager>) => {
      await ctx.transaction(async (manager) => {
        await manager.save(harness.SideEffect, { key: `order-${args.n}` });
      });
    },
  });
  beforeEach(async () => {
    harness = await sqliteTypeormHarness();
    await harness.createSideTable();
  });
  afterEach(() => harness.close());

  it('work started while a TypeORM transaction is open waits for it, and does not land in it', async () => {
    const dataSource = harness.dataSource;
    const tasks = new AsyncTask({ driver: harness.typeorm, table: harness.table, targets: [Shop] });
    await tasks.migrate();
    await tasks.enqueue(dataSource.manager, Shop.order, { n: 1 });

    let running: Promise<unknown> | undefined;
    const error = await caught(
      dataSource.transaction(async (manager) => {
        await manager.save(harness.SideEffect, { key: 'user' });
        await tasks.enqueue(manager, Shop.order, { n: 2 });
        // On TypeORM's connection the claim and the handler would run inside this transaction
        // and be rolled back with it (or claim task 2 before it commits); on the worker's own
        // connection they wait for SQLite's write lock, asynchronously.
        running = tasks.runDue();
        await new Promise((resolve) => setTimeout(resolve, 100));
        throw new Rollback();
      }),
    );
    expect(error).toBeInstanceOf(Rollback);
    expect(await running).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await harness.sideKeys()).toEqual(['order-1']);
    expect((await tasks.list({})).map((attempt) => [attempt.args, attempt.status])).toEqual([
      [{ n: 1 }, 'succeeded'],
    ]);
  });
});

describe('typeormDriver: choosing the dialect, refusing the wrong objects', () => {
  const folders: string[] = [];
  const file = (): string => {
    const folder = mkdtempSync(join(tmpdir(), 'async-task-typeorm-'));
    folders.push(folder);
    return join(folder, 'test.db');
  };
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });
  const source = (options: DataSourceOptions): DataSource => new DataSource(options);

  it('detects postgres, mysql, mariadb and better-sqlite3 (the DataSource not yet initialized)', () => {
    const expected: readonly [DataSourceOptions, string][] = [
      [{ type: 'postgres', url: postgresUrl }, 'postgres'],
      [{ type: 'mysql', url: mysqlUrl }, 'mysql'],
      [{ type: 'mariadb', url: mysqlUrl }, 'mysql'],
      [{ type: 'better-sqlite3', database: file() }, 'sqlite'],
    ];
    for (const [options, dialect] of expected) {
      expect(typeormDriver(source(options)).dialect.name, options.type).toBe(dialect);
    }
  });

  it('refuses another type, saying which are supported, unless the dialect is forced', () => {
    const cockroach = source({ type: 'cockroachdb', url: postgresUrl, timeTravelQueries: false });
    const error = caughtSync(() => typeormDriver(cockroach));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /"cockroachdb".*'postgres'.*'mariadb'.*better-sqlite3/,
    );
    const forced = typeormDriver(cockroach, { dialect: 'postgres' });
    expect(forced.dialect.name).toBe('postgres');
    expect(typeof forced.listen).toBe('function');
    expect(typeormDriver(source({ type: 'mariadb' }), { dialect: 'mysql' }).dialect.name).toBe(
      'mysql',
    );
  });

  it('refuses what is not a DataSource, a manager in its place, and an in-memory SQLite database', () => {
    const dataSource = source({ type: 'postgres', url: postgresUrl });
    const pool = new pg.Pool({ connectionString: postgresUrl });
    for (const wrong of [pool, {}, null]) {
      expect(caughtSync(() => typeormDriver(wrong as unknown as DataSource))).toBeInstanceOf(
        ConfigError,
      );
    }
    const manager = caughtSync(() =>
      typeormDriver(dataSource.manager as unknown as DataSource),
    ) as Error;
    expect(manager).toBeInstanceOf(ConfigError);
    expect(manager.message).toMatch(/not an EntityManager/);
    const memory = caughtSync(() =>
      typeormDriver(source({ type: 'better-sqlite3', database: ':memory:' })),
    ) as Error;
    expect(memory).toBeInstanceOf(ConfigError);
    expect(memory.message).toMatch(/in-memory SQLite database/);
  });

  it('refuses to work before dataSource.initialize()', async () => {
    const dataSource = source({ type: 'better-sqlite3', database: file() });
    const tasks = new AsyncTask({ driver: typeormDriver(dataSource), targets: [] });
    const error = await caught(tasks.migrate());
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/await dataSource\.initialize\(\)/);
  });
});
