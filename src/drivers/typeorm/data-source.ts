import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { ConfigError } from '../../core/errors.js';
import { translated } from '../internal/client-errors.js';
import { familyAmong } from '../internal/dialect-names.js';
import type { TypeormDialectName } from './index.js';

/**
 * The native connection a QueryRunner holds: `QueryRunner.connect()` (public API in 0.3 and 1.x)
 * resolves to it — a pg `PoolClient`, a mysql2 (or mysql) callback `PoolConnection`, the
 * better-sqlite3 `Database` — taking it from the pool on first call.
 */
export function nativeConnectionOf(runner: QueryRunner): Promise<unknown> {
  return translated('could not get a connection from TypeORM', () => runner.connect());
}

/** Runs `fn` on the native connection of a new QueryRunner of `dataSource`, then releases it. */
export async function borrow<T>(
  dataSource: DataSource,
  fn: (raw: unknown) => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    return await fn(await nativeConnectionOf(runner));
  } finally {
    await runner.release().catch(() => undefined);
  }
}

const typeDialects: Readonly<Record<string, TypeormDialectName>> = {
  postgres: 'postgres',
  mysql: 'mysql',
  mariadb: 'mysql',
  'better-sqlite3': 'sqlite',
};

export function detectDialect(dataSource: DataSource): TypeormDialectName {
  const type: unknown = dataSource.options.type;
  const family = familyAmong(typeDialects, [type]);
  if (family) return family;
  throw new ConfigError(
    `typeormDriver: TypeORM's type "${String(type)}" is not supported; use 'postgres' (pg), 'mysql' or 'mariadb' (mysql2) or 'better-sqlite3', or pass { dialect: 'postgres' | 'mysql' | 'sqlite' } for a type whose connections are pg's, mysql2's or better-sqlite3's`,
  );
}

/** `manager.dataSource` in TypeORM 1.x, `manager.connection` in 0.3. */
export function dataSourceOf(manager: EntityManager): unknown {
  const owner = manager as unknown as { dataSource?: unknown; connection?: unknown };
  return owner.dataSource ?? owner.connection;
}

export function isDataSource(value: unknown): value is DataSource {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<DataSource>;
  return (
    typeof candidate.createQueryRunner === 'function' &&
    typeof candidate.transaction === 'function' &&
    typeof candidate.options === 'object' &&
    typeof candidate.driver === 'object'
  );
}

export function isEntityManager(value: unknown): value is EntityManager {
  if (typeof value !== 'object' || value === null || isDataSource(value)) return false;
  const candidate = value as Partial<EntityManager>;
  return (
    typeof candidate.transaction === 'function' &&
    typeof candidate.getRepository === 'function' &&
    typeof candidate.query === 'function'
  );
}
