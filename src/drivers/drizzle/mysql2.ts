import { ConfigError } from '../../core/errors.js';
import { mysql2Driver, type Mysql2Pool, type Mysql2Queryable } from '../mysql2.js';
import type { FlavourDriver } from './flavour.js';
import type { DrizzleDatabase } from './index.js';
import { hasFunction, queryClient, sessionClientOf } from './session.js';
import { throughDrizzle } from './through-drizzle.js';

/** drizzle-orm/mysql2: the mysql2 driver's statements on the `PoolConnection` of each `tx`. */
export function mysql2Flavour(db: DrizzleDatabase, root: unknown): FlavourDriver {
  if (!isMysqlPool(root)) {
    throw new ConfigError(
      'drizzleDriver: this Drizzle instance is over a single mysql2 connection; make it over a pool (drizzle({ client: mysql.createPool({ uri }) })) so workers can take connections of their own',
    );
  }
  const mysql = mysql2Driver(root);
  return {
    dialect: mysql.dialect,
    base: mysql,
    connection: (client) => mysql.connection(queryClient<Mysql2Queryable>(client)),
    transaction: (fn) =>
      throughDrizzle(db, (tx) =>
        fn(mysql.connection(sessionClientOf(tx as object) as Mysql2Queryable), tx),
      ),
    close: () => Promise.resolve(),
  };
}

function isMysqlPool(value: unknown): value is Mysql2Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    hasFunction(value, 'getConnection') &&
    hasFunction(value, 'query')
  );
}
