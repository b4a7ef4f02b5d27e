// Found by the chaos suite (half-open connection): node-postgres's `query_timeout` rejects a
// query but leaves it running on the connection. A transaction whose statement timed out could not
// send its ROLLBACK either (it timed out in the queue); once the network came back, the statement
// completed and the connection, back in the pool, sat inside that transaction: the next user's
// statements (a claim, a heartbeat) ran in it and were never committed. The driver now destroys
// a connection whose query timed out.
import { adHoc } from '../../src/dialects/statements.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgDriver } from '../../src/drivers/pg.js';
import { postgresUrl } from '../harness/postgres.js';
import { BlackHoleProxy } from './servers.js';

describe('pgDriver and query_timeout', () => {
  let proxy: BlackHoleProxy;
  let pool: pg.Pool;
  beforeAll(async () => {
    proxy = new BlackHoleProxy(Number(new URL(postgresUrl).port || 5432));
    await proxy.listen();
    const url = new URL(postgresUrl);
    url.host = `127.0.0.1:${proxy.port}`;
    pool = new pg.Pool({ connectionString: url.toString(), max: 1, query_timeout: 300 });
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    proxy.resume();
    await pool.end().catch(() => undefined);
    await proxy.close();
  });

  it('does not hand a connection whose statement timed out inside a transaction back to the pool', async () => {
    const driver = pgDriver(pool);
    await pool.query('SELECT 1');
    const failed = driver.transaction(async (connection) => {
      proxy.blackHole();
      // Assigns a transaction id: visible afterwards through txid_current_if_assigned().
      await connection.query(adHoc('SELECT txid_current()'), []);
    });
    await expect(failed).rejects.toThrow(/Query read timeout/);
    proxy.resume();
    // max: 1, so this is the same connection unless the driver threw it away.
    const { rows } = await pool.query<{ xid: string | null }>(
      'SELECT txid_current_if_assigned()::text AS xid',
    );
    expect(rows[0]!.xid, 'the pool handed out a connection inside a stale transaction').toBeNull();
  });
});
