// node-postgres clients handed to enqueue outside their transaction, and another driver's
// objects. Before, a PoolClient kept past release() was taken as it was: the row committed on its
// own, or landed inside whoever had checked the connection out next and went with their rollback;
// a client never connected waited forever; a mysql2 pool given to pgDriver (or a pg pool to
// mysql2Driver) failed at the query as a database refusal. Each is now a ConfigError before
// anything is sent.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, ConfigError, defineTarget } from '../../src/index.js';
import { mysql2Driver } from '../../src/drivers/mysql2.js';
import { pgDriver } from '../../src/drivers/pg.js';
import { caughtSync } from '../harness/caught.js';
import { mysqlHarness } from '../harness/mysql.js';
import { postgresHarness, postgresUrl } from '../harness/postgres.js';

const Work = defineTarget('Work', { run(_args: { n: number }) {} });

describe('pgDriver: a client outside its transaction', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function setUp() {
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({
      driver: pgDriver(harness.pool),
      table: harness.table,
      targets: [Work],
    });
    await tasks.migrate();
    return { harness, tasks };
  }

  it('refuses a PoolClient kept past release(), idle or inside the next user’s transaction, and writes nothing', async () => {
    const { harness, tasks } = await setUp();
    const stale = await harness.pool.connect();
    await stale.query('BEGIN');
    await stale.query('COMMIT');
    stale.release();

    const idle = caughtSync(() => tasks.enqueue(stale, Work.run, { n: 1 }));
    expect(idle).toBeInstanceOf(ConfigError);
    expect((idle as ConfigError).message).toMatch(
      /not inside a transaction .*released to the pool/,
    );

    // Checked out again (the pool has one connection): the stale reference is that client, now
    // in someone else's transaction, which then rolls back. Nothing of ours went with it.
    const next = await harness.pool.connect();
    expect(next).toBe(stale);
    await next.query('BEGIN');
    await next.query('ROLLBACK');
    next.release();
    expect(await harness.countAttempts()).toBe(0);

    // Inside BEGIN it is taken, and the pool itself still commits on its own.
    await harness.transaction((tx) => tasks.enqueue(tx as pg.PoolClient, Work.run, { n: 2 }));
    await tasks.enqueue(harness.pool, Work.run, { n: 3 });
    expect(await harness.countAttempts()).toBe(2);
  });

  it('takes a client whose BEGIN is sent and not yet answered (pg queues the enqueue behind it)', async () => {
    const { harness, tasks } = await setUp();
    const client = await harness.pool.connect();
    try {
      const begun = client.query('BEGIN');
      const enqueued = tasks.enqueue(client, Work.run, { n: 1 });
      await begun;
      expect((await enqueued).status).toBe('pending');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await harness.countAttempts()).toBe(0);
  });

  it('refuses a client that was never connected at once, instead of waiting for connect() forever', async () => {
    const { harness, tasks } = await setUp();
    const client = new pg.Client({ connectionString: postgresUrl });
    const error = caughtSync(() => tasks.enqueue(client, Work.run, { n: 1 }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/not connected; await client\.connect\(\)/);
    expect(await harness.countAttempts()).toBe(0);
  });

  it('refuses a mysql2 pool, and mysql2Driver a pg pool, as the wrong client', async () => {
    const { harness, tasks } = await setUp();
    const mysqlSide = await mysqlHarness({ max: 1 });
    closers.push(() => mysqlSide.close());
    const onMysql = new AsyncTask({ driver: mysql2Driver(mysqlSide.pool), targets: [Work] });
    await onMysql.migrate();

    const toPg = caughtSync(() => tasks.enqueue(mysqlSide.pool as never, Work.run, { n: 1 }));
    expect(toPg).toBeInstanceOf(ConfigError);
    expect((toPg as ConfigError).message).toMatch(/not a node-postgres client/);
    const toMysql = caughtSync(() => onMysql.enqueue(harness.pool, Work.run, { n: 1 }));
    expect(toMysql).toBeInstanceOf(ConfigError);
    expect((toMysql as ConfigError).message).toMatch(/pass a mysql2\/promise PoolConnection/);

    expect(await harness.countAttempts()).toBe(0);
    expect(await mysqlSide.countAttempts()).toBe(0);
  });
});
