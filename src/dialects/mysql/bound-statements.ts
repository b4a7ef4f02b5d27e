import { createHash } from 'node:crypto';
import type { TableName } from '../../seam/driver.js';
import { statementBinder, type BoundStatement } from '../statements.js';
import * as cancelQueries from './cancel-queries.js';
import * as flowQueries from './flow-queries.js';
import * as queries from './queries.js';

const statements = { ...queries, ...flowQueries, ...cancelQueries };
export type StatementName = keyof typeof statements;
export type MysqlStatements = Readonly<Record<StatementName, BoundStatement>>;

/** `name` or `database`.`name`: a schema is a database in MySQL. Parts are validated identifiers. */
export function quoteTable(table: TableName): string {
  return table.schema === null ? `\`${table.name}\`` : `\`${table.schema}\`.\`${table.name}\``;
}

/**
 * The lock rows of flow control (migration 0004): `<name>_flow`, or, where that would pass
 * MySQL's 64-character identifiers, the name cut short with a hash of the whole.
 */
export function flowTable(table: TableName): TableName {
  const name =
    table.name.length <= 59
      ? `${table.name}_flow`
      : `${table.name.slice(0, 42)}_flow_${createHash('sha1').update(table.name).digest('hex').slice(0, 12)}`;
  return { schema: table.schema, name };
}

/** Fills the table names into every statement, once per table. */
export const bindStatements: (table: TableName) => MysqlStatements = statementBinder(
  'async_task_mysql_',
  statements,
  (table) => ({ '{{table}}': quoteTable(table), '{{flow}}': quoteTable(flowTable(table)) }),
);
