import { ConfigError } from '../../core/errors.js';
import {
  postgresJsDriver,
  type PostgresJsPendingQuery,
  type PostgresJsQueryable,
  type PostgresJsSql,
} from '../postgres-js.js';
import type { FlavourDriver } from './flavour.js';
import type { DrizzleDatabase } from './index.js';
import { hasFunction, notDrizzleTx, sessionClientOf } from './session.js';
import { throughDrizzle } from './through-drizzle.js';

/** drizzle-orm/postgres-js: the postgres.js driver's statements on the `sql` of each `tx`. */
export function postgresJsFlavour(
  db: DrizzleDatabase,
  root: unknown,
  preparedStatements: boolean,
): FlavourDriver {
  if (!isPostgresJs(root) || !hasFunction(root, 'begin') || !hasFunction(root, 'reserve')) {
    throw new ConfigError(
      'drizzleDriver: this Drizzle instance is not over the root sql of postgres.js (postgres(url)); make it with drizzle({ client: sql })',
    );
  }
  const view = drizzleSerializersView(root);
  const postgresJs = postgresJsDriver(view(root as PostgresJsSql), { preparedStatements });
  return {
    dialect: postgresJs.dialect,
    base: postgresJs,
    connection: (client) => {
      if (!isPostgresJs(client)) throw notDrizzleTx();
      return postgresJs.connection(view(client));
    },
    transaction: (fn) =>
      throughDrizzle(db, (tx) => {
        const client = sessionClientOf(tx as object);
        return fn(postgresJs.connection(view(client as PostgresJsQueryable)), tx);
      }),
    close: () => Promise.resolve(),
  };
}

const jsonOids = [114, 3802];
const textOid = 25;

/**
 * `drizzle(sql)` of drizzle-orm/postgres-js sets postgres.js's serializers for timestamps and
 * JSON on that `sql` to the identity (Drizzle formats those values itself), which every
 * transaction and reserved connection of it shares. The postgres.js driver hands Dates over as
 * they are and JSON parameters parsed, for postgres.js to serialise. So its statements go through
 * a view of each `sql` that sends Dates as ISO text and, for a JSON type whose serializer is the
 * identity, declares the parameter as text: postgres.js then sends the JSON text as it is.
 */
function drizzleSerializersView(root: unknown): <Q extends PostgresJsQueryable>(client: Q) => Q {
  const serializers =
    (root as { options?: { serializers?: Record<number, unknown> } }).options?.serializers ?? {};
  const asText = new Set(
    jsonOids.filter((oid) => {
      const serialize = serializers[oid];
      return (
        typeof serialize === 'function' && (serialize as (value: string) => unknown)('[]') === '[]'
      );
    }),
  );
  const views = new WeakMap<object, unknown>();
  const view = <Q extends PostgresJsQueryable>(client: Q): Q => {
    let wrapped = views.get(client) as Q | undefined;
    if (wrapped) return wrapped;
    const unsafe: PostgresJsQueryable['unsafe'] = (query, parameters, queryOptions) => {
      const values = parameters?.map((value) =>
        value instanceof Date ? value.toISOString() : value,
      );
      const pending = client.unsafe(query, values, queryOptions);
      if (asText.size === 0) return pending;
      const described: PostgresJsPendingQuery = {
        then: (onFulfilled, onRejected) => pending.then(onFulfilled, onRejected),
        describe: () =>
          pending.describe().then((description) => ({
            ...description,
            types: description.types.map((oid) => (asText.has(oid) ? textOid : oid)),
          })),
      };
      return described;
    };
    wrapped = new Proxy(client, {
      get(target, key) {
        if (key === 'unsafe') return unsafe;
        if (key === 'reserve') {
          return async () => view(await (target as unknown as PostgresJsSql).reserve());
        }
        return Reflect.get(target, key) as unknown;
      },
    });
    views.set(client, wrapped);
    return wrapped;
  };
  return view;
}

export function isPostgresJs(value: unknown): value is PostgresJsQueryable {
  return (
    typeof value === 'function' && typeof (value as { unsafe?: unknown }).unsafe === 'function'
  );
}
