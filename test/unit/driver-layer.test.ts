// The shared driver layer (src/drivers/internal): how a client's errors become async-task's, how
// the caller's own error is told from the client's, and the native-connection shape each native
// client offers, checked on stand-in clients (better-sqlite3 on a real in-memory database).
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ConfigError, DatabaseError } from '../../src/core/errors.js';
import type { BetterSqlite3Database } from '../../src/drivers/better-sqlite3.js';
import { betterSqlite3Connections } from '../../src/drivers/internal/better-sqlite3-connections.js';
import {
  asDatabaseError,
  databaseError,
  messageOf,
  separatingErrors,
  translated,
} from '../../src/drivers/internal/client-errors.js';
import {
  dialectNamed,
  familyAmong,
  isDialectName,
} from '../../src/drivers/internal/dialect-names.js';
import {
  callbackMysqlConnections,
  mysql2Connection,
} from '../../src/drivers/internal/mysql2-connections.js';
import { runAndSession } from '../../src/drivers/internal/native-connections.js';
import { pgConnections } from '../../src/drivers/internal/pg-connections.js';
import type { Mysql2QueryOptions } from '../../src/drivers/mysql2.js';
import type { Statement } from '../../src/seam/sql-connection.js';
import { caught } from '../harness/caught.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as new (
  file: string,
) => BetterSqlite3Database;

const named = (name: string, text: string): Statement => ({ name, text, returnsRows: true });

describe('client errors', () => {
  it('reads the message of an error, or the thrown value as text', () => {
    expect(messageOf(new Error('gone'))).toBe('gone');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(undefined)).toBe('undefined');
  });

  it('wraps a client error with what failed, keeping it as cause', () => {
    const cause = new Error('refused');
    const error = databaseError('could not connect', cause);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error.message).toBe('could not connect: refused');
    expect(error.cause).toBe(cause);
  });

  it("passes async-task's own errors through asDatabaseError and translated", async () => {
    const own = new ConfigError('bad');
    expect(asDatabaseError('x', own)).toBe(own);
    expect(await caught(translated('x', () => Promise.reject(own)))).toBe(own);
    const translatedError = await caught(translated('x', () => Promise.reject(new Error('no'))));
    expect(translatedError).toBeInstanceOf(DatabaseError);
    expect((translatedError as Error).message).toBe('x: no');
    expect(await translated('x', () => Promise.resolve(7))).toBe(7);
  });

  it('separates the caller’s error (as it is) from the client’s (translated)', async () => {
    const translate = (error: unknown) => asDatabaseError('the transaction failed', error);
    const mine = new Error('handler');
    const passed = await caught(
      separatingErrors((inner) => inner(() => Promise.reject(mine)), translate),
    );
    expect(passed).toBe(mine);

    const primitive = await caught(
      separatingErrors(
        (inner) =>
          inner(() => {
            // A handler may throw anything; a thrown string passes through too.
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw 'text';
          }),
        translate,
      ),
    );
    expect(primitive).toBe('text');

    const commit = new Error('COMMIT failed');
    const client = await caught(
      separatingErrors(async (inner) => {
        await inner(() => Promise.resolve());
        throw commit;
      }, translate),
    );
    expect(client).toBeInstanceOf(DatabaseError);
    expect((client as DatabaseError).cause).toBe(commit);

    // The client rethrowing something else after the caller's error: that one is the client's.
    const replaced = await caught(
      separatingErrors(async (inner) => {
        await inner(() => Promise.reject(mine)).catch(() => undefined);
        throw new Error('ROLLBACK failed');
      }, translate),
    );
    expect((replaced as Error).message).toBe('the transaction failed: ROLLBACK failed');
  });
});

describe('runAndSession', () => {
  it('is the same borrow for both', () => {
    const borrow = <T>(fn: (connection: never) => Promise<T>) => fn(undefined as never);
    const driver = runAndSession(borrow);
    expect(driver.run).toBe(borrow);
    expect(driver.session).toBe(borrow);
  });
});

describe('dialect names', () => {
  it('knows the three families, by own keys only', () => {
    expect(isDialectName('mysql')).toBe(true);
    expect(isDialectName('constructor')).toBe(false);
    expect(isDialectName(3)).toBe(false);
    expect(dialectNamed('sqlite').name).toBe('sqlite');
    const families = { pg: 'postgres', mysql2: 'mysql' } as const;
    expect(familyAmong(families, [undefined, 'toString', 'mysql2', 'pg'])).toBe('mysql');
    expect(familyAmong(families, ['oracle'])).toBeUndefined();
  });
});

describe('pg connections', () => {
  function recordingClient(fail?: Error) {
    const sent: { text: string; name?: string; values?: unknown[] }[] = [];
    const client = {
      query: (config: { text: string; name?: string; values?: unknown[] }) => {
        sent.push(config);
        return fail
          ? Promise.reject(fail)
          : Promise.resolve({ rows: [{ one: 1 }], rowCount: null });
      },
      release: () => undefined,
    };
    return { client, sent };
  }

  it('prepares named statements only when asked', async () => {
    const { client, sent } = recordingClient();
    const prepared = pgConnections({ preparedStatements: true }).connection(client);
    const result = await prepared.query(named('s1', 'SELECT 1 AS one'), [2]);
    expect(result).toEqual({ rows: [{ one: 1 }], rowCount: 0 });
    await prepared.query(named('', 'SELECT 2'), []);
    await pgConnections({ preparedStatements: false })
      .connection(client)
      .query(named('s1', 'SELECT 1 AS one'), []);
    expect(sent).toEqual([
      { name: 's1', text: 'SELECT 1 AS one', values: [2] },
      { text: 'SELECT 2', values: [] },
      { text: 'SELECT 1 AS one', values: [] },
    ]);
  });

  it('says a connection lost during a statement was lost, not that the statement was refused', async () => {
    const native = pgConnections({ preparedStatements: true });
    const closed = Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), {
      code: 'CONNECTION_CLOSED',
    });
    for (const [lost, message] of [
      [
        closed,
        'PostgreSQL: the connection was lost during the statement: write CONNECTION_CLOSED 127.0.0.1:5432',
      ],
      [
        new Error('Connection terminated unexpectedly'),
        'PostgreSQL: the connection was lost during the statement: Connection terminated unexpectedly',
      ],
    ] as const) {
      const error = await caught(
        native.connection(recordingClient(lost).client).query(named('', 'SELECT 1'), []),
      );
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toBe(message);
      expect((error as Error).cause).toBe(lost);
    }
  });

  it("turns PostgreSQL's refusals into DatabaseError, and ends a transaction with ROLLBACK", async () => {
    const refusal = new Error('syntax error');
    const { client } = recordingClient(refusal);
    const native = pgConnections({ preparedStatements: true });
    const error = await caught(native.connection(client).query(named('', 'SELEC'), []));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toBe('PostgreSQL refused the statement: syntax error');
    expect((error as Error).cause).toBe(refusal);

    const { client: ok, sent } = recordingClient();
    await native.endTransaction(ok);
    expect(sent.map((config) => config.text)).toEqual(['ROLLBACK']);
  });

  it('listens only with a pool to listen on', () => {
    expect(pgConnections({ preparedStatements: true }).listen).toBeUndefined();
    const listenPool = { connect: () => Promise.reject(new Error('unused')) as never };
    expect(typeof pgConnections({ preparedStatements: true, listenPool }).listen).toBe('function');
  });
});

describe('mysql2 connections, without a pool', () => {
  it('reads rows of a SELECT and the affected rows of a write', async () => {
    const sent: Mysql2QueryOptions[] = [];
    const results: unknown[] = [[{ id: 1 }, { id: 2 }], { affectedRows: 3 }, null];
    const connection = mysql2Connection({
      query: (options) => {
        sent.push(options);
        return Promise.resolve([results.shift(), undefined]);
      },
    });
    expect(await connection.query(named('a', 'SELECT id FROM t WHERE x = ?'), [5])).toEqual({
      rows: [{ id: 1 }, { id: 2 }],
      rowCount: 2,
    });
    expect(await connection.query(named('b', 'DELETE FROM t'), [])).toEqual({
      rows: [],
      rowCount: 3,
    });
    expect(await connection.query(named('c', 'DO 1'), [])).toEqual({ rows: [], rowCount: 0 });
    expect(sent[0]).toEqual({
      sql: 'SELECT id FROM t WHERE x = ?',
      values: [5],
      rowsAsArray: false,
      nestTables: false,
    });
  });

  it('runs callback-style connections the same way, errors as DatabaseError', async () => {
    const texts: string[] = [];
    const refusal = Object.assign(new Error('Table missing'), { code: 'ER_NO_SUCH_TABLE' });
    const callbackConnection = {
      query(
        options: Mysql2QueryOptions,
        callback: (error: Error | null, rows: unknown, fields: unknown) => void,
      ) {
        texts.push(options.sql);
        if (options.sql === 'ROLLBACK') callback(null, { affectedRows: 0 }, undefined);
        else callback(refusal, undefined, undefined);
      },
    };
    const native = callbackMysqlConnections;
    expect(native.dialect.name).toBe('mysql');
    const error = await caught(native.connection(callbackConnection).query(named('', 'X'), []));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toBe('MySQL refused the statement: Table missing');
    expect((error as Error).cause).toBe(refusal);
    await native.endTransaction(callbackConnection);
    expect(texts).toEqual(['X', 'ROLLBACK']);
  });
});

describe('better-sqlite3 connections', () => {
  it('is one connection per database, and ends only an open transaction', async () => {
    const db = new Database(':memory:');
    try {
      const native = betterSqlite3Connections;
      expect(native.connection(db)).toBe(native.connection(db));
      await native.endTransaction(db); // no transaction: nothing sent, no error
      const connection = native.connection(db);
      await connection.query(
        { name: 'create', text: 'CREATE TABLE t (x)', returnsRows: false },
        [],
      );
      db.prepare('BEGIN').run();
      await connection.query(
        { name: '', text: 'INSERT INTO t VALUES (?)', returnsRows: false },
        [1],
      );
      await native.endTransaction(db);
      expect(db.inTransaction).toBe(false);
      expect(connection.querySync!(named('count', 'SELECT count(*) AS n FROM t'), [])).toEqual({
        rows: [{ n: 0 }],
        rowCount: 1,
      });
      const error = await caught(connection.query(named('', 'SELEC'), []));
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toMatch(/^SQLite refused the statement: /);
    } finally {
      db.close();
    }
  });
});
