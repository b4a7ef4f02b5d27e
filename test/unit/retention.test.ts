import { afterAll, describe, expect, it } from 'vitest';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { AsyncTask, ConfigError, defineTarget, type RetentionOptions } from '../../src/index.js';
import { Pruner } from '../../src/worker/pruner.js';
import { caughtSync } from '../harness/caught.js';
import { Database, type TestDatabase } from '../harness/sqlite.js';

const day = 86_400_000;
const db = new Database(':memory:');
const Shop = defineTarget('Shop', { ship(_args: { n: number }) {} });

afterAll(() => {
  db.close();
});

function tasksWith(retention: unknown): AsyncTask<TestDatabase> {
  return new AsyncTask({
    driver: betterSqlite3Driver(db),
    targets: [Shop],
    retention: retention as false | RetentionOptions,
  });
}

describe('the retention option', () => {
  it('defaults to 1 day for succeeded, 14 days for failed and expired', () => {
    const expected = { succeededMs: day, failedMs: 14 * day, expiredMs: 14 * day };
    expect(tasksWith(undefined).runtime.retention).toEqual(expected);
    expect(tasksWith({}).runtime.retention).toEqual(expected);
  });

  it('takes each status on its own; Infinity keeps one forever, false keeps all', () => {
    expect(tasksWith({ succeededMs: 0, failedMs: Infinity }).runtime.retention).toEqual({
      succeededMs: 0,
      failedMs: null,
      expiredMs: 14 * day,
    });
    expect(tasksWith(false).runtime.retention).toBeNull();
    expect(
      tasksWith({ succeededMs: Infinity, failedMs: Infinity, expiredMs: Infinity }).runtime
        .retention,
    ).toBeNull();
  });

  it('refuses anything else with a ConfigError (code CONFIG) at construction', () => {
    const bad: [string, unknown][] = [
      ['true', true],
      ['a duration string', '1d'],
      ['null', null],
      ['an array', [day]],
      ['the spelling without Ms', { succeeded: day }],
      ['a negative age', { succeededMs: -1 }],
      ['a fraction of a millisecond', { failedMs: 1.5 }],
      ['NaN', { expiredMs: Number.NaN }],
      ['a string age', { succeededMs: '86400000' }],
      ['over a century', { failedMs: 40_000 * day }],
    ];
    for (const [label, retention] of bad) {
      const error = caughtSync(() => tasksWith(retention));
      expect(error, label).toBeInstanceOf(ConfigError);
      expect(error, label).toMatchObject({ code: 'CONFIG', name: 'ConfigError' });
      expect((error as Error).message, label).toMatch(/retention/);
    }
  });

  it('refuses bad pruner options with a ConfigError', () => {
    const { runtime } = tasksWith(undefined);
    for (const options of [
      { intervalMs: 0 },
      { batchSize: 0 },
      { batchSize: 1.5 },
      { maxBatches: -1 },
      { onError: 'log' as unknown as () => void },
    ]) {
      expect(() => new Pruner(runtime, options), JSON.stringify(options)).toThrow(ConfigError);
    }
  });
});
