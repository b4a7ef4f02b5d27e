import type { DataSource } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import { pgConnections } from '../internal/pg-connections.js';
import type { PgPool } from '../pg.js';
import type { Native } from './native.js';

/**
 * PostgreSQL: statements run on the pg `PoolClient`s TypeORM's QueryRunners hold, as the pg
 * driver runs them; TypeORM's pool is only asked for LISTEN connections.
 */
export function postgresNative(dataSource: DataSource, preparedStatements: boolean): Native {
  return {
    ...pgConnections({
      preparedStatements,
      listenPool: {
        connect: () => pgPoolOf(dataSource).connect(),
        get options() {
          return pgPoolOf(dataSource).options;
        },
      },
    }),
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
