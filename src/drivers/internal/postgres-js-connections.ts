// postgres.js `sql`s (root, reserved, transaction) as async-task runs them, in the
// native-connection shape (`postgresJsConnections`): statements through `sql.unsafe`, prepared
// per connection when asked, parameters typed as the server declares them (asked once per
// text), column names put back through the instance's transform; LISTEN on postgres.js's own
// listening connection.
import { ConfigError } from '../../core/errors.js';
import { postgresDialect } from '../../dialects/postgres/index.js';
import type { Unlisten } from '../../seam/driver.js';
import type { SqlResult, Statement } from '../../seam/sql-connection.js';
import type { PostgresJsQueryable, PostgresJsSql } from '../postgres-js.js';
import { asDatabaseError, databaseError } from './client-errors.js';
import type { NativeConnections } from './native-connections.js';
import { rollback, withSqlTransactions } from './sql-transaction.js';

interface ColumnTransform {
  from?: unknown;
  to?: (name: string) => string;
}

interface QueryContext {
  readonly prepare: boolean;
  /** Parameter OIDs per statement text, as the server declared them (one describe per text). */
  readonly parameterTypes: Map<string, readonly number[]>;
  readonly renameColumn: ((name: string) => string) | undefined;
}

/**
 * The `sql`s of the postgres.js instance `sql` (itself, its reserved connections, its
 * transactions) as SqlConnections. Refuses an instance whose column transform has no inverse.
 */
export function postgresJsConnections(
  sql: PostgresJsSql,
  options: { readonly preparedStatements: boolean },
): NativeConnections<PostgresJsQueryable> & Required<Pick<NativeConnections, 'listen'>> {
  const columnTransform = (sql as { options?: { transform?: { column?: ColumnTransform } } })
    .options?.transform?.column;
  if (typeof columnTransform?.from === 'function' && typeof columnTransform.to !== 'function') {
    throw new ConfigError(
      'postgresJsDriver: the sql transforms column names without an inverse (transform.column.to); use postgres.camel/snake-style transforms that have both, or none',
    );
  }
  const context: QueryContext = {
    prepare: options.preparedStatements,
    parameterTypes: new Map(),
    renameColumn: typeof columnTransform?.from === 'function' ? columnTransform.to : undefined,
  };
  const connection = (client: PostgresJsQueryable) =>
    withSqlTransactions('postgres', {
      query: (statement, params) => runQuery(client, statement, params, context),
    });
  return {
    dialect: postgresDialect,
    connection,
    endTransaction: async (client) => {
      await connection(client).query(rollback, []);
    },
    listen: (channel, onNotify, onError) => listen(sql, channel, onNotify, onError),
  };
}

const jsonTypes = new Set([114, 3802]);

async function runQuery(
  client: PostgresJsQueryable,
  statement: Statement,
  params: readonly unknown[],
  context: QueryContext,
): Promise<SqlResult> {
  const prepare = context.prepare && statement.name !== '';
  try {
    const values = await toParameters(client, statement, params, context);
    const rows = await client.unsafe(statement.text, values, { prepare });
    const rename = context.renameColumn;
    return {
      rows: rename ? rows.map((row) => renameKeys(row, rename)) : rows,
      rowCount: rows.count ?? rows.length,
    };
  } catch (error) {
    throw asDatabaseError('PostgreSQL refused the statement', error);
  }
}

/**
 * postgres.js serialises a parameter by the type the server declares for it: a JSON parameter
 * with `JSON.stringify`, which would encode the dialect's JSON text a second time. So the types
 * are asked once per statement text, and JSON text is handed over parsed. Arrays are sent as
 * array literals, which postgres.js passes through whether or not it fetched the array types.
 * Everything else (numbers, id strings, dates, null) it sends as text the server reads as the
 * declared type.
 */
async function toParameters(
  client: PostgresJsQueryable,
  statement: Statement,
  params: readonly unknown[],
  context: QueryContext,
): Promise<unknown[]> {
  if (!params.some((value) => typeof value === 'string')) return params.map(toParameter);
  let types = context.parameterTypes.get(statement.text);
  if (types === undefined) {
    types = (await client.unsafe(statement.text, [], { prepare: context.prepare }).describe())
      .types;
    context.parameterTypes.set(statement.text, types);
  }
  const declared = types;
  return params.map((value, index) =>
    typeof value === 'string' && jsonTypes.has(declared[index] ?? 0)
      ? (JSON.parse(value) as unknown)
      : toParameter(value),
  );
}

function toParameter(value: unknown): unknown {
  if (value === undefined) return null;
  if (Array.isArray(value)) return arrayLiteral(value);
  return value;
}

function arrayLiteral(values: readonly unknown[]): string {
  const items = values.map((value) => {
    if (value === null || value === undefined) return 'NULL';
    const text =
      typeof value === 'string'
        ? value
        : value instanceof Date
          ? value.toISOString()
          : JSON.stringify(value);
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  });
  return `{${items.join(',')}}`;
}

function renameKeys(
  row: Record<string, unknown>,
  rename: (name: string) => string,
): Record<string, unknown> {
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) renamed[rename(key)] = value;
  return renamed;
}

async function listen(
  sql: PostgresJsSql,
  channel: string,
  onNotify: (payload: string) => void,
  onError: (error: Error) => void,
): Promise<Unlisten> {
  let active = true;
  let subscriptions = 0;
  let meta: { unlisten(): Promise<void> };
  try {
    meta = await sql.listen(
      channel,
      (payload) => {
        if (active) onNotify(payload);
      },
      () => {
        // Called once per successful LISTEN: after the first, postgres.js has re-subscribed on a
        // new connection, and notifications sent in between are gone: wake every queue.
        subscriptions += 1;
        if (active && subscriptions > 1) onNotify('');
      },
    );
  } catch (error) {
    throw databaseError(`could not LISTEN on ${channel}`, error);
  }
  // postgres.js keeps the subscription itself (it re-issues LISTEN until it succeeds, and only
  // gives up when the sql is ended), so there is no lost subscription to report: `onError` is
  // never called.
  void onError;
  return async () => {
    if (!active) return;
    active = false;
    await meta.unlisten();
  };
}
