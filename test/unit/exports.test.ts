import { describe, expect, it } from 'vitest';

// The public surface is a reviewed list: any change to it shows up here.
describe('public exports', () => {
  it('of async-task', async () => {
    const names = Object.keys(await import('../../src/index.js')).sort();
    expect(names).toEqual([
      'AsyncTask',
      'AsyncTaskError',
      'CancelledError',
      'ConfigError',
      'DatabaseError',
      'DecryptionError',
      'InvalidStateError',
      'LeaseLostError',
      'PermanentError',
      'SchemaOutdatedError',
      'SerializationError',
      'TaskTimeoutError',
      'UnknownTargetError',
      'Worker',
      'aesGcmEncryptor',
      'defineTarget',
      'exponentialBackoff',
    ]);
  });

  it('of async-task/testing', async () => {
    expect(Object.keys(await import('../../src/testing/index.js')).sort()).toEqual([
      'DrainLimitError',
      'EnqueuedAssertionError',
      'advanceTime',
      'drain',
      'enqueued',
      'expectEnqueued',
      'runInline',
    ]);
  });

  it('of async-task/opentelemetry', async () => {
    expect(Object.keys(await import('../../src/opentelemetry/index.js')).sort()).toEqual([
      'openTelemetry',
    ]);
  });

  it('async-task/otel is async-task/opentelemetry under the short name', async () => {
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(
      await readFile(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { exports: Record<string, unknown> };
    expect(manifest.exports['./otel']).toEqual(manifest.exports['./opentelemetry']);
  });

  it('of the driver entry points', async () => {
    expect(Object.keys(await import('../../src/drivers/pg.js')).sort()).toEqual(['pgDriver']);
    expect(Object.keys(await import('../../src/drivers/mysql2.js')).sort()).toEqual([
      'mysql2Driver',
    ]);
    expect(Object.keys(await import('../../src/drivers/better-sqlite3.js')).sort()).toEqual([
      'betterSqlite3Driver',
    ]);
    expect(Object.keys(await import('../../src/drivers/postgres-js.js')).sort()).toEqual([
      'postgresJsDriver',
    ]);
    expect(Object.keys(await import('../../src/drivers/knex.js')).sort()).toEqual(['knexDriver']);
    expect(Object.keys(await import('../../src/drivers/kysely.js')).sort()).toEqual([
      'kyselyDriver',
    ]);
    expect(Object.keys(await import('../../src/drivers/prisma/index.js')).sort()).toEqual([
      'PrismaRawQueryError',
      'prismaDriver',
    ]);
    expect(Object.keys(await import('../../src/drivers/drizzle/index.js')).sort()).toEqual([
      'drizzleDriver',
    ]);
    expect(Object.keys(await import('../../src/drivers/typeorm/index.js')).sort()).toEqual([
      'typeormDriver',
    ]);
  });
});
