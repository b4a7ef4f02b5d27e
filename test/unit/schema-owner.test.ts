// The `schema` option of new AsyncTask: checked where it is given.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { resolveSchemaOwner } from '../../src/facade/schema-check.js';
import { caughtSync } from '../harness/caught.js';

describe('schema option', () => {
  it('takes managed (the default), external, or { external: format, out }', () => {
    expect(resolveSchemaOwner(undefined)).toBe('managed');
    expect(resolveSchemaOwner('managed')).toBe('managed');
    expect(resolveSchemaOwner('external')).toBe('external');
    expect(resolveSchemaOwner({ external: 'prisma' })).toEqual({ external: 'prisma' });
    expect(resolveSchemaOwner({ external: 'knex', out: 'db/migrations' })).toEqual({
      external: 'knex',
      out: 'db/migrations',
    });
  });

  it('refuses anything else with a ConfigError that lists the choices', () => {
    for (const bad of ['auto', true, null, { external: 'flyway' }, { external: 'sql', out: ' ' }]) {
      const error = caughtSync(() => resolveSchemaOwner(bad));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(
        /schema must be 'managed', 'external' or \{ external: 'sql' \| 'knex' \| 'prisma' \| 'drizzle' \| 'typeorm'/,
      );
    }
  });
});
