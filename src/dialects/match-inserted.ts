import type { AttemptRecord } from '../core/attempt.js';
import { DatabaseError } from '../core/errors.js';
import type { AttemptInsertParams, AttemptInsertResult } from '../seam/executor.js';
import { tokenKey } from './attempt-rows.js';
import { tokenVanishedError } from './dialect-errors.js';

/** What an insert with RETURNING gave back, in id order (which is input order), split by token. */
export interface InsertedRows<Row> {
  /** Rows without a token, in id order. */
  readonly plain: readonly Row[];
  /** Rows with a token, by {@link tokenKey}. */
  readonly byToken: ReadonlyMap<string, Row>;
}

/** Splits what the insert returned (`sorted` by id) into rows with and without a token. */
export function splitInserted<Row>(
  sorted: readonly Row[],
  keyOf: (row: Row) => string | null,
): InsertedRows<Row> {
  const byToken = new Map<string, Row>();
  const plain: Row[] = [];
  for (const row of sorted) {
    const key = keyOf(row);
    if (key === null) plain.push(row);
    else byToken.set(key, row);
  }
  return { plain, byToken };
}

/**
 * Rows with a token the insert did not return: someone (maybe this batch) holds it already. Those
 * whose token is in `replaced` (read back by the replace) are left out.
 */
export function missingTokens<Row>(
  rows: readonly AttemptInsertParams[],
  inserted: InsertedRows<Row>,
  replaced: ReadonlyMap<string, unknown> = new Map(),
): AttemptInsertParams[] {
  return rows.filter((r) => {
    if (r.idempotenceToken === null) return false;
    const key = tokenKey(r);
    return !inserted.byToken.has(key) && !replaced.has(key);
  });
}

/**
 * The `replacePending` rows that did not insert their token themselves (it was held already, or
 * an earlier row of the batch inserted it), one per token: the last, so the latest wins. A
 * dialect whose insert does not say which rows it inserted passes no `inserted` and gets every
 * `replacePending` row's token (replacing a row with what it was just inserted with is harmless).
 */
export function replacingRows<Row>(
  rows: readonly AttemptInsertParams[],
  inserted?: InsertedRows<Row>,
): AttemptInsertParams[] {
  const seen = new Set<string>();
  const last = new Map<string, AttemptInsertParams>();
  for (const row of rows) {
    if (row.idempotenceToken === null) continue;
    const key = tokenKey(row);
    const inserting = !seen.has(key) && inserted?.byToken.has(key) === true;
    seen.add(key);
    if (row.replacePending === true && !inserting) last.set(key, row);
  }
  return [...last.values()];
}

/**
 * Results in input order: rows without a token take the inserted plain rows in id order (the
 * insert follows input order); the first row with a token that this insert won is `inserted`,
 * later rows with the same token (in the batch) and rows whose token was already taken
 * (`existing`, read after the insert) map to that record with `inserted: false`. `record` makes
 * the record of an inserted row from what was sent and what the insert returned. A token in
 * `replaced` (by {@link tokenKey}; rows {@link replacingRows} rewrote) maps to that record.
 */
export function matchInserted<Row>(
  rows: readonly AttemptInsertParams[],
  inserted: InsertedRows<Row>,
  existing: readonly AttemptRecord[],
  record: (params: AttemptInsertParams, row: Row) => AttemptRecord,
  fewerRowsMessage: string,
  replaced: ReadonlyMap<string, AttemptRecord> = new Map(),
): AttemptInsertResult[] {
  const held = new Map(existing.map((r) => [tokenKey(r), r]));
  const fresh = new Map<string, AttemptRecord>();
  let nextPlain = 0;
  return rows.map((row) => {
    if (row.idempotenceToken === null) {
      const returned = inserted.plain[nextPlain++];
      if (returned === undefined) throw new DatabaseError(fewerRowsMessage);
      return { record: record(row, returned), inserted: true };
    }
    const key = tokenKey(row);
    const seen = fresh.get(key);
    if (seen) return { record: seen, inserted: false };
    const returned = inserted.byToken.get(key);
    if (returned !== undefined) {
      const won = replaced.get(key) ?? record(row, returned);
      fresh.set(key, won);
      return { record: won, inserted: true };
    }
    const other = replaced.get(key) ?? held.get(key);
    if (!other) throw tokenVanishedError(row.idempotenceToken);
    return { record: other, inserted: false };
  });
}
