import { createHash } from 'node:crypto';
import type { TableName } from '../../seam/driver.js';
import { statementBinder, type BoundStatement } from '../statements.js';
import * as cancelQueries from './cancel-queries.js';
import * as dashboardQueries from './dashboard-queries.js';
import * as flowQueries from './flow-queries.js';
import * as keyWalkQueries from './key-walk-queries.js';
import * as queries from './queries.js';
import * as queueClaimQueries from './queue-claim-queries.js';
import * as runQueries from './run-queries.js';
import * as workerQueries from './worker-queries.js';

const statements = {
  ...queries,
  ...queueClaimQueries,
  ...flowQueries,
  ...keyWalkQueries,
  ...cancelQueries,
  ...workerQueries,
  ...dashboardQueries,
  ...runQueries,
};
export type StatementName = keyof typeof statements;
export type MysqlStatements = Readonly<Record<StatementName, BoundStatement>>;

/** `name` or `database`.`name`: a schema is a database in MySQL. Parts are validated identifiers. */
export function quoteTable(table: TableName): string {
  return table.schema === null ? `\`${table.name}\`` : `\`${table.schema}\`.\`${table.name}\``;
}

/**
 * A table derived from the attempts table's name: `<name><suffix>`, or, where that would pass
 * MySQL's 64-character identifiers, the name cut short with a hash of the whole.
 */
function derivedTable(table: TableName, suffix: string): TableName {
  const name =
    table.name.length + suffix.length <= 64
      ? `${table.name}${suffix}`
      : `${table.name.slice(0, 47 - suffix.length)}${suffix}_${createHash('sha1').update(table.name).digest('hex').slice(0, 12)}`;
  return { schema: table.schema, name };
}

/** The lock rows of flow control (migration 0004): `<name>_flow`. */
export function flowTable(table: TableName): TableName {
  return derivedTable(table, '_flow');
}

/** The starts of rate-limited queues (migration 0004): `<name>_starts`. */
export function startsTable(table: TableName): TableName {
  return derivedTable(table, '_starts');
}

/** The registry of live workers (migration 0005): `<name>_workers`. */
export function workersTable(table: TableName): TableName {
  return derivedTable(table, '_workers');
}

/**
 * The procedure enqueueing from SQL (migration 0007): `<name>_enqueue`, shortened like the tables
 * above where that passes 64 characters, MySQL's limit on routine names too.
 */
export function enqueueProcedure(table: TableName): TableName {
  return derivedTable(table, '_enqueue');
}

/** Fills the table names into every statement, once per table. */
export const bindStatements: (table: TableName) => MysqlStatements = statementBinder(
  'async_task_mysql_',
  statements,
  (table) => ({
    '{{table}}': quoteTable(table),
    '{{flow}}': quoteTable(flowTable(table)),
    '{{starts}}': quoteTable(startsTable(table)),
    '{{workers}}': quoteTable(workersTable(table)),
  }),
);
