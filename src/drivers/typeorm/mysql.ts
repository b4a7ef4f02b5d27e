import { mysqlDialect } from '../../dialects/mysql/index.js';
import { callbackMysqlConnection } from '../internal/shared.js';
import { rollback, type Native } from './native.js';

/** MySQL: the mysql2 driver's statements on TypeORM's callback-style connections. */
export function mysqlNative(): Native {
  // TypeORM holds callback-style connections (mysql2's, or mysql's in 0.3).
  const wrap = callbackMysqlConnection;
  return {
    dialect: mysqlDialect,
    wrap,
    endTransaction: async (connection) => {
      await wrap(connection).query(rollback, []);
    },
    close: async () => {},
  };
}
