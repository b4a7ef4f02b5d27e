import { createHash } from 'node:crypto';
import type { AttemptRecord, AttemptStatus } from '../../core/attempt.js';
import { AsyncTaskError, SchemaOutdatedError } from '../../core/errors.js';
import type { TableName } from '../../driver/driver.js';
import type {
  AttemptClaimParams,
  AttemptClaimResult,
  AttemptCompletion,
  AttemptInsertParams,
  AttemptInsertResult,
  AttemptListParams,
  Executor,
  LeaseRef,
} from '../../driver/executor.js';
import type { SqlConnection, SqlResult, Statement } from '../../driver/sql-connection.js';
import * as queries from './queries.js';

type StatementName = keyof typeof queries;
export type PostgresStatements = Readonly<Record<StatementName, Statement>>;

export function quoteTable(table: TableName): string {
  return table.schema === null ? `"${table.name}"` : `"${table.schema}"."${table.name}"`;
}

const cache = new Map<string, PostgresStatements>();

/** Fills the table name into every statement, once per table. */
export function bindStatements(table: TableName): PostgresStatements {
  const quoted = quoteTable(table);
  let bound = cache.get(quoted);
  if (!bound) {
    const entries = Object.entries(queries).map(([key, template]) => {
      const text = template.replaceAll('{{table}}', quoted).trim();
      const hash = createHash('sha1').update(text).digest('hex').slice(0, 16);
      return [key, { name: `async_task_${key}_${hash}`, text }] as const;
    });
    bound = Object.fromEntries(entries) as PostgresStatements;
    cache.set(quoted, bound);
  }
  return bound;
}

export class PostgresExecutor implements Executor {
  readonly #connection: SqlConnection;
  readonly #statements: PostgresStatements;
  readonly #table: TableName;

  constructor(connection: SqlConnection, table: TableName) {
    this.#connection = connection;
    this.#table = table;
    this.#statements = bindStatements(table);
  }

  async attemptClaim(params: AttemptClaimParams): Promise<AttemptClaimResult> {
    const result = await this.#query('attemptClaim', [
      params.lockedBy,
      params.limit,
      params.leaseMs,
      params.horizon,
      params.queues,
    ]);
    const first = result.rows[0];
    return {
      records: result.rows.map(toRecord).sort(claimOrder),
      now: first ? new Date(first['db_now'] as number) : new Date(),
    };
  }

  async attemptCompleteMany(
    lockedBy: string,
    completions: readonly AttemptCompletion[],
  ): Promise<string[]> {
    if (completions.length === 0) return [];
    const result = await this.#query('attemptCompleteMany', [
      lockedBy,
      completions.map((c) => c.id),
      completions.map((c) => c.numAttempts),
      completions.map((c) => c.status),
      completions.map((c) => c.delayMs),
      completions.map((c) => c.error),
    ]);
    return result.rows.map((row) => row['id'] as string);
  }

  async attemptExtendLeases(
    lockedBy: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.#query('attemptExtendLeases', [
      lockedBy,
      leases.map((l) => l.id),
      leases.map((l) => l.numAttempts),
      leaseMs,
    ]);
    return result.rows.map((row) => row['id'] as string);
  }

  async attemptGet(id: string): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptGet', [id]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  async attemptInsertMany(rows: readonly AttemptInsertParams[]): Promise<AttemptInsertResult[]> {
    if (rows.length === 0) return [];
    const inserted = await this.#query('attemptInsertMany', [
      rows.map((r) => r.target),
      rows.map((r) => r.methodName),
      rows.map((r) => r.methodArgs),
      rows.map((r) => r.encryptor),
      rows.map((r) => r.maxAttempts),
      rows.map((r) => r.queue),
      rows.map((r) => r.priority),
      rows.map((r) => r.idempotenceToken),
      rows.map((r) => r.scheduledAt),
    ]);
    const records = inserted.rows.map(toRecord);
    if (records.length === rows.length && rows.every((r) => r.idempotenceToken === null)) {
      // Identity values follow the ORDER BY ord of the insert, so id order is input order.
      return records.sort(byId).map((record) => ({ record, inserted: true }));
    }
    return this.#matchInserted(rows, records);
  }

  async attemptList(params: AttemptListParams): Promise<AttemptRecord[]> {
    const result = await this.#query('attemptList', [
      params.status,
      params.target,
      params.methodName,
      params.queue,
      params.beforeId,
      params.limit,
    ]);
    return result.rows.map(toRecord);
  }

  async attemptPrune(before: Date, limit: number): Promise<number> {
    const result = await this.#query('attemptPrune', [before, limit]);
    return result.rowCount;
  }

  async attemptReleaseMany(lockedBy: string, leases: readonly LeaseRef[]): Promise<string[]> {
    if (leases.length === 0) return [];
    const result = await this.#query('attemptReleaseMany', [
      lockedBy,
      leases.map((l) => l.id),
      leases.map((l) => l.numAttempts),
    ]);
    return result.rows.map((row) => row['id'] as string);
  }

  async attemptRescueExpired(limit: number): Promise<AttemptRecord[]> {
    const result = await this.#query('attemptRescueExpired', [limit]);
    return result.rows.map(toRecord);
  }

  async attemptSetFinalIfPending(
    id: string,
    status: 'expired' | 'failed',
  ): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptSetFinalIfPending', [id, status]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  async attemptSetPendingIfFinished(id: string): Promise<AttemptRecord | null> {
    const result = await this.#query('attemptSetPendingIfFinished', [id]);
    const row = result.rows[0];
    return row ? toRecord(row) : null;
  }

  async #matchInserted(
    rows: readonly AttemptInsertParams[],
    insertedRecords: AttemptRecord[],
  ): Promise<AttemptInsertResult[]> {
    const byToken = new Map<string, AttemptRecord>();
    const plain: AttemptRecord[] = [];
    for (const record of insertedRecords.sort(byId)) {
      if (record.idempotenceToken === null) plain.push(record);
      else byToken.set(tokenKey(record), record);
    }
    const missing = rows.filter((r) => r.idempotenceToken !== null && !byToken.has(tokenKey(r)));
    const existing = new Map<string, AttemptRecord>();
    if (missing.length > 0) {
      const found = await this.#query('attemptGetByTokens', [
        missing.map((r) => r.target),
        missing.map((r) => r.methodName),
        missing.map((r) => r.idempotenceToken),
      ]);
      for (const record of found.rows.map(toRecord)) existing.set(tokenKey(record), record);
    }
    const claimed = new Set<string>();
    let nextPlain = 0;
    return rows.map((row) => {
      if (row.idempotenceToken === null) {
        const record = plain[nextPlain++];
        if (!record) throw new AsyncTaskError('DATABASE', 'insert returned fewer rows than sent');
        return { record, inserted: true };
      }
      const key = tokenKey(row);
      const fresh = byToken.get(key);
      if (fresh && !claimed.has(key)) {
        claimed.add(key);
        return { record: fresh, inserted: true };
      }
      const record = fresh ?? existing.get(key);
      if (!record) {
        // The conflicting row was deleted between our insert and our read (pruned): rare enough
        // that the caller's retry is the right answer.
        throw new AsyncTaskError(
          'DATABASE',
          `the attempt holding idempotence token ${JSON.stringify(row.idempotenceToken)} vanished while enqueueing; retry the transaction`,
        );
      }
      return { record, inserted: false };
    });
  }

  async #query(name: StatementName, params: readonly unknown[]): Promise<SqlResult> {
    try {
      return await this.#connection.query(this.#statements[name], params);
    } catch (error) {
      throw translateError(error, this.#table);
    }
  }
}

/** SQLSTATE 42P01 (undefined_table) means migrate() has not run. */
export function translateError(error: unknown, table: TableName): unknown {
  const cause = error instanceof AsyncTaskError ? error.cause : error;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === '42P01') {
    return new SchemaOutdatedError(
      `table ${quoteTable(table)} does not exist; run \`await tasks.migrate()\` (or \`async-task migrate\`) first`,
    );
  }
  return error;
}

function tokenKey(r: {
  target: string;
  methodName: string;
  idempotenceToken: string | null;
}): string {
  return `${r.target}\u0000${r.methodName}\u0000${r.idempotenceToken}`;
}

function byId(a: AttemptRecord, b: AttemptRecord): number {
  return a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function claimOrder(a: AttemptRecord, b: AttemptRecord): number {
  return a.priority - b.priority || a.scheduledAt.getTime() - b.scheduledAt.getTime() || byId(a, b);
}

function optionalDate(value: unknown): Date | null {
  return value === null ? null : new Date(value as number);
}

function toRecord(row: Record<string, unknown>): AttemptRecord {
  return {
    id: row['id'] as string,
    target: row['target'] as string,
    methodName: row['method_name'] as string,
    methodArgs: row['method_args'] as string | null,
    encryptor: row['encryptor'] as string | null,
    status: row['status'] as AttemptStatus,
    numAttempts: row['num_attempts'] as number,
    maxAttempts: row['max_attempts'] as number,
    queue: row['queue'] as string,
    priority: row['priority'] as number,
    idempotenceToken: row['idempotence_token'] as string | null,
    scheduledAt: new Date(row['scheduled_at'] as number),
    completedAt: optionalDate(row['completed_at']),
    lockedBy: row['locked_by'] as string | null,
    lockedUntil: optionalDate(row['locked_until']),
    lastError: row['last_error'] as string | null,
    createdAt: new Date(row['created_at'] as number),
    updatedAt: new Date(row['updated_at'] as number),
  };
}
