// Refusals whose cause is not in the statement say what to do.
// - SQLite: an enqueue on the application's connection while a write transaction of the same
//   process awaited something froze the event loop for the whole busy timeout (better-sqlite3
//   waits synchronously) and then failed with a bare "database is locked".
// - PostgreSQL behind a pooler in transaction mode: "prepared statement … already exists" named
//   neither the pooler nor the driver option that avoids it.
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncTask, DatabaseError, defineTarget } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { postgresHarness, postgresUrl } from '../harness/postgres.js';
import { Database, sqliteHarness } from '../harness/sqlite.js';

const Notes = defineTarget('Notes', { write(_args: { n: number }) {} });

describe('database errors with a hint', () => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('SQLite: a write lock held past the busy timeout says why and what to do', async () => {
    const harness = await sqliteHarness();
    closers.push(() => harness.close());
    const tasks = await migratedTasks(harness, { targets: [Notes] });
    const holder = new Database(harness.file);
    closers.push(() => {
      holder.close();
    });
    holder.exec('BEGIN IMMEDIATE');
    harness.pool.exec('PRAGMA busy_timeout = 50');
    const error = await caught(() => tasks.enqueue(harness.pool, Notes.write, { n: 1 }));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(
      /^SQLite refused the statement: database is locked \(another connection held SQLite's write lock .* keep awaits out of write transactions on SQLite, or raise the busy timeout\)$/,
    );
  });

  it('PostgreSQL: a prepared statement missing from the connection names the pooler and the option', async () => {
    // One connection, so that the statement dropped below is the one the next call uses.
    const harness = await postgresHarness({ max: 1 });
    closers.push(() => harness.close());
    const tasks = await migratedTasks(harness, { targets: [Notes] });
    await tasks.get('1');
    const client = await harness.pool.connect();
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM pg_prepared_statements WHERE name LIKE '%attemptGet%'`,
    );
    const name = rows[0]!.name;
    // Gone from the server connection, as after a pooler handed the client another one; the
    // client still believes it prepared.
    await client.query(`DEALLOCATE "${name}"`);
    client.release();
    const error = await caught(tasks.get('2'));
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/preparedStatements: false/);
  });

  it("PostgreSQL: a search_path naming no schema says to name the table's schema", async () => {
    const url = new URL(postgresUrl);
    url.searchParams.set('options', '-c search_path=at_test_no_such_schema');
    const harness = await postgresHarness({ url: url.toString() });
    closers.push(() => harness.close());
    const tasks = new AsyncTask({ driver: harness.driver, targets: [Notes] });
    const error = await caught(tasks.migrate());
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(
      /no schema has been selected to create in \(the connection's search_path names no schema that exists: name the table's schema/,
    );
  });
});
