// What only postgres.js has: enqueue inside `sql.begin` and `sql.savepoint`, the client's own
// errors, parameters typed by the statement (a bigint id, a Date, JSON text), and LISTEN through
// `sql.listen`, which postgres.js re-subscribes by itself after its connection drops.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  postgresJsDriver,
  type PostgresJsQueryable,
  type PostgresJsTransactionSql,
} from '../../src/drivers/postgres-js.js';
import {
  AsyncTask,
  ConfigError,
  DatabaseError,
  SchemaOutdatedError,
  defineTarget,
  type Worker,
} from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { postgresUrl } from '../harness/postgres.js';
import { postgresJsHarness } from '../harness/postgres-js.js';
import { waitFor } from '../harness/wait-for.js';

type PostgresJsHarness = Awaited<ReturnType<typeof postgresJsHarness>>;

const Shop = defineTarget('Shop', {
  order: async (args: { n: number }) => {
    await Promise.resolve(args.n);
  },
});

class Rollback extends Error {}

describe('postgres/postgres.js: enqueue in sql.begin', () => {
  let harness: PostgresJsHarness;
  let sql: postgres.Sql;
  let tasks: AsyncTask<PostgresJsQueryable, PostgresJsTransactionSql>;
  beforeAll(async () => {
    harness = await postgresJsHarness();
    sql = harness.pool;
    tasks = new AsyncTask({ driver: postgresJsDriver(sql), table: harness.table, targets: [Shop] });
    await tasks.migrate();
  });
  afterAll(() => harness.close());

  it('leaves no row when the transaction throws, and one when it commits', async () => {
    const before = await harness.countAttempts();
    const error = await caught(
      sql.begin(async (tx) => {
        await tasks.enqueue(tx, Shop.order, { n: 1 });
        throw new Rollback('boom');
      }),
    );
    expect(error).toBeInstanceOf(Rollback);
    expect(await harness.countAttempts()).toBe(before);

    let id = '';
    await sql.begin(async (tx) => {
      id = (await tasks.enqueue(tx, Shop.order, { n: 2 })).id;
    });
    expect(await harness.countAttempts()).toBe(before + 1);
    expect((await tasks.get(id))?.args).toEqual({ n: 2 });
  });

  it('drops only the task of a savepoint that rolls back', async () => {
    const ids: string[] = [];
    await sql.begin(async (tx) => {
      ids.push((await tasks.enqueue(tx, Shop.order, { n: 10 })).id);
      const error = await caught(
        tx.savepoint(async (savepoint) => {
          ids.push((await tasks.enqueue(savepoint, Shop.order, { n: 11 })).id);
          throw new Rollback('undo the savepoint');
        }),
      );
      expect(error).toBeInstanceOf(Rollback);
      await tx.savepoint(async (savepoint) => {
        ids.push((await tasks.enqueue(savepoint, Shop.order, { n: 12 })).id);
      });
    });
    const found = await Promise.all(ids.map((id) => tasks.get(id)));
    expect(found.map((attempt) => attempt?.args ?? null)).toEqual([{ n: 10 }, null, { n: 12 }]);
  });

  it('enqueues on the root sql outside any transaction', async () => {
    const attempt = await tasks.enqueue(sql, Shop.order, { n: 20 });
    expect((await tasks.get(attempt.id))?.status).toBe('pending');
  });

  it('sends a bigint id string, a Date and JSON text as the types the statement declares', async () => {
    // An id beyond 2^53, so it only survives as a string sent as int8.
    await sql.unsafe(`SELECT setval(pg_get_serial_sequence($1, 'id'), 9007199254740993)`, [
      `"${harness.schema}".async_task_attempts`,
    ]);
    const scheduledAt = new Date(Date.now() + 3_600_000);
    const attempt = await tasks.enqueue(
      sql,
      Shop.order,
      { n: 30 },
      { scheduledAt, idempotenceToken: 'big-1' },
    );
    expect(attempt.id).toBe('9007199254740994');
    const read = await tasks.get(attempt.id);
    expect(read?.scheduledAt?.getTime()).toBe(scheduledAt.getTime());
    expect(await harness.rawMethodArgs(attempt.id)).toBe('{"n":30}');
    const listed = await tasks.list({ before: '9007199254740995', limit: 1 });
    expect(listed.map((a) => a.id)).toEqual([attempt.id]);
    expect((await tasks.expire(attempt.id)).status).toBe('expired');
    const again = await tasks.enqueue(sql, Shop.order, { n: 31 }, { idempotenceToken: 'big-1' });
    expect(again.id).toBe(attempt.id);
  });

  it("turns the client's own errors into async-task errors, cause kept", async () => {
    const other = postgres(postgresUrl, { max: 2, onnotice: () => undefined });
    const otherTasks = new AsyncTask({
      driver: postgresJsDriver(other),
      table: harness.table,
      targets: [Shop],
    });
    let ended: postgres.TransactionSql | undefined;
    await other.begin(async (tx) => {
      ended = tx;
      await tx.unsafe('SELECT 1');
    });
    await other.end();
    // The transaction is over and its sql closed: postgres.js refuses to write.
    const error = await caught(otherTasks.enqueue(ended!, Shop.order, { n: 40 }));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('DATABASE');
    expect(((error as DatabaseError).cause as { code?: string }).code).toBe('CONNECTION_DESTROYED');
    const onRoot = await caught(otherTasks.enqueue(other, Shop.order, { n: 41 }));
    expect(onRoot).toBeInstanceOf(DatabaseError);
    expect(((onRoot as DatabaseError).cause as { code?: string }).code).toBe('CONNECTION_ENDED');
  });

  it('reports a missing table as SchemaOutdatedError (SQLSTATE in error.code)', async () => {
    const fresh = new AsyncTask({
      driver: postgresJsDriver(sql),
      table: `${harness.schema}.not_migrated`,
      targets: [Shop],
    });
    const error = await caught(fresh.enqueue(sql, Shop.order, { n: 50 }));
    expect(error).toBeInstanceOf(SchemaOutdatedError);
  });

  it('refuses what is not a postgres.js sql, at the call that received it', async () => {
    expect(() => postgresJsDriver({} as postgres.Sql)).toThrow(ConfigError);
    const notSql = { query: () => undefined } as unknown as postgres.Sql;
    expect(await caught(() => tasks.enqueue(notSql, Shop.order, { n: 1 }))).toBeInstanceOf(
      ConfigError,
    );
  });

  it('works on an sql that transforms column names (postgres.camel), and refuses one without inverse', async () => {
    const camel = postgres(postgresUrl, { max: 2, transform: postgres.camel });
    try {
      const camelTasks = new AsyncTask({
        driver: postgresJsDriver(camel),
        table: harness.table,
        targets: [Shop],
      });
      let id = '';
      await camel.begin(async (tx) => {
        id = (await camelTasks.enqueue(tx, Shop.order, { n: 70 }, { queue: 'camel' })).id;
      });
      expect(await camelTasks.get(id)).toMatchObject({ methodName: 'order', queue: 'camel' });
    } finally {
      await camel.end();
    }
    const oneWay = postgres(postgresUrl, { transform: { column: { from: postgres.toCamel } } });
    expect(() => postgresJsDriver(oneWay)).toThrow(ConfigError);
    await oneWay.end();
  });

  it('runs with preparedStatements: false', async () => {
    const unprepared = new AsyncTask({
      driver: postgresJsDriver(sql, { preparedStatements: false }),
      table: harness.table,
      targets: [Shop],
    });
    await sql.begin(async (tx) => {
      await unprepared.enqueue(tx, Shop.order, { n: 60 });
    });
    expect((await unprepared.runDue({ limit: 1000 })).succeeded).toBeGreaterThan(0);
  });
});

describe('postgres/postgres.js worker: LISTEN', () => {
  let harness: PostgresJsHarness;
  let workerSql: postgres.Sql;
  let worker: Worker | undefined;
  const name = `at-pjs-${randomBytes(6).toString('hex')}`;
  const ran: number[] = [];
  const Counter = defineTarget('Counter', {
    count: async (args: { n: number }) => {
      ran.push(args.n);
      await Promise.resolve();
    },
  });
  beforeAll(async () => {
    harness = await postgresJsHarness();
    // The worker's own sql, named, so that only its LISTEN connection is ever terminated.
    workerSql = postgres(postgresUrl, {
      max: 5,
      onnotice: () => undefined,
      connection: { application_name: name },
    });
  });
  afterAll(async () => {
    await worker?.stop({ timeoutMs: 1000 });
    await workerSql.end({ timeout: 5 });
    await harness.close();
  });

  const listening = async (): Promise<boolean> => {
    const rows = await harness.pool.unsafe<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE application_name = $1 AND state = 'idle' AND query ILIKE 'listen %'`,
      [name],
    );
    return (rows[0]?.n ?? 0) > 0;
  };

  it('picks a task up through LISTEN at once with a 60 s poll, also after its LISTEN connection is terminated', async () => {
    const workerTasks = new AsyncTask({
      driver: postgresJsDriver(workerSql),
      table: harness.table,
      targets: [Counter],
    });
    await workerTasks.migrate();
    // Enqueued through another AsyncTask (and sql): no in-process wake, only NOTIFY.
    const enqueuer = new AsyncTask({
      driver: postgresJsDriver(harness.pool),
      table: harness.table,
      targets: [Counter],
    });
    worker = workerTasks.worker({ pollIntervalMs: 60_000 });
    await worker.start();
    await waitFor('the worker to LISTEN', listening);

    let started = Date.now();
    await harness.pool.begin(async (tx) => {
      await enqueuer.enqueue(tx, Counter.count, { n: 1 });
    });
    await waitFor('the first task to run', () => ran.includes(1), 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);

    await harness.pool.unsafe(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = $1 AND query ILIKE 'listen %'`,
      [name],
    );
    // A task committed while nobody listens is found when postgres.js re-subscribes.
    await harness.pool.begin(async (tx) => {
      await enqueuer.enqueue(tx, Counter.count, { n: 2 });
    });
    await waitFor('the task committed during the gap to run', () => ran.includes(2), 10_000);
    await waitFor('LISTEN to be back', listening, 10_000);

    started = Date.now();
    await harness.pool.begin(async (tx) => {
      await enqueuer.enqueue(tx, Counter.count, { n: 3 });
    });
    await waitFor('the task after the reconnect to run', () => ran.includes(3), 5_000);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
