import { ConfigError } from '../../core/errors.js';
import type { Dialect } from '../../seam/driver.js';
import { dialectNamed, isDialectName } from '../internal/dialect-names.js';
import type { PrismaClientLike, PrismaDialectName, PrismaQueryable } from './index.js';

export function dialectFor(name: unknown): Dialect {
  if (isDialectName(name)) return dialectNamed(name);
  throw new ConfigError(
    `prismaDriver: options.dialect must be 'postgres', 'mysql' or 'sqlite', got ${String(name)}`,
  );
}

const providers: Readonly<Record<string, PrismaDialectName>> = {
  postgresql: 'postgres',
  postgres: 'postgres',
  mysql: 'mysql',
  sqlite: 'sqlite',
};

/** From the provider of the client's schema (`datasource db { provider = … }`). */
export function detectDialect(prisma: PrismaClientLike): PrismaDialectName {
  const client = prisma as {
    _activeProvider?: unknown;
    _engineConfig?: { activeProvider?: unknown };
  };
  let provider: unknown;
  try {
    provider = client._activeProvider ?? client._engineConfig?.activeProvider;
  } catch {
    provider = undefined;
  }
  if (typeof provider === 'string' && Object.hasOwn(providers, provider)) {
    return providers[provider]!;
  }
  if (typeof provider === 'string') {
    throw new ConfigError(
      `prismaDriver: the Prisma provider "${provider}" is not supported; use postgresql, mysql or sqlite`,
    );
  }
  throw new ConfigError(
    "prismaDriver: could not read the client's provider; pass { dialect: 'postgres' | 'mysql' | 'sqlite' }",
  );
}

export function isQueryable(value: unknown): value is PrismaQueryable {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const candidate = value as Partial<PrismaQueryable>;
  return (
    typeof candidate.$queryRawUnsafe === 'function' &&
    typeof candidate.$executeRawUnsafe === 'function'
  );
}

/** A client, not a transaction: Prisma leaves `$connect`/`$disconnect` off its `tx`. */
export function isClient(value: unknown): value is PrismaClientLike {
  return (
    isQueryable(value) &&
    typeof (value as Partial<PrismaClientLike>).$transaction === 'function' &&
    typeof (value as Partial<PrismaClientLike>).$disconnect === 'function'
  );
}
