import { ConfigError } from '../core/errors.js';
import type { Dialect, Driver } from '../seam/driver.js';
import type { SqlConnection, SqlResult } from '../seam/sql-connection.js';
import { asDatabaseError, separatingErrors, translated } from './internal/client-errors.js';
import { dialectNamed, isDialectName } from './internal/dialect-names.js';
import { withSqlTransactions } from './internal/sql-transaction.js';
import { TransactionHolder } from './internal/transaction-holder.js';

/**
 * A compiled raw query, shaped like Kysely's `CompiledQuery.raw(sql, parameters)`: Kysely's
 * drivers send `sql` and `parameters` to the native client as they are.
 */
export interface KyselyCompiledQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly query: {
    readonly kind: 'RawNode';
    readonly sqlFragments: readonly string[];
    readonly parameters: readonly never[];
  };
  readonly queryId: { readonly queryId: string };
}

/** The part of Kysely's `QueryResult` async-task reads. */
export interface KyselyQueryResult {
  readonly rows: readonly unknown[];
  readonly numAffectedRows?: bigint;
}

/** The part of `Kysely<DB>`, `Transaction<DB>` and `ControlledTransaction<DB>` that runs SQL. */
export interface KyselyExecutable {
  executeQuery(query: KyselyCompiledQuery): Promise<KyselyQueryResult>;
}

/**
 * What `enqueue` accepts: the `trx` of `db.transaction().execute(async (trx) => …)` (the normal
 * case), a controlled transaction or savepoint, or the `Kysely` instance itself.
 */
export interface KyselyQueryable extends KyselyExecutable {
  /** Queries run without the instance's plugins, so a result-transforming plugin never sees them. */
  withoutPlugins(): KyselyExecutable;
}

/** The part of Kysely's dialect adapter used to recognise the database. */
export interface KyselyAdapter {
  readonly supportsReturning: boolean;
  readonly supportsTransactionalDdl: boolean;
  readonly supportsOutput?: boolean;
}

/** The part of a `Kysely<DB>` instance async-task uses. */
export interface KyselyDatabase extends KyselyQueryable {
  getExecutor(): { readonly adapter: KyselyAdapter };
  connection(): { execute<T>(callback: (db: KyselyQueryable) => Promise<T>): Promise<T> };
  transaction(): { execute<T>(callback: (trx: KyselyQueryable) => Promise<T>): Promise<T> };
}

/** The transaction type of a Kysely instance: `Transaction<DB>` for a `Kysely<DB>`. */
export type KyselyTransactionOf<Db extends KyselyDatabase> = Parameters<
  Parameters<ReturnType<Db['transaction']>['execute']>[0]
>[0];

export interface KyselyDriverOptions {
  /**
   * The database family behind the Kysely instance. Detected from its dialect adapter
   * (`PostgresAdapter`, `MysqlAdapter` or `SqliteAdapter`, a subclass, or an adapter with the same
   * capabilities); set it for a third-party dialect that cannot be recognised.
   * @defaultValue detected
   */
  readonly dialect?: 'postgres' | 'mysql' | 'sqlite';
}

/**
 * The driver for Kysely (0.28). Give it your `Kysely<DB>` instance; `enqueue` accepts the `trx`
 * of `db.transaction().execute(async (trx) => …)` (the normal case), a `db.startTransaction()`
 * controlled transaction or one of its savepoints, or `db` itself for an enqueue outside any
 * transaction. Each statement runs through Kysely's own executor as a raw compiled query (without
 * plugins), so the SQL reaches Kysely's driver (pg, mysql2, …) as written.
 *
 * The database family is detected from the instance's dialect adapter, or forced with
 * `options.dialect`. The worker side runs on `db`: `db.connection().execute` for its own
 * statements (one connection each time) and `db.transaction().execute` for a handler's
 * `ctx.transaction`, which hands the handler that `Transaction<DB>`.
 *
 * Kysely has no LISTEN: workers on this driver poll (`pollIntervalMs`), even on PostgreSQL.
 * A `Transaction` cannot open another transaction; for a nested scope use
 * `db.startTransaction()` and `trx.savepoint(name)`: a task enqueued after a savepoint is
 * discarded by `rollbackToSavepoint(name)`, like any other row.
 *
 * On SQLite (`SqliteDialect`), Kysely runs everything on its one connection, one user at a time:
 * the worker's statements wait for your open transactions (SQLite has one writer anyway), and
 * inside `db.transaction().execute(async (trx) => …)` use `trx`, never `db`, or the call waits
 * for the transaction it is part of. Numbered `?1` placeholders are rewritten to the positional
 * `?` Kysely's SqliteDialect binds.
 *
 * @example
 * import { Kysely, PostgresDialect } from 'kysely';
 * import { kyselyDriver } from 'async-task/kysely';
 * const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
 * const tasks = new AsyncTask({ driver: kyselyDriver(db), targets: [OrderClient] });
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto('orders').values({ number: 7 }).execute();
 *   await tasks.enqueue(trx, OrderClient.fulfill, { orderNumber: 7 });
 * });
 */
export function kyselyDriver<Db extends KyselyDatabase>(
  db: Db,
  options: KyselyDriverOptions = {},
): Driver<KyselyQueryable, KyselyTransactionOf<Db>> {
  if (!isDatabase(db)) {
    throw new ConfigError(
      'kyselyDriver: pass your Kysely instance (new Kysely<DB>({ dialect })), not a transaction or a client',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('kyselyDriver: options must be an object');
  }
  const dialect = dialectFor(options.dialect ?? detect(db));
  const wrap = (tx: KyselyQueryable): SqlConnection => connectionFor(tx, dialect.name);
  // SQLite's one connection: work started inside a transaction's body (tasks.get inside
  // ctx.transaction) runs in that transaction, instead of waiting for the connection it holds.
  const held = dialect.name === 'sqlite' ? new TransactionHolder<KyselyQueryable>() : undefined;
  const onConnection = async <T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T> => {
    const holding = held?.current();
    if (holding !== undefined) return fn(wrap(holding));
    return throughKysely(dialect.name, (inner) =>
      db.connection().execute(async (conn) => {
        try {
          return await inner(() => fn(wrap(conn)));
        } catch (error) {
          // Never hand a connection back inside a transaction someone forgot to end.
          await conn
            .withoutPlugins()
            .executeQuery(raw('ROLLBACK'))
            .catch(() => undefined);
          throw error;
        }
      }),
    );
  };
  return {
    dialect,
    connection: (tx) => {
      if (!isQueryable(tx)) {
        throw new ConfigError(
          'enqueue: pass the Kysely transaction (the trx of db.transaction().execute(async (trx) => …)) or the Kysely instance',
        );
      }
      const family = handleFamily(tx);
      if (family !== undefined && family !== dialect.name) {
        throw new ConfigError(
          `enqueue: this Kysely transaction or instance runs on ${familyNames[family]}, but kyselyDriver was given a Kysely instance on ${familyNames[dialect.name]}; pass a transaction of that instance (or give this AsyncTask a driver over the instance this one comes from)`,
        );
      }
      return wrap(tx);
    },
    run: onConnection,
    session: onConnection,
    transaction: <T>(
      fn: (connection: SqlConnection, tx: KyselyTransactionOf<Db>) => Promise<T>,
    ): Promise<T> =>
      throughKysely(dialect.name, (inner) =>
        db.transaction().execute((trx) => {
          const body = (): Promise<T> => fn(wrap(trx), trx);
          return inner(held === undefined ? body : () => held.run(trx, body));
        }),
      ),
  };
}

function dialectFor(name: unknown): Dialect {
  if (isDialectName(name)) return dialectNamed(name);
  throw new ConfigError(
    `kyselyDriver: options.dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(name)}`,
  );
}

const adapterNames: Record<string, Dialect['name']> = {
  PostgresAdapter: 'postgres',
  MysqlAdapter: 'mysql',
  SqliteAdapter: 'sqlite',
};

const familyNames: Record<string, string> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL',
  sqlite: 'SQLite',
  mssql: 'SQL Server',
};

function adapterOf(handle: object): KyselyAdapter | undefined {
  try {
    const adapter = (handle as Partial<KyselyDatabase>).getExecutor?.().adapter;
    return typeof adapter === 'object' && adapter !== null ? adapter : undefined;
  } catch {
    return undefined;
  }
}

/** The family of Kysely's own adapter classes (or their subclasses); undefined for any other. */
function adapterClassFamily(adapter: KyselyAdapter): Dialect['name'] | undefined {
  for (
    let proto: unknown = Object.getPrototypeOf(adapter);
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && Object.hasOwn(adapterNames, name)) return adapterNames[name]!;
  }
  return undefined;
}

const handleFamilies = new WeakMap<KyselyAdapter, string | undefined>();

/**
 * The family of an enqueue's handle, where its adapter is one of Kysely's own: a transaction of
 * another Kysely instance, on another database family, would otherwise fail as a syntax error.
 */
function handleFamily(handle: KyselyQueryable): string | undefined {
  const adapter = adapterOf(handle);
  if (adapter === undefined) return undefined;
  if (!handleFamilies.has(adapter)) {
    // Kysely's fourth built-in family, which async-task does not speak.
    const mssql =
      adapter.supportsOutput === true && !adapter.supportsReturning ? 'mssql' : undefined;
    handleFamilies.set(adapter, adapterClassFamily(adapter) ?? mssql);
  }
  return handleFamilies.get(adapter);
}

/** The family of the instance's adapter: by class (or base class) name, else by its capabilities. */
function detect(db: KyselyDatabase): string {
  const adapter = adapterOf(db);
  if (adapter === undefined) {
    throw new ConfigError(
      "kyselyDriver: could not read the Kysely instance's dialect adapter; pass options.dialect ('postgres', 'mysql' or 'sqlite')",
    );
  }
  const named = adapterClassFamily(adapter);
  if (named !== undefined) return named;
  // Minified or look-alike adapters: Kysely's own three differ in these capabilities.
  const { supportsReturning, supportsTransactionalDdl, supportsOutput } = adapter;
  if (supportsOutput !== true) {
    if (supportsReturning && supportsTransactionalDdl) return 'postgres';
    if (supportsReturning && !supportsTransactionalDdl) return 'sqlite';
    if (!supportsReturning && !supportsTransactionalDdl) return 'mysql';
  }
  throw new ConfigError(
    "kyselyDriver: the Kysely instance's dialect is not PostgreSQL, MySQL or SQLite as far as its adapter tells; pass options.dialect ('postgres', 'mysql' or 'sqlite') if it is one of them",
  );
}

let nextQueryId = 0;

/** The equivalent of Kysely's `CompiledQuery.raw(sql, parameters)`, without importing Kysely. */
function raw(sql: string, parameters: readonly unknown[] = []): KyselyCompiledQuery {
  nextQueryId = (nextQueryId + 1) % Number.MAX_SAFE_INTEGER;
  return Object.freeze({
    sql,
    parameters: Object.freeze([...parameters]),
    query: Object.freeze({
      kind: 'RawNode' as const,
      sqlFragments: Object.freeze([sql]),
      parameters: Object.freeze([]),
    }),
    queryId: Object.freeze({ queryId: `async_task_${nextQueryId}` }),
  });
}

function connectionFor(tx: KyselyQueryable, dialect: Dialect['name']): SqlConnection {
  const executor = tx.withoutPlugins();
  return withSqlTransactions(dialect, {
    query: (statement, params) => runQuery(executor, statement.text, params, dialect),
  });
}

async function runQuery(
  executor: KyselyExecutable,
  text: string,
  params: readonly unknown[],
  dialect: Dialect['name'],
): Promise<SqlResult> {
  const result = await translated(refused[dialect], () => executor.executeQuery(raw(text, params)));
  const rows = result.rows as Record<string, unknown>[];
  return {
    rows,
    rowCount: result.numAffectedRows === undefined ? rows.length : Number(result.numAffectedRows),
  };
}

/** What a DatabaseError says before the client's message. */
const refused: Record<Dialect['name'], string> = {
  postgres: 'PostgreSQL refused the statement',
  mysql: 'MySQL refused the statement',
  sqlite: 'SQLite refused the statement',
};

/**
 * Runs `call`, which runs the caller's `fn` through `inner`: errors from `fn` pass through as
 * they are, and errors of Kysely's own (connecting, BEGIN, COMMIT) become DatabaseError.
 */
function throughKysely<T>(
  dialect: Dialect['name'],
  call: (inner: <U>(fn: () => Promise<U>) => Promise<U>) => Promise<T>,
): Promise<T> {
  return separatingErrors(call, (error) => asDatabaseError(refused[dialect], error));
}

function isQueryable(value: unknown): value is KyselyQueryable {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as KyselyQueryable).executeQuery === 'function' &&
    typeof (value as KyselyQueryable).withoutPlugins === 'function'
  );
}

function isDatabase(value: unknown): value is KyselyDatabase {
  return (
    isQueryable(value) &&
    typeof (value as KyselyDatabase).getExecutor === 'function' &&
    typeof (value as KyselyDatabase).connection === 'function' &&
    typeof (value as KyselyDatabase).transaction === 'function' &&
    (value as { isTransaction?: unknown }).isTransaction !== true
  );
}
