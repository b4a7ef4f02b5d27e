// Pieces of SQL text the MySQL statements share (queries.ts, flow-queries.ts).

import { attemptColumns } from '../attempt-rows.js';

/** Epoch milliseconds of a DATETIME(3) holding UTC, independent of every time zone setting. */
export function epochMs(expression: string): string {
  return `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${expression}) DIV 1000`;
}

/**
 * Every column, as the row mapper expects them; the id as text, so 64-bit ids survive. The output
 * names shadow the columns in ORDER BY (MySQL resolves an unqualified ORDER BY name to the
 * select-list alias first, and `id` there is text), so statements order by `t.`-qualified names.
 */
export function columns(alias = ''): string {
  return attemptColumns(alias, (column) => `CAST(${column} AS CHAR) AS id`, epochMs);
}

/** JSON_TABLE's text columns: utf8mb4 whatever the connection's character set, like the table. */
export const text = 'LONGTEXT CHARACTER SET utf8mb4';

/** The attempts named by a JSON array of `{"id": "…", "n": numAttempts}` (n only for leases). */
export const leaseList = `JSON_TABLE(?, '$[*]' COLUMNS (
    attempt_id BIGINT UNSIGNED PATH '$.id',
    num_attempts INT PATH '$.n'))`;

/** The idempotence key of a (target, method, token) triple; the generated column's expression. */
export function idempotenceKey(alias: string): string {
  return `UNHEX(SHA2(CONCAT(${alias}.target, 0x00, ${alias}.method_name, 0x00, ${alias}.idempotence_token), 256))`;
}
