// What only the knex driver has: enqueue takes knex's own `trx` (or `knex`), nested
// `trx.transaction()` is a savepoint, the dialect comes from the knex client, and a handler's
// `ctx.transaction` hands it a knex `trx`.
import knexFactory, { type Knex } from 'knex';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  defineTarget,
  type TaskContext,
} from '../../src/index.js';
import { knexDriver, type KnexLike } from '../../src/drivers/knex.js';
import { caught, caughtSync } from '../harness/caught.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlKnexHarness, postgresKnexHarness, sqliteKnexHarness } from '../harness/knex.js';
import { waitFor } from '../harness/wait-for.js';

class Rollback extends Error {}

const cases: readonly { label: string; setup: () => Promise<Harness> }[] = [
  { label: 'postgres/knex', setup: () => postgresKnexHarness() },
  { label: 'sqlite/knex', setup: () => sqliteKnexHarness() },
  { label: 'mysql/knex', setup: () => mysqlKnexHarness() },
];

for (const { label, setup } of cases) {
  describe(`${label}: enqueue in knex transactions`, () => {
    let harness: Harness;
    let db: Knex;
    const performed: number[] = [];
    const Shop = defineTarget('Shop', {
      order: async (args: { n: number }, ctx: TaskContext<Knex.Transaction>) => {
        await ctx.transaction(async (trx) => {
          await harness.insertSide(trx, `order-${args.n}`);
        });
        performed.push(args.n);
      },
    });
    let tasks: AsyncTask<KnexLike, Knex.Transaction>;

    beforeEach(async () => {
      harness = await setup();
      db = harness.pool as Knex;
      await harness.createSideTable();
      performed.length = 0;
      tasks = new AsyncTask({ driver: knexDriver(db), table: harness.table, targets: [Shop] });
      await tasks.migrate();
    });
    afterEach(() => harness.close());

    it('a knex.transaction that throws leaves no task; one that commits leaves one', async () => {
      const error = await caught(
        db.transaction(async (trx) => {
          await tasks.enqueue(trx, Shop.order, { n: 1 });
          throw new Rollback('boom');
        }),
      );
      expect(error).toBeInstanceOf(Rollback);
      expect(await harness.countAttempts()).toBe(0);

      const attempt = await db.transaction((trx) => tasks.enqueue(trx, Shop.order, { n: 2 }));
      expect(await harness.countAttempts()).toBe(1);
      expect((await tasks.get(attempt.id))?.args).toEqual({ n: 2 });
    });

    it('a nested trx.transaction rolled back drops only its own task', async () => {
      await db.transaction(async (trx) => {
        await tasks.enqueue(trx, Shop.order, { n: 1 });
        await trx
          .transaction(async (nested) => {
            await tasks.enqueue(nested, Shop.order, { n: 2 });
            throw new Rollback('inner');
          })
          .catch((error: unknown) => {
            if (!(error instanceof Rollback)) throw error;
          });
        await tasks.enqueue(trx, Shop.order, { n: 3 });
      });
      const kept = await tasks.list({});
      expect(kept.map((attempt) => (attempt.args as { n: number }).n).sort()).toEqual([1, 3]);
    });

    it('enqueue on knex itself commits at once', async () => {
      await tasks.enqueue(db, Shop.order, { n: 4 });
      expect(await harness.countAttempts()).toBe(1);
    });

    it('errors are typed: a transaction already over, a missing table, a closed pool', async () => {
      let finished: Knex.Transaction | undefined;
      await db.transaction((trx) => {
        finished = trx;
        return Promise.resolve();
      });
      const late = await caught(tasks.enqueue(finished!, Shop.order, { n: 1 }));
      expect(late).toBeInstanceOf(ConfigError);
      expect((late as Error).message).toMatch(/already committed or rolled back/);

      await db.raw(`DROP TABLE ${harness.table}`);
      const missing = await caught(
        db.transaction((trx) => tasks.enqueue(trx, Shop.order, { n: 1 })),
      );
      expect(missing).toBeInstanceOf(SchemaOutdatedError);

      await db.destroy();
      const closed = await caught(tasks.enqueue(db, Shop.order, { n: 1 }));
      expect(closed).toBeInstanceOf(DatabaseError);
      expect((closed as DatabaseError).cause).toBeInstanceOf(Error);
    });

    it('a worker performs the task; ctx.transaction hands the handler a knex trx', async () => {
      await db.transaction((trx) => tasks.enqueue(trx, Shop.order, { n: 7 }));
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
  });
}

describe('knexDriver: choosing the dialect', () => {
  const made: Knex[] = [];
  const make = (config: Knex.Config): Knex => {
    const db = knexFactory({ ...config, pool: { min: 0, max: 1 } });
    made.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(made.splice(0).map((db) => db.destroy()));
  });

  it('detects pg, postgres, postgresql, mysql, mysql2 and better-sqlite3', () => {
    const expected = {
      pg: 'postgres',
      postgres: 'postgres',
      postgresql: 'postgres',
      mysql2: 'mysql',
      'better-sqlite3': 'sqlite',
    } as const;
    for (const [client, dialect] of Object.entries(expected)) {
      const db = make(
        client === 'better-sqlite3'
          ? { client, connection: { filename: ':memory:' }, useNullAsDefault: true }
          : { client, connection: {} },
      );
      expect(knexDriver(db).dialect.name, client).toBe(dialect);
    }
  });

  it('refuses another client, saying which are supported, unless the dialect is forced', () => {
    // The sqlite3 package is not installed: a stand-in with knex's shape and client name.
    const sqlite3: KnexLike = {
      client: {
        config: { client: 'sqlite3' },
        acquireConnection: () => Promise.reject(new Error('unused')),
        releaseConnection: () => undefined,
      },
      transaction: () => Promise.reject(new Error('unused')),
    };
    const error = caughtSync(() => knexDriver(sqlite3));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/"sqlite3".*pg .*mysql2.*better-sqlite3/);
    expect(knexDriver(sqlite3, { dialect: 'sqlite' }).dialect.name).toBe('sqlite');
  });

  it('refuses what is not a knex instance, and a transaction in its place', async () => {
    expect(() => knexDriver({} as unknown as Knex)).toThrow(ConfigError);
    const db = make({ client: 'better-sqlite3', connection: { filename: ':memory:' } });
    await db.transaction((trx) => {
      expect(() => knexDriver(trx)).toThrow(/not a transaction/);
      return Promise.resolve();
    });
  });
});
