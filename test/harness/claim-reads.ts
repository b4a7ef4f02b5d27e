// What a claim read, as the servers count it: the pages of an index PostgreSQL's auto_explain
// reports for every statement of a session (functions' nested statements too), and the index
// entries a MySQL/MariaDB session read.
import type { RowDataPacket } from 'mysql2';
import type mysql from 'mysql2/promise';
import type pg from 'pg';

/** Makes auto_explain report the plan of every statement `client` runs, as notices. */
export async function explainNested(client: pg.PoolClient, buffers: boolean): Promise<void> {
  await client.query(`LOAD 'auto_explain'`);
  await client.query(`SET auto_explain.log_min_duration = 0`);
  await client.query(`SET auto_explain.log_nested_statements = on`);
  await client.query(`SET auto_explain.log_analyze = on`);
  await client.query(`SET auto_explain.log_buffers = ${buffers ? 'on' : 'off'}`);
  await client.query(`SET auto_explain.log_level = notice`);
}

/** Pages the scans of `index` read, summed over auto_explain's plans (with buffers). */
export function indexPagesRead(plans: readonly string[], index: string): number {
  const scan = new RegExp(
    `Index (?:Only )?Scan using ${index}\\b[^\\n]*\\n(?:[^\\n]*\\n)*?\\s*Buffers: shared ((?:\\w+=\\d+ ?)+)`,
    'g',
  );
  return plans
    .flatMap((text) => [...text.matchAll(scan)])
    .flatMap((match) => [...match[1]!.matchAll(/=(\d+)/g)].map((n) => Number(n[1])))
    .reduce((a, b) => a + b, 0);
}

/**
 * Index entries the session of `pool` (one connection) has read: those handed to the server and
 * those InnoDB looked at and passed over itself (index condition pushdown).
 */
export async function mysqlEntriesRead(pool: mysql.Pool): Promise<number> {
  const [rows] = await pool.query<({ Value: string } & RowDataPacket)[]>(
    `SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_next', 'Handler_icp_attempts')`,
  );
  return rows.reduce((sum, row) => sum + Number(row.Value), 0);
}

/** SQLite's plan of the statement `text` (its `?` bound to null), one step per line. */
export function sqlitePlan(
  db: { prepare(text: string): { all(...params: unknown[]): unknown[] } },
  text: string,
): string {
  const params = text
    .split('?')
    .slice(1)
    .map(() => null);
  return (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...params) as { detail: string }[])
    .map((row) => row.detail)
    .join('\n');
}
