import { ConfigError } from '../../core/errors.js';
import { pgDriver, type PgPool, type PgQueryable } from '../pg.js';
import type { FlavourDriver } from './flavour.js';
import type { DrizzleDatabase } from './index.js';
import { hasFunction, queryClient, sessionClientOf } from './session.js';
import { throughDrizzle } from './through-drizzle.js';

/** drizzle-orm/node-postgres: the pg driver's statements on the `PoolClient` of each `tx`. */
export function nodePostgresFlavour(
  db: DrizzleDatabase,
  root: unknown,
  preparedStatements: boolean,
): FlavourDriver {
  if (!isPgPool(root)) {
    throw new ConfigError(
      'drizzleDriver: this Drizzle instance is over a single pg Client; make it over a pg.Pool (drizzle({ client: new pg.Pool({ connectionString }) })) so workers can take connections of their own',
    );
  }
  const pg = pgDriver(root, { preparedStatements });
  return {
    dialect: pg.dialect,
    base: pg,
    connection: (client) => pg.connection(queryClient<PgQueryable>(client)),
    transaction: (fn) => {
      const guard = new ErrorGuard();
      return throughDrizzle(db, (tx) => {
        const client = sessionClientOf(tx as object);
        guard.watch(client);
        return fn(pg.connection(client as PgQueryable), tx);
      }).finally(() => guard.release());
    },
    close: () => Promise.resolve(),
  };
}

/**
 * A pg `PoolClient` checked out by Drizzle has no 'error' listener (the pool removes its own while
 * the client is out): a connection that dies while the handler's transaction is open, or while
 * Drizzle rolls it back, would be an uncaught exception. The guard listens from the handler's
 * start until `db.transaction` has settled (Drizzle has released the client by then); the failing
 * query reports the error, and the pool drops the broken client.
 */
class ErrorGuard {
  #client: PgEmitter | undefined;
  readonly #ignore = (): void => undefined;

  watch(client: unknown): void {
    const emitter = client as Partial<PgEmitter>;
    if (typeof emitter.on !== 'function' || typeof emitter.removeListener !== 'function') return;
    this.#client = emitter as PgEmitter;
    this.#client.on('error', this.#ignore);
  }

  release(): void {
    this.#client?.removeListener('error', this.#ignore);
    this.#client = undefined;
  }
}

interface PgEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

function isPgPool(value: unknown): value is PgPool {
  return (
    typeof value === 'object' &&
    value !== null &&
    hasFunction(value, 'connect') &&
    hasFunction(value, 'query') &&
    'idleCount' in value
  );
}
