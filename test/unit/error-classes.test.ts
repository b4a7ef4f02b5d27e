// Callers catch by class (`instanceof DatabaseError`), so every error async-task raises is built
// with the subclass for its code, never as a bare AsyncTaskError with a code string.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';

const src = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('error classes', () => {
  it('are never a bare AsyncTaskError where a subclass exists', () => {
    const bare = sourceFiles(src)
      .map((file) => relative(src, file).split('\\').join('/'))
      .filter((file) => readFileSync(join(src, file), 'utf8').includes('new AsyncTaskError('));
    expect(bare).toEqual([]);
  });

  it('each carry their own code and are AsyncTaskErrors', () => {
    const byCode: [api.AsyncTaskErrorCode, api.AsyncTaskError][] = [
      ['CANCELLED', new api.CancelledError('1', 'm')],
      ['CONFIG', new api.ConfigError('m')],
      ['DATABASE', new api.DatabaseError('m')],
      ['DECRYPTION', new api.DecryptionError('m')],
      ['INVALID_STATE', new api.InvalidStateError('id', null, 'm')],
      ['LEASE_LOST', new api.LeaseLostError('m')],
      ['PERMANENT', new api.PermanentError('m')],
      ['SCHEMA_OUTDATED', new api.SchemaOutdatedError('m')],
      ['SERIALIZATION', new api.SerializationError('$', 'm')],
      ['TIMEOUT', new api.TaskTimeoutError('m')],
      ['UNKNOWN_TARGET', new api.UnknownTargetError('m')],
    ];
    for (const [code, error] of byCode) {
      expect(error).toBeInstanceOf(api.AsyncTaskError);
      expect([error.code, error.name]).toEqual([code, error.constructor.name]);
    }
  });
});
