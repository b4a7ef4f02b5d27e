// What async-task reads of Drizzle's own objects: the session behind a database or transaction,
// its class names and its native client. Not public API of drizzle-orm; each use says which
// versions it was read from.
import { ConfigError } from '../../core/errors.js';
import type { Flavour } from './flavour.js';
import type { DrizzleDatabase } from './index.js';

/** `Symbol.for('drizzle:entityKind')`: every Drizzle class names itself with this static. */
const entityKind = Symbol.for('drizzle:entityKind');

/**
 * The `entityKind`s of the session's class and its base classes, nearest first (e.g.
 * `NodePgSession`, `PgSession`): a subclass that names itself still shows its Drizzle ancestry.
 */
export function sessionKindsOf(drizzle: object): string[] {
  const session = sessionOf(drizzle);
  const kinds: string[] = [];
  if (typeof session !== 'object' || session === null) return kinds;
  for (
    let type: unknown = (session as { constructor?: unknown }).constructor;
    typeof type === 'function' && type !== Object;
    type = Object.getPrototypeOf(type)
  ) {
    if (Object.hasOwn(type, entityKind)) {
      kinds.push(String((type as unknown as Record<symbol, unknown>)[entityKind]));
    }
  }
  return kinds;
}

/**
 * The Drizzle session behind a database or transaction. Not public API: PgDatabase,
 * MySqlDatabase and BaseSQLiteDatabase (and so their transactions) keep it as `session`
 * (drizzle-orm 0.36 to 0.45).
 */
export function sessionOf(drizzle: object): unknown {
  return (drizzle as { session?: unknown }).session;
}

/**
 * The native client behind a Drizzle database or transaction: its session's `client`. Not public
 * API; what it holds, per flavour (drizzle-orm 0.45 source, `<flavour>/session.js`):
 * - node-postgres (NodePgSession): the pg `Pool` for `db`; for a `tx`, the `PoolClient` its
 *   transaction checked out (nested transactions share their parent's session).
 * - postgres-js (PostgresJsSession): the root `sql` for `db`; the `sql` of `sql.begin` for a
 *   `tx`, and of `sql.savepoint` for a nested one.
 * - mysql2 (MySql2Session): the promise-API pool for `db` (Drizzle wraps a callback pool with
 *   `.promise()`; `db.$client` stays the pool you gave); the `PoolConnection` for a `tx`.
 * - better-sqlite3 (BetterSQLiteSession): the `Database`, for `db` and every `tx` alike.
 */
export function sessionClientOf(drizzle: object): unknown {
  const session = sessionOf(drizzle);
  return typeof session === 'object' && session !== null
    ? (session as { client?: unknown }).client
    : undefined;
}
/** The native client of a Drizzle `tx` that runs statements with `query` (pg, mysql2). */
export function queryClient<Client>(client: unknown): Client {
  if (typeof client !== 'object' || client === null || !hasFunction(client, 'query')) {
    throw notDrizzleTx();
  }
  return client as Client;
}

export function notDrizzleTx(): ConfigError {
  return new ConfigError(
    'enqueue: this Drizzle object has no native connection of the kind its driver uses; pass the tx of db.transaction(async (tx) => …) or the Drizzle db itself',
  );
}

/** How a transaction is opened on this flavour: better-sqlite3's callback must not be async. */
export function transactionForm(flavour: Flavour): string {
  return flavour === 'better-sqlite3'
    ? 'db.transaction((tx) => …) (a synchronous callback on better-sqlite3: `void tasks.enqueue(tx, …)` inside it)'
    : 'db.transaction(async (tx) => …)';
}

export function hasFunction(value: object, name: string): boolean {
  return typeof (value as Record<string, unknown>)[name] === 'function';
}

export function isDrizzle(value: unknown): value is DrizzleDatabase {
  if (typeof value !== 'object' || value === null) return false;
  const session = sessionOf(value);
  return (
    typeof (value as { transaction?: unknown }).transaction === 'function' &&
    typeof session === 'object' &&
    session !== null &&
    'client' in session
  );
}
