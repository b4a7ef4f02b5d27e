// migrate() behind a session that holds the table (a long transaction that read it): the
// migration's DDL waited for the table's lock with no bound (MariaDB's lock_wait_timeout is a
// day), and every enqueue and claim queued behind it, so a deploy's migrate stopped the queue for
// as long as a report ran, and said nothing. Each try now waits at most 2 s, the queue runs in
// the pause between tries, and past `lockWaitMs` migrate throws, naming who holds the table.
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, DatabaseError, defineTarget, type MigrateOptions } from '../../src/index.js';
import type { TableName } from '../../src/seam/driver.js';
import { caught } from '../harness/caught.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness } from '../harness/mysql.js';
import { newTasks } from '../harness/new-tasks.js';
import { postgresHarness } from '../harness/postgres.js';

const Orders = defineTarget('Orders', { fulfil(_args: { n: number }) {} });

/** A session of its own: BEGIN, a read of the table, held until `release`. */
interface Holder {
  readonly id: number;
  release(): Promise<void>;
}

interface Case {
  readonly label: string;
  readonly open: () => Promise<{
    harness: Harness;
    table: TableName;
    quoted: string;
    raw: (sql: string) => Promise<void>;
    hold: () => Promise<Holder>;
    marker: () => Promise<string>;
    close: () => Promise<void>;
  }>;
}

const cases: Case[] = [
  {
    label: 'PostgreSQL',
    async open() {
      const harness = await postgresHarness();
      const quoted = `"${harness.schema}".async_task_attempts`;
      return {
        harness,
        table: { schema: harness.schema, name: 'async_task_attempts' },
        quoted,
        raw: async (sql) => void (await harness.pool.query(sql)),
        async hold() {
          const client = await harness.pool.connect();
          await client.query('BEGIN');
          await client.query(`SELECT count(*) FROM ${quoted}`);
          const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          return {
            id: rows[0]!.pid,
            async release() {
              await client.query('COMMIT');
              client.release();
            },
          };
        },
        async marker() {
          const { rows } = await harness.pool.query<{ comment: string }>(
            `SELECT obj_description(to_regclass($1), 'pg_class') AS comment`,
            [quoted],
          );
          return rows[0]!.comment;
        },
        close: () => harness.close(),
      };
    },
  },
  {
    label: 'MariaDB',
    async open() {
      const harness = await mysqlHarness();
      const quoted = `\`${harness.database}\`.async_task_attempts`;
      return {
        harness,
        table: { schema: harness.database, name: 'async_task_attempts' },
        quoted,
        raw: async (sql) => void (await harness.pool.query(sql)),
        async hold() {
          const connection = await harness.pool.getConnection();
          await connection.beginTransaction();
          await connection.query(`SELECT COUNT(*) FROM ${quoted}`);
          return {
            id: connection.threadId,
            async release() {
              await connection.commit();
              connection.release();
            },
          };
        },
        async marker() {
          const [rows] = await harness.pool.query(
            `SELECT table_comment AS comment FROM information_schema.tables
             WHERE table_schema = ? AND table_name = 'async_task_attempts'`,
            [harness.database],
          );
          return String((rows as { comment: string }[])[0]!.comment);
        },
        close: () => harness.close(),
      };
    },
  },
];

for (const { label, open } of cases) {
  describe(`${label}: migrate behind a session holding the table`, () => {
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    /** The table as migration 1 left it: migrate() has every other migration to apply. */
    async function atVersionOne() {
      const opened = await open();
      close = opened.close;
      const scripts = opened.harness.driver.dialect.migrationScripts(opened.table);
      for (const statement of scripts[0]!.up) await opened.raw(statement);
      expect(await opened.marker()).toBe('async-task schema 1');
      return opened;
    }

    it('lets enqueues through while it waits, and applies everything once the session ends', async () => {
      const opened = await atVersionOne();
      const tasks = newTasks(opened.harness, { targets: [Orders] });
      const holder = await opened.hold();
      const started = Date.now();
      const migrating = tasks.migrate();
      await delay(300);
      // An INSERT behind the waiting ALTER: it waited for the whole session before.
      const insert = `INSERT INTO ${opened.quoted} (target, method_name, method_args) VALUES ('Orders', 'fulfil', '{"n":1}')`;
      const inserted = opened.raw(insert).then(() => Date.now() - started);
      await delay(4_000);
      const releasedAt = Date.now() - started;
      await holder.release();
      expect(await inserted).toBeLessThan(releasedAt);
      const { applied } = await migrating;
      expect(applied[0]).toBe(2);
      expect(applied.at(-1)).toBe(opened.harness.driver.dialect.latestVersion);
      const attempts = await tasks.list({ limit: 10 });
      expect(attempts.map((attempt) => attempt.target)).toEqual(['Orders']);
    });

    it('throws after lockWaitMs, naming the session, and changes nothing; a later migrate applies all', async () => {
      const opened = await atVersionOne();
      const tasks = newTasks(opened.harness, { targets: [Orders] });
      const holder = await opened.hold();
      const error = await caught(tasks.migrate({ lockWaitMs: 2_500 })).finally(() =>
        holder.release(),
      );
      expect(error).toBeInstanceOf(DatabaseError);
      expect(error).toMatchObject({ code: 'DATABASE' });
      const message = (error as Error).message;
      expect(message).toMatch(
        /^migrate: \S+async_task_attempts\S* stayed locked by another session/,
      );
      expect(message).toMatch(/migration \d+ waited for its lock/);
      expect(message).toMatch(/let that transaction end .* run migrate again/);
      expect(message).toContain(
        label === 'PostgreSQL' ? `pid ${holder.id} (idle in transaction` : `${holder.id}`,
      );
      expect(await opened.marker()).toMatch(/^async-task schema 1\b/);
      const { applied } = await tasks.migrate();
      expect(applied.at(-1)).toBe(opened.harness.driver.dialect.latestVersion);
      expect(await opened.marker()).toMatch(
        new RegExp(`^async-task schema ${opened.harness.driver.dialect.latestVersion}\\b`),
      );
    });
  });
}

describe('migrate options', () => {
  it('refuses a bad lockWaitMs or an unknown option before touching the database', async () => {
    const harness = await postgresHarness({ max: 1 });
    try {
      const tasks = newTasks(harness, { targets: [Orders] });
      const bad = [{ lockWaitMs: -1 }, { lockWaitMs: 1.5 }, { lockWaitMs: null }, { lockWait: 5 }];
      for (const options of bad as unknown as MigrateOptions[]) {
        const error = await caught(tasks.migrate(options));
        expect(error).toMatchObject({ code: 'CONFIG' });
      }
      const { rows } = await harness.pool.query(`SELECT to_regclass($1) AS present`, [
        `"${harness.schema}".async_task_attempts`,
      ]);
      expect(rows[0]).toEqual({ present: null });
    } finally {
      await harness.close();
    }
  });
});

describe('PostgreSQL: tables of one new schema migrated at once', () => {
  it('creates the schema once; every migrate succeeds', async () => {
    // CREATE SCHEMA IF NOT EXISTS from two transactions at once failed on pg_namespace's unique
    // index ("duplicate key value"), though each table has its own migrate lock.
    const harness = await postgresHarness();
    const schema = `${harness.schema}_new`;
    try {
      const all = ['a', 'b', 'c', 'd'].map(
        (name) =>
          new AsyncTask({
            driver: harness.driver,
            table: `${schema}.${name}_tasks`,
            targets: [Orders],
          }),
      );
      const results = await Promise.allSettled(all.map((tasks) => tasks.migrate()));
      expect(results.map((result) => result.status)).toEqual(Array(4).fill('fulfilled'));
    } finally {
      await harness.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await harness.close();
    }
  });
});
