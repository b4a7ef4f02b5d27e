import { AsyncLocalStorage } from 'node:async_hooks';
import { AsyncTaskError, ConfigError, DatabaseError } from '../core/errors.js';
import { mysqlDialect } from '../dialects/mysql/index.js';
import { postgresDialect } from '../dialects/postgres/index.js';
import { sqliteDialect } from '../dialects/sqlite/index.js';
import type { Dialect, Driver } from '../seam/driver.js';
import type {
  SqlConnection,
  SqlResult,
  Statement,
  TransactionOptions,
} from '../seam/sql-connection.js';
import { separatingErrors } from './internal/shared.js';
import { inSqlTransaction, withSqlTransactions } from './internal/sql-transaction.js';

/**
 * The part of a Prisma Client, and of the `tx` of its interactive transactions, async-task uses:
 * raw statements with positional parameters (Prisma 6.16+ and 7).
 */
export interface PrismaQueryable {
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** What async-task passes to `$transaction` (Prisma's own option names). */
export interface PrismaTransactionOptions {
  /** How long to wait for a connection (or, on SQLite, for the open transaction) to begin. */
  readonly maxWait?: number;
  /** How long the transaction may stay open before Prisma rolls it back. */
  readonly timeout?: number;
  readonly isolationLevel?: 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead' | 'Serializable';
}

/** The part of a `PrismaClient` (generated, or extended with `$extends`) async-task uses. */
export interface PrismaClientLike extends PrismaQueryable {
  $transaction<R>(fn: (tx: unknown) => Promise<R>, options?: PrismaTransactionOptions): Promise<R>;
  $disconnect(): Promise<void>;
}

/**
 * The `tx` of `prisma.$transaction(async (tx) => …)` for a given client type: for a generated
 * `PrismaClient`, `Omit<PrismaClient, ITXClientDenyList>` (what Prisma calls a transaction client).
 */
export type PrismaTransactionOf<Client extends PrismaClientLike> = Parameters<
  Client['$transaction']
>[0] extends (tx: infer Tx) => unknown
  ? Tx
  : never;

/** The database families the Prisma driver runs on. */
export type PrismaDialectName = 'postgres' | 'mysql' | 'sqlite';

export interface PrismaDriverOptions {
  /**
   * The database family. Detected from the provider of the client's schema (`postgresql`,
   * `mysql`, `sqlite`, as Prisma 6 and 7 keep it in the client's `_activeProvider`); set it when
   * that cannot be read (a client wrapped in a proxy of your own).
   * @defaultValue detected
   */
  readonly dialect?: PrismaDialectName;
  /**
   * The options of the interactive transaction a handler's `ctx.transaction` runs in.
   * @defaultValue `{ maxWait: 10_000, timeout: 60_000 }`
   */
  readonly transactionOptions?: PrismaTransactionOptions;
}

/**
 * The driver for Prisma Client 7 (and 6.16+) on PostgreSQL, MySQL/MariaDB and SQLite, with any
 * driver adapter. Give it your `PrismaClient`; `enqueue` accepts the `tx` of an interactive
 * `prisma.$transaction(async (tx) => …)` (the normal case) or the client itself for an enqueue
 * outside any transaction. A wrong object is a compile error: the accepted types are derived from
 * your generated client. A nested `tx.$transaction(…)` (Prisma 7: a savepoint) drops the tasks
 * enqueued in it when it rolls back.
 *
 * Prisma hands out no connection of its own, so async-task's statements go through
 * `$queryRawUnsafe` (statements that return rows) and `$executeRawUnsafe` (the others), their
 * parameters bound by Prisma. The worker side runs on the client: a handler's `ctx.transaction`
 * is a `prisma.$transaction` whose `tx` the handler receives (options: `transactionOptions`).
 * Where async-task needs one connection for several statements, it gets it the only way Prisma
 * offers, an interactive transaction: the MySQL claim's own short READ COMMITTED transaction,
 * the PostgreSQL and SQLite migrations' transactions, and the MySQL migration (its GET_LOCK is
 * held by the session), whose DDL commits as it goes, as it does on any connection. Those run
 * with `maxWait` 10 s and `timeout` 60 s (migrations: 15 min, as they may wait for another
 * process's migration).
 *
 * SQLite: Prisma's adapter has one connection, and a statement sent outside `$transaction` runs
 * inside whatever interactive transaction is open at that moment. So everything async-task
 * does on SQLite runs in an interactive transaction of its own (queued behind yours), except
 * inside a handler's `ctx.transaction`, where it runs in that transaction.
 *
 * Prisma cannot LISTEN: workers on this driver poll (`pollIntervalMs`), even on PostgreSQL.
 *
 * @example
 * import { PrismaPg } from '@prisma/adapter-pg';
 * import { PrismaClient } from './generated/prisma/client.js';
 * import { prismaDriver } from 'async-task/prisma';
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString }) });
 * const tasks = new AsyncTask({ driver: prismaDriver(prisma), targets: [OrderClient] });
 * await prisma.$transaction(async (tx) => {
 *   await tx.order.create({ data: { number: 7 } });
 *   await tasks.enqueue(tx, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function prismaDriver<Client extends PrismaClientLike>(
  prisma: Client,
  options: PrismaDriverOptions = {},
): Driver<Client | PrismaTransactionOf<Client>, PrismaTransactionOf<Client>> {
  if (!isClient(prisma)) {
    throw new ConfigError(
      isQueryable(prisma)
        ? 'prismaDriver: pass the PrismaClient, not a transaction (give transactions to enqueue)'
        : 'prismaDriver: pass your PrismaClient (new PrismaClient({ adapter }))',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('prismaDriver: options must be an object');
  }
  const name = options.dialect ?? detectDialect(prisma);
  const dialect = dialectFor(name);
  const client = prisma as unknown as ClientCalls;
  const handlerOptions = transactionOptionsOf(options.transactionOptions);
  // SQLite: the transaction a handler's ctx.transaction holds, for work started inside it.
  const held = name === 'sqlite' ? new AsyncLocalStorage<PrismaQueryable>() : undefined;
  /** Statements outside any transaction: on SQLite, each in an interactive transaction. */
  const outside = (on: ClientCalls): PrismaQueryable =>
    held
      ? {
          $queryRawUnsafe: (query, ...values) =>
            held.getStore()?.$queryRawUnsafe(query, ...values) ??
            on.$transaction(async (tx) => tx.$queryRawUnsafe(query, ...values), workTransaction),
          $executeRawUnsafe: (query, ...values) =>
            held.getStore()?.$executeRawUnsafe(query, ...values) ??
            on.$transaction(async (tx) => tx.$executeRawUnsafe(query, ...values), workTransaction),
        }
      : on;
  const open =
    (transactionOptions: PrismaTransactionOptions) =>
    (extra: PrismaTransactionOptions): Promise<OpenTransaction> =>
      openTransaction(client, { ...transactionOptions, ...extra }, name);

  const run = async <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> => {
    const holding = held?.getStore();
    if (holding) return fn(new Unit(name, holding, null));
    if (name === 'sqlite') {
      // One interactive transaction (Prisma's lock on the connection) for the whole unit.
      return inTransaction(name, client, workTransaction, (tx) => fn(new Unit(name, tx, null)));
    }
    return withUnit(new Unit(name, prisma, open(workTransaction)), fn);
  };

  return {
    dialect,
    connection: (tx) => {
      if (!isQueryable(tx)) {
        throw new ConfigError(
          'enqueue: pass the tx of prisma.$transaction(async (tx) => …), or the PrismaClient',
        );
      }
      const target = isClient(tx) ? outside(tx as unknown as ClientCalls) : tx;
      return withSqlTransactions(name, {
        query: (statement, params) => execute(name, target, statement, params),
      });
    },
    run,
    session: (fn) => {
      if (name === 'mysql') {
        // GET_LOCK belongs to the session: one connection for the whole migration, which only an
        // interactive transaction gives. Each DDL statement commits it implicitly, as on any
        // connection; READ COMMITTED keeps every read current in between.
        return inTransaction(
          name,
          client,
          { ...sessionTransaction, isolationLevel: 'ReadCommitted' },
          (tx) => fn(new Unit(name, tx, null)),
        );
      }
      return withUnit(new Unit(name, outside(client), open(sessionTransaction)), fn);
    },
    transaction: <T>(
      fn: (connection: SqlConnection, tx: PrismaTransactionOf<Client>) => Promise<T>,
    ): Promise<T> =>
      inTransaction(name, client, handlerOptions, (tx) => {
        const body = (): Promise<T> =>
          fn(
            withSqlTransactions(name, {
              query: (statement, params) => execute(name, tx, statement, params),
            }),
            tx as PrismaTransactionOf<Client>,
          );
        return held ? held.run(tx, body) : body();
      }),
  };
}

/** `$transaction` as the driver calls it. */
interface ClientCalls extends PrismaQueryable {
  $transaction<R>(
    fn: (tx: PrismaQueryable) => Promise<R>,
    options?: PrismaTransactionOptions,
  ): Promise<R>;
}

/** The driver's own short transactions (the MySQL claim and rescue, SQLite's units of work). */
const workTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 60_000 };
/**
 * Migrations: they wait for another process's migration (PostgreSQL's advisory lock, MySQL's
 * GET_LOCK for up to 600 s), then run DDL.
 */
const sessionTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 900_000 };
const handlerTransaction: PrismaTransactionOptions = { maxWait: 10_000, timeout: 60_000 };

function transactionOptionsOf(
  given: PrismaTransactionOptions | undefined,
): PrismaTransactionOptions {
  if (given === undefined) return handlerTransaction;
  if (typeof given !== 'object' || given === null) {
    throw new ConfigError('prismaDriver: transactionOptions must be an object');
  }
  for (const key of ['maxWait', 'timeout'] as const) {
    const value = given[key];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      throw new ConfigError(
        `prismaDriver: transactionOptions.${key} must be a whole number of milliseconds above 0, got ${String(value)}`,
      );
    }
  }
  // Only the keys given: Prisma fills in the rest from the client's own transactionOptions.
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
}

/** Runs `fn` in an interactive transaction, translating Prisma's own errors (begin, commit). */
function inTransaction<T>(
  dialect: PrismaDialectName,
  client: ClientCalls,
  options: PrismaTransactionOptions,
  fn: (tx: PrismaQueryable) => Promise<T>,
): Promise<T> {
  return separatingErrors(
    (inner) => client.$transaction((tx) => inner(() => fn(tx)), options),
    (error) => databaseError(dialect, error),
  );
}

/** An interactive transaction opened now and ended later by `end`. */
interface OpenTransaction {
  readonly tx: PrismaQueryable;
  end(commit: boolean): Promise<void>;
}

class RollbackRequested extends Error {}

function openTransaction(
  client: ClientCalls,
  options: PrismaTransactionOptions,
  dialect: PrismaDialectName,
): Promise<OpenTransaction> {
  return new Promise((resolve, reject) => {
    let decide!: (commit: boolean) => void;
    const decided = new Promise<boolean>((settle) => {
      decide = settle;
    });
    let opened = false;
    const done = client.$transaction(async (tx) => {
      opened = true;
      resolve({
        tx,
        end: async (commit) => {
          decide(commit);
          try {
            await done;
          } catch (error) {
            if (!(error instanceof RollbackRequested)) throw databaseError(dialect, error);
          }
        },
      });
      if (!(await decided)) throw new RollbackRequested();
    }, options);
    // Failures after the transaction opened reach whoever calls `end`.
    done.catch((error: unknown) => {
      if (!opened) reject(databaseError(dialect, error));
    });
  });
}

/**
 * A unit of work (`run`, `session`) as the dialects see it: one connection, autocommit, their
 * own BEGIN/COMMIT. Statements go to `base`; the dialect's transaction statements open and end an
 * interactive transaction through `begin`, and the statements in between run in it.
 */
class Unit implements SqlConnection {
  readonly #dialect: PrismaDialectName;
  readonly #base: PrismaQueryable;
  readonly #begin: ((extra: PrismaTransactionOptions) => Promise<OpenTransaction>) | null;
  #open: OpenTransaction | null = null;
  #readCommitted = false;

  constructor(
    dialect: PrismaDialectName,
    base: PrismaQueryable,
    begin: ((extra: PrismaTransactionOptions) => Promise<OpenTransaction>) | null,
  ) {
    this.#dialect = dialect;
    this.#base = base;
    this.#begin = begin;
  }

  async query(statement: Statement, params: readonly unknown[]): Promise<SqlResult> {
    const control = analyse(statement, this.#dialect).control;
    if (control === null) {
      return execute(this.#dialect, this.#open?.tx ?? this.#base, statement, params);
    }
    if (this.#begin === null || control === 'unsupported') throw unexpected(statement);
    const open = this.#open;
    switch (control) {
      case 'readCommitted':
        if (open) throw unexpected(statement);
        this.#readCommitted = true;
        break;
      case 'begin': {
        if (open) throw unexpected(statement);
        // SET TRANSACTION applies to the next transaction only: so does the option.
        const readCommitted = this.#readCommitted;
        this.#readCommitted = false;
        this.#open = await this.#begin(readCommitted ? { isolationLevel: 'ReadCommitted' } : {});
        break;
      }
      case 'commit':
      case 'rollback':
        this.#open = null;
        await open?.end(control === 'commit');
        break;
    }
    return { rows: [], rowCount: 0 };
  }

  transaction<T>(
    fn: (connection: SqlConnection) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    return inSqlTransaction(this, this.#dialect, fn, options);
  }

  /** Rolls back a transaction the unit left open (never hand a connection back inside one). */
  async close(): Promise<void> {
    const open = this.#open;
    this.#open = null;
    await open?.end(false).catch(() => undefined);
  }
}

/** A transaction statement the driver cannot map onto `$transaction` here: a bug, not misuse. */
function unexpected(statement: Statement): AsyncTaskError {
  return new AsyncTaskError(
    'DATABASE',
    `prismaDriver: cannot run "${statement.text.trim().slice(0, 60)}" at this point: Prisma runs transactions only through $transaction, and async-task's dialect sent it where the driver does not expect one; please report this`,
  );
}

async function withUnit<T>(unit: Unit, fn: (connection: SqlConnection) => Promise<T>): Promise<T> {
  try {
    return await fn(unit);
  } finally {
    await unit.close();
  }
}

/**
 * The database's own error inside a Prisma error (a failed raw query, P2010), shaped like the
 * native client's: `code` as Prisma reports it (PostgreSQL's SQLSTATE, MySQL's error number,
 * SQLite's result code name), `errno` on MySQL, the database's message. `cause` is Prisma's error.
 */
export class PrismaRawQueryError extends Error {
  readonly code: string;
  /** MySQL's error number (`code` as a number), as mysql2 gives it. */
  readonly errno: number | undefined;
  /** The SQLSTATE, where Prisma reports it apart from `code` (MySQL). */
  readonly sqlState: string | undefined;

  constructor(
    reported: { code: string; message: string; sqlState?: string | undefined },
    dialect: PrismaDialectName,
    prismaError: unknown,
  ) {
    super(reported.message, { cause: prismaError });
    this.name = 'PrismaRawQueryError';
    this.code = reported.code;
    const errno = Number(reported.code);
    this.errno = dialect === 'mysql' && Number.isInteger(errno) ? errno : undefined;
    this.sqlState = reported.sqlState;
  }
}

/** How the driver sends one statement text, worked out once per text. */
interface Analysis {
  /** The text as sent: on SQLite, numbered `?N` placeholders made plain `?`. */
  readonly text: string;
  /** The parameter for each `?` of `text`, by index into the dialect's parameters; null: as given. */
  readonly order: readonly number[] | null;
  /** Whether it returns rows (`$queryRawUnsafe`) or a count (`$executeRawUnsafe`). */
  readonly rows: boolean;
  readonly control: Control | null;
}

/** A transaction statement of the dialects, which Prisma can only run through `$transaction`. */
type Control = 'begin' | 'commit' | 'rollback' | 'readCommitted' | 'unsupported';

const controls: Readonly<Record<string, Control>> = {
  BEGIN: 'begin',
  'BEGIN IMMEDIATE': 'begin',
  'START TRANSACTION': 'begin',
  COMMIT: 'commit',
  ROLLBACK: 'rollback',
  'SET TRANSACTION ISOLATION LEVEL READ COMMITTED': 'readCommitted',
};

/** First keywords of statements that return rows (besides anything with RETURNING). */
const rowKeywords = new Set(['SELECT', 'WITH', 'VALUES', 'SHOW', 'TABLE', 'EXPLAIN', 'PRAGMA']);
const controlKeywords = new Set(['BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'END', 'SAVEPOINT']);

/** By statement object first (the dialects bind theirs once per table), then by text. */
const analysesByStatement: Record<PrismaDialectName, WeakMap<Statement, Analysis>> = {
  postgres: new WeakMap(),
  mysql: new WeakMap(),
  sqlite: new WeakMap(),
};
const analysesByText = new Map<string, Analysis>();

function analyse(statement: Statement, dialect: PrismaDialectName): Analysis {
  const byStatement = analysesByStatement[dialect];
  let analysis = byStatement.get(statement);
  if (analysis) return analysis;
  const key = `${dialect}\u0000${statement.text}`;
  analysis = analysesByText.get(key);
  if (!analysis) {
    const { skeleton, text, order } = scan(statement.text, dialect);
    const first = /^[\s(]*([A-Za-z]+)/.exec(skeleton)?.[1]?.toUpperCase() ?? '';
    const normal = skeleton.trim().replace(/;$/, '').replace(/\s+/g, ' ').toUpperCase();
    let control: Control | null = null;
    if (Object.hasOwn(controls, normal)) control = controls[normal]!;
    else if (controlKeywords.has(first) || normal.startsWith('SET TRANSACTION')) {
      control = 'unsupported';
    }
    analysis = {
      text,
      order,
      rows: rowKeywords.has(first) || /\bRETURNING\b/i.test(skeleton),
      control,
    };
    // Texts are the dialects' own, a bounded set, except MySQL inserts of unusual batch sizes.
    if (analysesByText.size >= 1000) analysesByText.clear();
    analysesByText.set(key, analysis);
  }
  byStatement.set(statement, analysis);
  return analysis;
}

const dollarQuote = /\$([A-Za-z_][A-Za-z_0-9]*)?\$/y;
const digits = /\d+/y;

/**
 * `skeleton`: the text with string literals, quoted names and comments blanked, for keyword
 * checks. On SQLite, `text` and `order`: numbered `?N` placeholders, which Prisma's adapters bind
 * from an array and so cannot take, made plain `?` with the parameters reordered to match.
 */
function scan(
  source: string,
  dialect: PrismaDialectName,
): { skeleton: string; text: string; order: number[] | null } {
  let skeleton = '';
  let text = '';
  const order: number[] = [];
  let numbered = false;
  let highest = 0;
  let at = 0;
  while (at < source.length) {
    const char = source[at]!;
    let end = -1;
    if (char === "'" || char === '"' || char === '`') {
      end = at + 1;
      for (;;) {
        const close = source.indexOf(char, end);
        if (close === -1) {
          end = source.length;
          break;
        }
        end = close + 1;
        if (source[end] !== char) break;
        end += 1;
      }
    } else if (char === '-' && source[at + 1] === '-') {
      const newline = source.indexOf('\n', at);
      end = newline === -1 ? source.length : newline;
    } else if (char === '/' && source[at + 1] === '*') {
      const close = source.indexOf('*/', at + 2);
      end = close === -1 ? source.length : close + 2;
    } else if (char === '$' && dialect === 'postgres') {
      dollarQuote.lastIndex = at;
      const tag = dollarQuote.exec(source)?.[0];
      if (tag !== undefined) {
        const close = source.indexOf(tag, at + tag.length);
        end = close === -1 ? source.length : close + tag.length;
      }
    } else if (char === '?' && dialect === 'sqlite') {
      digits.lastIndex = at + 1;
      const number = digits.exec(source)?.[0];
      if (number !== undefined) {
        numbered = true;
        const index = Number(number);
        highest = Math.max(highest, index);
        order.push(index - 1);
        at += 1 + number.length;
      } else {
        highest += 1;
        order.push(highest - 1);
        at += 1;
      }
      skeleton += '?';
      text += '?';
      continue;
    }
    if (end !== -1) {
      skeleton += ' ';
      text += source.slice(at, end);
      at = end;
      continue;
    }
    skeleton += char;
    text += char;
    at += 1;
  }
  return numbered ? { skeleton, text, order } : { skeleton, text: source, order: null };
}

async function execute(
  dialect: PrismaDialectName,
  target: PrismaQueryable,
  statement: Statement,
  params: readonly unknown[],
): Promise<SqlResult> {
  const analysis = analyse(statement, dialect);
  const given = analysis.order === null ? params : analysis.order.map((index) => params[index]);
  const args = given.map((value) => toPrisma(dialect, value));
  try {
    if (analysis.rows) {
      const rows = (await target.$queryRawUnsafe(analysis.text, ...args)) as Record<
        string,
        unknown
      >[];
      for (const row of rows) normalizeRow(dialect, row);
      return { rows, rowCount: rows.length };
    }
    const count = await target.$executeRawUnsafe(analysis.text, ...args);
    return { rows: [], rowCount: count };
  } catch (error) {
    throw databaseError(dialect, error);
  }
}

/** A parameter as Prisma should get it to bind what the native client would. */
function toPrisma(dialect: PrismaDialectName, value: unknown): unknown {
  if (value === undefined) return null;
  // Prisma's PostgreSQL adapter sends a Date as UTC text without an offset, which a timestamptz
  // parameter would read in the session's time zone; ISO text with `Z` is the same instant anywhere.
  if (dialect === 'postgres' && value instanceof Date && !Number.isNaN(value.getTime())) {
    return value.toISOString();
  }
  return value;
}

/**
 * A row as the native client (pg, mysql2, better-sqlite3 with their defaults) would give it:
 * Prisma returns 64-bit integers as bigint (pg: text; mysql2 and better-sqlite3: numbers),
 * decimals as Decimal (text; SQLite: numbers) and bytes as Uint8Array (Buffer).
 */
function normalizeRow(dialect: PrismaDialectName, row: Record<string, unknown>): void {
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
      row[key] = Array.isArray(value)
        ? value.map((item: unknown) => normalizeValue(dialect, item))
        : normalizeValue(dialect, value);
    } else if (typeof value === 'bigint') {
      row[key] = normalizeValue(dialect, value);
    }
  }
}

function normalizeValue(dialect: PrismaDialectName, value: unknown): unknown {
  if (typeof value === 'bigint') {
    if (dialect === 'postgres') return value.toString();
    const number = Number(value);
    return Number.isSafeInteger(number) ? number : value.toString();
  }
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  if (value instanceof Uint8Array) {
    return Buffer.isBuffer(value)
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  // toFixed() without digits: plain notation, as the database prints it (never an exponent).
  if (isDecimal(value)) return dialect === 'sqlite' ? Number(value.toFixed()) : value.toFixed();
  return value;
}

/** Prisma's `Decimal` (decimal.js), recognised without importing it. */
function isDecimal(value: object): value is { toFixed(): string } {
  const candidate = value as { toFixed?: unknown; toDecimalPlaces?: unknown };
  return typeof candidate.toFixed === 'function' && typeof candidate.toDecimalPlaces === 'function';
}

const databaseNames: Record<PrismaDialectName, string> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL',
  sqlite: 'SQLite',
};

/**
 * A DatabaseError for a Prisma error. When the database refused the statement, `cause` is a
 * {@link PrismaRawQueryError} carrying the database's code (what the dialects recognise, such as
 * a missing table), with Prisma's error as its own `cause`; otherwise `cause` is Prisma's error.
 */
function databaseError(dialect: PrismaDialectName, error: unknown): AsyncTaskError {
  if (error instanceof AsyncTaskError) return error;
  const reported = reportedByDatabase(error);
  if (reported) {
    return new DatabaseError(
      `${databaseNames[dialect]} refused the statement: ${reported.message}`,
      {
        cause: new PrismaRawQueryError(reported, dialect, error),
      },
    );
  }
  return new DatabaseError(`Prisma could not run the statement: ${summary(error)}`, {
    cause: error,
  });
}

/**
 * The database's code and message in a Prisma error: Prisma 7's driver adapters put them in
 * `meta.driverAdapterError.cause`, Prisma 6's query engine in `meta` of a P2010 error.
 */
function reportedByDatabase(
  error: unknown,
): { code: string; message: string; sqlState?: string | undefined } | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, meta } = error as { code?: unknown; meta?: Record<string, unknown> };
  if (typeof meta !== 'object' || meta === null) return null;
  const adapter = (meta['driverAdapterError'] as { cause?: Record<string, unknown> } | undefined)
    ?.cause;
  if (typeof adapter === 'object' && adapter !== null) {
    const original = adapter['originalCode'];
    const message = adapter['originalMessage'];
    if (typeof original === 'string' && typeof message === 'string') {
      const state = adapter['state'];
      return { code: original, message, sqlState: typeof state === 'string' ? state : undefined };
    }
    return null;
  }
  if (code === 'P2010' && typeof meta['code'] === 'string' && typeof meta['message'] === 'string') {
    return { code: meta['code'], message: meta['message'] };
  }
  return null;
}

/** Prisma's message without its "Invalid `prisma.…()` invocation:" preamble, on one line. */
function summary(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^Invalid `.*` invocation/.test(line))
    .join(' ');
}

function dialectFor(name: unknown): Dialect {
  if (name === 'postgres') return postgresDialect;
  if (name === 'mysql') return mysqlDialect;
  if (name === 'sqlite') return sqliteDialect;
  throw new ConfigError(
    `prismaDriver: options.dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(name)}`,
  );
}

const providers: Readonly<Record<string, PrismaDialectName>> = {
  postgresql: 'postgres',
  postgres: 'postgres',
  mysql: 'mysql',
  sqlite: 'sqlite',
};

/** From the provider of the client's schema (`datasource db { provider = … }`). */
function detectDialect(prisma: PrismaClientLike): PrismaDialectName {
  const client = prisma as {
    _activeProvider?: unknown;
    _engineConfig?: { activeProvider?: unknown };
  };
  let provider: unknown;
  try {
    provider = client._activeProvider ?? client._engineConfig?.activeProvider;
  } catch {
    provider = undefined;
  }
  if (typeof provider === 'string' && Object.hasOwn(providers, provider)) {
    return providers[provider]!;
  }
  if (typeof provider === 'string') {
    throw new ConfigError(
      `prismaDriver: the Prisma provider "${provider}" is not supported; use postgresql, mysql or sqlite`,
    );
  }
  throw new ConfigError(
    "prismaDriver: could not read the client's provider; pass { dialect: 'postgres' | 'mysql' | 'sqlite' }",
  );
}

function isQueryable(value: unknown): value is PrismaQueryable {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const candidate = value as Partial<PrismaQueryable>;
  return (
    typeof candidate.$queryRawUnsafe === 'function' &&
    typeof candidate.$executeRawUnsafe === 'function'
  );
}

/** A client, not a transaction: Prisma leaves `$connect`/`$disconnect` off its `tx`. */
function isClient(value: unknown): value is PrismaClientLike {
  return (
    isQueryable(value) &&
    typeof (value as Partial<PrismaClientLike>).$transaction === 'function' &&
    typeof (value as Partial<PrismaClientLike>).$disconnect === 'function'
  );
}
