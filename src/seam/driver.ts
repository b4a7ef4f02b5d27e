import type { Executor, SchemaState } from './executor.js';
import type { SqlConnection } from './sql-connection.js';

/** A validated table reference. `schema` is null for the connection's default. */
export interface TableName {
  readonly schema: string | null;
  readonly name: string;
}

/**
 * How long a table's name (the part after any schema) may be on a database, for the names derived
 * from it (indexes, functions, the migrations table) to stay distinct. `reason` finishes the
 * sentence "…because …" in the error.
 */
export interface TableNameLimit {
  readonly maxLength: number;
  readonly reason: string;
}

/** The SQL for one database family. Knows nothing of any client library. */
export interface Dialect {
  readonly name: 'postgres' | 'mysql' | 'sqlite';
  /** Null where every name the table-name pattern allows is safe. */
  readonly tableNameLimit: TableNameLimit | null;
  /** Refuses (ConfigError) a table this database cannot have, when the AsyncTask is built. */
  checkTable?(table: TableName): void;
  /** Operations bound to a connection; statements are built once per table and cached. */
  executor(connection: SqlConnection, table: TableName): Executor;
  /** Applies missing migrations, serialised across processes; returns versions applied now. */
  migrate(
    session: DriverSession,
    table: TableName,
    options: { readonly lockWaitMs: number },
  ): Promise<number[]>;
  /** What is applied, without changing anything. */
  schemaState(connection: SqlConnection, table: TableName): Promise<SchemaState>;
  /**
   * Removes the table and everything created with it (functions, triggers, bookkeeping),
   * serialised with migrate(); returns what it removed, empty when nothing was there.
   */
  uninstall(session: DriverSession, table: TableName): Promise<string[]>;
  /** Every migration as statements, for the user's own migration tool (`async-task migrations`). */
  migrationScripts(table: TableName): readonly MigrationScript[];
  /** The highest migration version this code ships. */
  readonly latestVersion: number;
  /**
   * The channel on which the schema announces newly due attempts (payload: the queue), or null
   * when the database cannot notify and workers must poll.
   */
  notifyChannel(table: TableName): string | null;
  /**
   * Whether a statement's error says it may succeed sent again as it is (a timeout, a deadlock, a
   * busy or restarting server, a broken connection), rather than that the database refuses it.
   */
  isTransient(error: unknown): boolean;
}

/** One migration as statements, for a migration tool of the user's. */
export interface MigrationScript {
  readonly version: number;
  /** The migration's slug, e.g. `create_attempts`. */
  readonly name: string;
  /** Statements that apply it, the table's schema version included. */
  readonly up: readonly string[];
  /** Statements that undo it, leaving the table at the version before (none for version 1). */
  readonly down: readonly string[];
}

/**
 * A dedicated connection for the length of `fn`, outside any transaction; for work that must
 * control its own transactions and locks (migrations).
 */
export type DriverSession = <T>(fn: (connection: SqlConnection) => Promise<T>) => Promise<T>;

/** Stops a subscription. */
export type Unlisten = () => Promise<void>;

/**
 * The adapter for one client library. `Tx` is what `enqueue` accepts (the caller's transaction
 * or pool); `HandlerTx` is what `ctx.transaction` hands a handler.
 */
export interface Driver<Tx, HandlerTx = Tx> {
  readonly dialect: Dialect;
  /** Wraps the caller's transaction (or pool) without taking ownership. */
  connection(tx: Tx): SqlConnection;
  /** Runs `fn` on the driver's own pool in a new transaction: commit on return, rollback on throw. */
  transaction<T>(fn: (connection: SqlConnection, tx: HandlerTx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one connection from the driver's pool, in autocommit mode, and gives the
   * connection back after. Executor operations that need several statements on one connection
   * (a claim on a database without RETURNING) may open their own transaction on it.
   */
  run<T>(fn: (connection: SqlConnection) => Promise<T>): Promise<T>;
  readonly session: DriverSession;
  /**
   * Present when the client can receive notifications (PostgreSQL LISTEN). `onNotify` gets the
   * payload; `onError` learns that the listening connection broke (the caller re-subscribes).
   */
  listen?(
    channel: string,
    onNotify: (payload: string) => void,
    onError: (error: Error) => void,
  ): Promise<Unlisten>;
}
