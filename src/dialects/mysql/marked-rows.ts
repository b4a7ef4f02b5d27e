import { randomUUID } from 'node:crypto';
import type { AttemptRecord } from '../../core/attempt.js';
import { DatabaseError } from '../../core/errors.js';
import type { TableName } from '../../seam/driver.js';
import type { AttemptInsertParams, AttemptInsertResult } from '../../seam/executor.js';
import type { Statement } from '../../seam/sql-connection.js';
import { byId, tokenKey } from '../attempt-rows.js';
import { tokenVanishedError } from '../dialect-errors.js';
import type { MysqlStatements } from './bound-statements.js';
import { sqlTime } from './sql-time.js';
import { withoutNulls } from './json-params.js';

// MySQL has no RETURNING: the rows one operation writes are marked with a one-off `locked_by`
// value, read back by it and unmarked again (see MysqlExecutor).

/**
 * Prefix of the `locked_by` values this dialect writes to mark the rows of one operation (never
 * a worker's id). A marked row is read back by its marker, then unmarked; readers never see one
 * (see {@link visible}).
 */
const markerPrefix = 'async-task:';

/**
 * How long a marked row stays out of the claim's reach: the marker's `locked_until`. Markers are
 * cleared within the same operation, so this only matters if the process dies in between (on a
 * connection outside a transaction): the row becomes claimable again after this long.
 */
const markerHoldMs = 60_000;

/** How often the database's clock is read again for marker holds. */
const clockReadEveryMs = 60_000;

/** Per AsyncTask (its TableName): how far the database's clock is ahead of this host's. */
const clockOffsets = new WeakMap<TableName, { readonly offsetMs: number; readonly at: number }>();

/**
 * The `locked_until` of a marker, as SQL text: a minute ahead by the database's clock, which the
 * claim compares it with. By this host's clock alone, a host a minute behind the database wrote
 * holds already past: a worker could claim an enqueued row before the enqueue read it back, and
 * the enqueue threw though its row was committed. The offset is read through `read` at most once a
 * minute; the read's round trip only moves the hold later.
 */
export async function markerHold(table: TableName, read: () => Promise<Date>): Promise<string> {
  let clock = clockOffsets.get(table);
  if (clock === undefined || performance.now() - clock.at > clockReadEveryMs) {
    const asked = Date.now();
    clock = { offsetMs: (await read()).getTime() - asked, at: performance.now() };
    clockOffsets.set(table, clock);
  }
  return sqlTime(new Date(Date.now() + clock.offsetMs + markerHoldMs));
}

export function newMarker(operation: string): string {
  return `${markerPrefix}${operation}:${randomUUID()}`;
}

/** A completion's second marker: the rows a cancel request turned `expired` (see run-queries). */
export function cancelledMarker(marker: string): string {
  return `${marker}:cancelled`;
}

/** A record as callers see it: a row still marked by an operation in flight shows no lock. */
export function visible(record: AttemptRecord): AttemptRecord {
  return record.lockedBy?.startsWith(markerPrefix)
    ? { ...record, lockedBy: null, lockedUntil: null }
    : record;
}

/** The parameters of attemptInsertMany: one attemptInsertManyRow tuple per row, in order. */
export function insertParams(
  rows: readonly AttemptInsertParams[],
  marker: string,
  hold: string,
): unknown[] {
  return rows.flatMap((row) => [
    row.target,
    row.methodName,
    row.methodArgs,
    row.encryptor,
    row.maxAttempts,
    row.queue,
    row.priority,
    row.idempotenceToken,
    row.scheduledAt === null ? null : sqlTime(row.scheduledAt),
    row.traceContext ?? null,
    marker,
    hold,
    row.concurrencyKey ?? null,
  ]);
}

const insertCache = new Map<Statement, Statement[]>();

/** attemptInsertMany for `count` rows; kept for small counts, the usual enqueue sizes. */
export function insertStatement(statements: MysqlStatements, count: number): Statement {
  const template = statements.attemptInsertMany;
  let bySize = insertCache.get(template);
  if (!bySize) insertCache.set(template, (bySize = []));
  let statement = bySize[count];
  if (!statement) {
    const row = statements.attemptInsertManyRow.text;
    statement = {
      name: `${template.name}_${count}`,
      text: template.text.replace('{{rows}}', Array.from({ length: count }, () => row).join(', ')),
      returnsRows: false,
    };
    if (count <= 64) bySize[count] = statement;
  }
  return statement;
}

export function tokensJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(
    rows.map((row) => ({
      target: row.target,
      methodName: row.methodName,
      idempotenceToken: row.idempotenceToken,
    })),
  );
}

/** attemptReplacePending's JSON: a null field is left out, which reads as SQL NULL everywhere. */
export function replaceJson(rows: readonly AttemptInsertParams[]): string {
  return JSON.stringify(
    rows.map((row) =>
      withoutNulls({
        target: row.target,
        methodName: row.methodName,
        idempotenceToken: row.idempotenceToken,
        methodArgs: row.methodArgs,
        encryptor: row.encryptor,
        scheduledAt: row.scheduledAt === null ? null : sqlTime(row.scheduledAt),
      }),
    ),
  );
}

export function uniqueTokens(rows: readonly AttemptInsertParams[]): AttemptInsertParams[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    if (row.idempotenceToken === null) return false;
    const key = tokenKey(row);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Results in input order. Rows without a token are the marked rows without one, in id order
 * (the insert numbers them in input order). A token's row is `inserted` at its first occurrence
 * if this insert marked it; later occurrences, and rows that held the token already, are not.
 */
export function matchMarked(
  rows: readonly AttemptInsertParams[],
  marked: readonly AttemptRecord[],
  byToken: ReadonlyMap<string, AttemptRecord>,
  marker: string,
): AttemptInsertResult[] {
  const plain = marked.filter((record) => record.idempotenceToken === null).sort(byId);
  const expected = rows.filter((row) => row.idempotenceToken === null).length;
  if (plain.length !== expected) {
    throw new DatabaseError(
      `enqueue inserted ${expected} attempt(s) without a token but read back ${plain.length}; if the application's clock is far behind the database's, a worker may have claimed them first (enqueue inside a transaction to rule this out)`,
    );
  }
  const claimed = new Set<string>();
  let nextPlain = 0;
  return rows.map((row) => {
    if (row.idempotenceToken === null) {
      return { record: unmarked(plain[nextPlain++]!), inserted: true };
    }
    const key = tokenKey(row);
    const record = byToken.get(key);
    // The row holding the token was deleted between our insert and our read (pruned): rare
    // enough that the caller's retry is the right answer.
    if (!record) throw tokenVanishedError(row.idempotenceToken);
    const inserted = record.lockedBy === marker && !claimed.has(key);
    claimed.add(key);
    return { record: record.lockedBy === marker ? unmarked(record) : visible(record), inserted };
  });
}

/** A row this operation marked, as it is once unmarked. */
export function unmarked(record: AttemptRecord): AttemptRecord {
  return { ...record, lockedBy: null, lockedUntil: null };
}

/** The rows an enqueue marked: those it inserted, and rows found by token still carrying its marker. */
export function markedBy(
  marker: string,
  marked: readonly AttemptRecord[],
  found: ReadonlyMap<string, AttemptRecord>,
): AttemptRecord[] {
  return [
    ...marked,
    ...[...found.values()].filter(
      (record) => record.lockedBy === marker && !marked.includes(record),
    ),
  ];
}
