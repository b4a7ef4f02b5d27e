import type { DataSource, EntityManager } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import type { Driver } from '../../seam/driver.js';
import { callbackMysqlConnections } from '../internal/mysql2-connections.js';
import type { NativeConnections } from '../internal/native-connections.js';
import type { TypeormDialectName, TypeormDriverOptions } from './index.js';
import { postgresNative } from './postgres.js';
import { sqliteNative } from './sqlite.js';

/** How async-task runs statements on the native connections TypeORM holds for one family. */
export interface Native extends NativeConnections {
  /** SQLite: the worker side, on a connection of its own (see `sqliteNative`). */
  readonly worker?: Pick<Driver<unknown, EntityManager>, 'run' | 'session' | 'transaction'>;
  close(): Promise<void>;
}

export function nativeFor(
  dialect: TypeormDialectName,
  dataSource: DataSource,
  options: TypeormDriverOptions,
): Native {
  switch (dialect) {
    case 'postgres':
      return postgresNative(dataSource, options.preparedStatements ?? true);
    case 'mysql':
      // TypeORM holds callback-style connections (mysql2's, or mysql's in 0.3).
      return { ...callbackMysqlConnections, close: async () => {} };
    case 'sqlite':
      return sqliteNative(dataSource);
    default:
      throw new ConfigError(
        `typeormDriver: dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(dialect)}`,
      );
  }
}
