import { parseRuns, type AttemptRecord, type AttemptStatus } from '../core/attempt.js';
import type { ClaimedValues } from './claimed-values.js';

/**
 * How a dialect's client hands back the values the row mapper converts: ids (text, so 64-bit ids
 * survive), counts and epoch-millisecond times. PostgreSQL's clients give numbers already; MySQL's
 * and SQLite's may give strings or bigints, which are converted.
 */
export interface RowParsers {
  readonly id: (value: unknown) => string;
  readonly number: (value: unknown) => number;
  readonly date: (value: unknown) => Date;
}

/** For clients that may return numbers as strings (`bigNumberStrings`) or bigints (safe integers). */
export const convertingParsers: RowParsers = {
  id: String,
  number: Number,
  date: (value) => new Date(Number(value)),
};

/**
 * The row mapper of a dialect: one row of {@link attemptColumns} to an AttemptRecord. Built once
 * per dialect; it allocates nothing per row beyond the record and its dates.
 */
export function recordMapper(parse: RowParsers): (row: Record<string, unknown>) => AttemptRecord {
  const build = recordBuilder(parse);
  const own = (name: string): string => name;
  return (row) => build(row, parse.date, own);
}

/** The row mapper for the rows of one claim: their Dates and names shared (see ClaimedValues). */
export function claimedRecordMapper(
  parse: RowParsers,
): (row: Record<string, unknown>, shared: ClaimedValues) => AttemptRecord {
  const build = recordBuilder(parse);
  return (row, shared) => build(row, shared.date, shared.name);
}

function recordBuilder(
  parse: RowParsers,
): (
  row: Record<string, unknown>,
  date: (value: unknown) => Date,
  name: (value: string) => string,
) => AttemptRecord {
  const { id, number } = parse;
  return (row, date, name) => ({
    id: id(row['id']),
    target: name(row['target'] as string),
    methodName: name(row['method_name'] as string),
    methodArgs: row['method_args'] as string | null,
    encryptor: row['encryptor'] as string | null,
    status: row['status'] as AttemptStatus,
    numAttempts: number(row['num_attempts']),
    maxAttempts: number(row['max_attempts']),
    queue: name(row['queue'] as string),
    priority: number(row['priority']),
    idempotenceToken: row['idempotence_token'] as string | null,
    scheduledAt: date(row['scheduled_at']),
    completedAt: row['completed_at'] == null ? null : date(row['completed_at']),
    lockedBy: row['locked_by'] == null ? null : name(row['locked_by'] as string),
    lockedUntil: row['locked_until'] == null ? null : date(row['locked_until']),
    lastError: row['last_error'] as string | null,
    // PostgreSQL's `real` comes back as the nearest double (0.4 as 0.4000000059604645): progress
    // is written to a millionth, so rounding to a millionth gives back what was written.
    progress:
      row['progress'] === null || row['progress'] === undefined
        ? null
        : Math.round(number(row['progress']) * 1e6) / 1e6,
    progressMessage: row['progress_message'] as string | null,
    createdAt: date(row['created_at']),
    updatedAt: date(row['updated_at']),
    traceContext: (row['trace_context'] ?? null) as string | null,
    // Only the statements that select `runs` (get, list, rescue) carry it; none stored, none here.
    runs: row['runs'] === undefined || row['runs'] === null ? undefined : parseRuns(row['runs']),
  });
}

/**
 * Every column, as the row mapper expects them, for a select list: `id` and `ms` say how the
 * dialect writes the id (as text) and a time (as epoch milliseconds) under its own name.
 */
export function attemptColumns(
  alias: string,
  id: (column: string) => string,
  ms: (column: string) => string,
): string {
  const c = (name: string): string => `${alias}${name}`;
  return [
    id(c('id')),
    c('target'),
    c('method_name'),
    c('method_args'),
    c('encryptor'),
    c('status'),
    c('num_attempts'),
    c('max_attempts'),
    c('queue'),
    c('priority'),
    c('idempotence_token'),
    `${ms(c('scheduled_at'))} AS scheduled_at`,
    `${ms(c('completed_at'))} AS completed_at`,
    c('locked_by'),
    `${ms(c('locked_until'))} AS locked_until`,
    c('last_error'),
    c('progress'),
    c('progress_message'),
    `${ms(c('created_at'))} AS created_at`,
    `${ms(c('updated_at'))} AS updated_at`,
    c('trace_context'),
  ].join(', ');
}

/** What identifies an idempotence token: target, method and token. */
export function tokenKey(r: {
  readonly target: string;
  readonly methodName: string;
  readonly idempotenceToken: string | null;
}): string {
  return `${r.target}\u0000${r.methodName}\u0000${r.idempotenceToken}`;
}

/** Ids are decimal text: shorter is smaller, then text order. */
export function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function byId(a: { readonly id: string }, b: { readonly id: string }): number {
  return compareIds(a.id, b.id);
}

/** The order a claim hands attempts out in: the claim's own ORDER BY. */
export function claimOrder(a: AttemptRecord, b: AttemptRecord): number {
  return a.priority - b.priority || a.scheduledAt.getTime() - b.scheduledAt.getTime() || byId(a, b);
}

/** A row's id as text (MySQL and SQLite clients may hand back a number or a bigint). */
export function idOf(row: Record<string, unknown>): string {
  return String(row['id']);
}
