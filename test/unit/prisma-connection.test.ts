// The Prisma driver reads no SQL: a statement's `returnsRows` picks `$queryRawUnsafe` or
// `$executeRawUnsafe`, and `SqlConnection.transaction(fn, { isolation })` is an interactive
// `$transaction(fn, { isolationLevel })` whose `tx` runs the statements. Checked on a stand-in
// client that records its calls (the real clients run in test/integration/prisma.test.ts).
import { describe, expect, it } from 'vitest';
import { DatabaseError } from '../../src/core/errors.js';
import {
  prismaDriver,
  type PrismaClientLike,
  type PrismaQueryable,
  type PrismaTransactionOptions,
} from '../../src/drivers/prisma/index.js';
import type { Statement } from '../../src/seam/sql-connection.js';
import { caught } from '../harness/caught.js';

class Rollback extends Error {}

function standIn(provider: 'postgresql' | 'mysql' | 'sqlite') {
  const calls: string[] = [];
  const queryable = (on: string): PrismaQueryable => ({
    $queryRawUnsafe: (query, ...values) => {
      calls.push(`${on} rows: ${query} ${JSON.stringify(values)}`);
      return Promise.resolve([{ n: 1 }]);
    },
    $executeRawUnsafe: (query, ...values) => {
      calls.push(`${on} count: ${query} ${JSON.stringify(values)}`);
      return Promise.resolve(2);
    },
  });
  const client: PrismaClientLike & { _activeProvider: string } = {
    ...queryable('client'),
    _activeProvider: provider,
    $disconnect: () => Promise.resolve(),
    async $transaction<R>(fn: (tx: unknown) => Promise<R>, options?: PrismaTransactionOptions) {
      calls.push(`begin ${JSON.stringify(options)}`);
      try {
        const result = await fn(queryable('tx'));
        calls.push('commit');
        return result;
      } catch (error) {
        calls.push('rollback');
        throw error;
      }
    },
  };
  return { client, calls };
}

const statement = (text: string, returnsRows: boolean): Statement => ({
  name: '',
  text,
  returnsRows,
});

describe('prismaDriver connections', () => {
  it('choose $queryRawUnsafe or $executeRawUnsafe by returnsRows, never by the text', async () => {
    const { client, calls } = standIn('postgresql');
    const connection = prismaDriver(client).connection(client);
    const rows = await connection.query(statement('UPDATE t SET a = $1 RETURNING id', true), [1]);
    const count = await connection.query(statement('SELECT 1', false), []);
    expect(rows).toEqual({ rows: [{ n: 1 }], rowCount: 1 });
    expect(count).toEqual({ rows: [], rowCount: 2 });
    expect(calls).toEqual([
      'client rows: UPDATE t SET a = $1 RETURNING id [1]',
      'client count: SELECT 1 []',
    ]);
  });

  it('run: a transaction is an interactive $transaction, READ COMMITTED when asked; its statements run in tx', async () => {
    const { client, calls } = standIn('mysql');
    const result = await prismaDriver(client).run(async (connection) => {
      await connection.query(statement('SELECT 0', true), []);
      return connection.transaction(
        async (tx) => (await tx.query(statement('SELECT 1', true), [])).rowCount,
        { isolation: 'read committed' },
      );
    });
    expect(result).toBe(1);
    expect(calls).toEqual([
      'client rows: SELECT 0 []',
      'begin {"maxWait":10000,"timeout":60000,"isolationLevel":"ReadCommitted"}',
      'tx rows: SELECT 1 []',
      'commit',
    ]);
  });

  it('a throw rolls the transaction back and passes through as it is; none nests', async () => {
    const { client, calls } = standIn('postgresql');
    const driver = prismaDriver(client);
    const thrown = await caught(
      driver.session((connection) =>
        connection.transaction(async (tx) => {
          await tx.query(statement('DELETE FROM t', false), []);
          throw new Rollback('undo');
        }),
      ),
    );
    expect(thrown).toBeInstanceOf(Rollback);
    expect(calls).toEqual([
      'begin {"maxWait":10000,"timeout":900000}',
      'tx count: DELETE FROM t []',
      'rollback',
    ]);
    const nested = await caught(
      driver.run((connection) =>
        connection.transaction((tx) => tx.transaction(() => Promise.resolve())),
      ),
    );
    expect(nested).toBeInstanceOf(DatabaseError);
  });

  it('MySQL session and SQLite run: the whole unit in one interactive transaction', async () => {
    const mysql = standIn('mysql');
    await prismaDriver(mysql.client).session((connection) =>
      connection.query(statement('SELECT GET_LOCK(?, 1)', true), ['x']),
    );
    expect(mysql.calls).toEqual([
      'begin {"maxWait":10000,"timeout":900000,"isolationLevel":"ReadCommitted"}',
      'tx rows: SELECT GET_LOCK(?, 1) ["x"]',
      'commit',
    ]);
    const sqlite = standIn('sqlite');
    await prismaDriver(sqlite.client).run(async (connection) => {
      await connection.query(statement('SELECT ?', true), ['a']);
      await connection.query(statement('DELETE FROM t', false), []);
    });
    expect(sqlite.calls).toEqual([
      'begin {"maxWait":10000,"timeout":60000}',
      'tx rows: SELECT ? ["a"]',
      'tx count: DELETE FROM t []',
      'commit',
    ]);
  });
});
