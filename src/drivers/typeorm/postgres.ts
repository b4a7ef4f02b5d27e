import type { DataSource } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import { postgresDialect } from '../../dialects/postgres/index.js';
import type { Unlisten } from '../../seam/driver.js';
import type { SqlConnection } from '../../seam/sql-connection.js';
import { pgDriver, type PgPool, type PgQueryable } from '../pg.js';
import { rollback, type Native } from './native.js';

/** PostgreSQL: the pg driver's statements on the `PoolClient`s of TypeORM's pool. */
export function postgresNative(dataSource: DataSource, preparedStatements: boolean): Native {
  // pgDriver runs the statements exactly as on its own pool's clients; its pool, TypeORM's,
  // is only asked for LISTEN connections.
  const pool: PgPool = {
    get idleCount() {
      return pgPoolOf(dataSource).idleCount;
    },
    connect: () => pgPoolOf(dataSource).connect(),
    query: (config) => pgPoolOf(dataSource).query(config),
  };
  const pg = pgDriver(pool, { preparedStatements });
  const wrap = (client: unknown): SqlConnection => pg.connection(client as PgQueryable);
  return {
    dialect: postgresDialect,
    wrap,
    endTransaction: async (client) => {
      await wrap(client).query(rollback, []);
    },
    listen: (channel, onNotify, onError): Promise<Unlisten> =>
      pg.listen!(channel, onNotify, onError),
    close: async () => {},
  };
}

/** TypeORM's pg `Pool`: `driver.master` of its PostgresDriver (1.1, 0.3.20), set by `initialize()`. */
function pgPoolOf(dataSource: DataSource): PgPool {
  const pool = (dataSource.driver as unknown as { master?: PgPool }).master;
  if (!pool) {
    throw new ConfigError(
      'typeormDriver: the DataSource has no PostgreSQL pool; await dataSource.initialize() first',
    );
  }
  return pool;
}
