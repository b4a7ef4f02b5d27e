// Every options object of the public API refuses a key it does not know, with a ConfigError that
// names it and what to write instead. Before, anything not listed was dropped without a word:
// `tasks.worker({ concurency: 100 })` ran with 10 handlers, `tasks.list({ staus: 'failed' })`
// listed every attempt. TypeScript flags such keys in object literals only.
import { afterEach, describe, expect, it } from 'vitest';
import { checkOptionNames, optionNames } from '../../src/core/options.js';
import { aesGcmEncryptor, AsyncTask, ConfigError, defineTarget } from '../../src/index.js';
import { openTelemetry } from '../../src/opentelemetry/index.js';
import { dashboard } from '../../src/dashboard/index.js';
import { betterSqlite3Driver } from '../../src/drivers/better-sqlite3.js';
import { drain, enqueued, expectEnqueued, runInline } from '../../src/testing/index.js';
import { caught, caughtSync } from '../harness/caught.js';
import { Database, type TestDatabase } from '../harness/sqlite.js';

/** Deliberately untyped, as a JavaScript caller's (or a spread object's) options are. */
type Loose = Record<string, unknown>;

function expectRefused(error: unknown, message: RegExp): void {
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toMatchObject({ code: 'CONFIG' });
  expect((error as ConfigError).message).toMatch(message);
}

const opened: TestDatabase[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) db.close();
});

function newTasks(extra: Loose = {}) {
  const db = new Database(':memory:');
  opened.push(db);
  const Mail = defineTarget(`Mail${opened.length}`, { send(_args: { to: string }) {} });
  const options = { driver: betterSqlite3Driver(db), targets: [Mail], ...extra };
  return { tasks: new AsyncTask(options), Mail };
}

describe('checkOptionNames', () => {
  const names = optionNames<{ concurrency?: number; queues?: string[] }>({
    concurrency: true,
    queues: true,
  });

  it('accepts known keys and an empty object', () => {
    expect(() => checkOptionNames({ concurrency: 1, queues: [] }, names, 'x')).not.toThrow();
    expect(() => checkOptionNames({}, names, 'x')).not.toThrow();
  });

  it('names every unknown key, the nearest known one (case aside, two edits at most), and the list', () => {
    expectRefused(
      caughtSync(() => checkOptionNames({ concurency: 1, Queues: [], zzz: 1 }, names, 'worker')),
      /^worker: unknown option\(s\) concurency \(did you mean concurrency\?\), Queues \(did you mean queues\?\), zzz; the options are concurrency, queues$/,
    );
  });

  it('counts inherited enumerable keys, which destructuring reads too', () => {
    const inherited = Object.create({ concurency: 5 }) as Loose;
    expectRefused(
      caughtSync(() => checkOptionNames(inherited, names, 'worker')),
      /concurency/,
    );
  });

  it('refuses a value that is not an object', () => {
    for (const value of [null, 5, 'fast', [1]]) {
      expectRefused(
        caughtSync(() => checkOptionNames(value, names, 'worker')),
        /^worker: options must be an object, got /,
      );
    }
  });
});

describe('the public API refuses options it does not know', () => {
  it('new AsyncTask, and its defaults', () => {
    expectRefused(
      caughtSync(() => newTasks({ retension: false })),
      /^new AsyncTask: unknown option\(s\) retension \(did you mean retention\?\)/,
    );
    expectRefused(
      caughtSync(() => newTasks({ defaults: { maxAttempt: 3 } })),
      /^new AsyncTask: defaults: unknown option\(s\) maxAttempt \(did you mean maxAttempts\?\)/,
    );
  });

  it('worker options and stop options', async () => {
    const { tasks } = newTasks();
    expectRefused(
      caughtSync(() => tasks.worker({ concurency: 100 } as Loose)),
      /^worker: unknown option\(s\) concurency \(did you mean concurrency\?\)/,
    );
    // A queue entry with a typo, or none, capped the queue at one handler without a word.
    expectRefused(
      caughtSync(() => tasks.worker({ queues: [{ name: 'm', concurency: 2 }] } as Loose)),
      /^worker: queues entry 'm': unknown option\(s\) concurency \(did you mean concurrency\?\)/,
    );
    expectRefused(
      caughtSync(() => tasks.worker({ queues: [{ name: 'm' }] } as Loose)),
      /^worker: queues entry 'm' has no concurrency; give it one, or pass 'm' alone/,
    );
    // The last entry's cap won, without a word.
    expectRefused(
      caughtSync(() => tasks.worker({ queues: ['m', { name: 'm', concurrency: 2 }] })),
      /^worker: queues lists 'm' twice; list each queue once$/,
    );
    expectRefused(
      caughtSync(() => tasks.worker({ queues: [null] } as Loose)),
      /^worker: queues holds null; each entry is a queue name or \{ name, concurrency \}/,
    );
    const worker = tasks.worker();
    expectRefused(
      caughtSync(() => worker.stop({ timeout: 5 } as Loose)),
      /^worker.stop: unknown option\(s\) timeout \(did you mean timeoutMs\?\)/,
    );
    await worker.stop();
  });

  it('list, prune and runDue, before they read or write anything', async () => {
    const { tasks } = newTasks();
    await tasks.migrate();
    expectRefused(
      await caught(tasks.list({ staus: 'failed' } as Loose)),
      /^list: unknown option\(s\) staus \(did you mean status\?\)/,
    );
    expectRefused(
      await caught(tasks.prune({ olderThan: new Date(), batch: 10 } as never)),
      /^prune: unknown option\(s\) batch; the options are olderThan, batchSize, onProgress$/,
    );
    expectRefused(
      await caught(tasks.runDue({ queue: ['mail'] } as Loose)),
      /^runDue: unknown option\(s\) queue \(did you mean queues\?\)/,
    );
  });

  it('defineTarget, at the target and per method', () => {
    expectRefused(
      caughtSync(() => defineTarget('Typo', { run() {} }, { timeout: 5 } as Loose)),
      /^defineTarget\('Typo'\): unknown option\(s\) timeout \(did you mean timeoutMs\?\); the options are maxAttempts, backoff, queue, priority, timeoutMs, methods$/,
    );
    expectRefused(
      caughtSync(() =>
        defineTarget('TypoMethod', { run() {} }, { methods: { run: { queu: 'x' } as Loose } }),
      ),
      /^defineTarget\('TypoMethod'\) method run: unknown option\(s\) queu \(did you mean queue\?\); the options are maxAttempts, backoff, queue, priority, timeoutMs$/,
    );
  });

  it('schedules, their entries and their enqueue options', () => {
    const db = new Database(':memory:');
    opened.push(db);
    const Report = defineTarget('Report', { nightly(_args: { day?: string }) {} });
    const build = (entry: Loose) => () =>
      new AsyncTask({
        driver: betterSqlite3Driver(db),
        targets: [Report],
        schedules: [{ name: 'nightly', cron: '0 3 * * *', method: Report.nightly, ...entry }],
      } as never);
    expectRefused(
      caughtSync(build({ args: {}, timeZone: 'Europe/Berlin' })),
      /^schedules\[0\] \('nightly'\): unknown key\(s\) timeZone \(did you mean timezone\?\)/,
    );
    expectRefused(
      caughtSync(build({ args: {}, options: { qeue: 'reports' } })),
      /^schedule 'nightly': unknown option\(s\) qeue \(did you mean queue\?\)/,
    );
  });

  it('queues and retention, as before (now with the nearest option)', () => {
    expectRefused(
      caughtSync(() => newTasks({ queues: { mail: { concurrencyy: 1 } } })),
      /^new AsyncTask: queues.mail: unknown option\(s\) concurrencyy \(did you mean concurrency\?\)/,
    );
    expectRefused(
      caughtSync(() => newTasks({ retention: { succeeded: 1000 } })),
      /^new AsyncTask: retention: unknown option\(s\) succeeded \(did you mean succeededMs\?\); the options are succeededMs, failedMs, expiredMs$/,
    );
  });

  // Both took any key (and openTelemetry any object as a provider): a typo fell back to the
  // global provider without a word, or failed at the first span with a TypeError.
  it('openTelemetry and aesGcmEncryptor', () => {
    expectRefused(
      caughtSync(() => openTelemetry({ tracerprovider: {} } as Loose)),
      /^openTelemetry: unknown option\(s\) tracerprovider \(did you mean tracerProvider\?\)/,
    );
    expectRefused(
      caughtSync(() => openTelemetry({ meterProvider: 'x' } as Loose)),
      /^openTelemetry: meterProvider must be a MeterProvider \(with getMeter\), or left out for the global one; got "x"/,
    );
    expectRefused(
      caughtSync(() => openTelemetry({ propagator: 5 } as Loose)),
      /^openTelemetry: propagator must be a TextMapPropagator \(with inject and extract\)/,
    );
    expectRefused(
      caughtSync(() => openTelemetry(null as never)),
      /^openTelemetry: options must be an object/,
    );
    // A Map's entries are not options: a tracer provider in one was silently left out.
    expectRefused(
      caughtSync(() => openTelemetry(new Map([['tracerProvider', {}]]) as never)),
      /^openTelemetry: options must be an object, got \[object Map\]/,
    );
    expect(() => openTelemetry({})).not.toThrow();
    expectRefused(
      caughtSync(() =>
        aesGcmEncryptor({ keys: { k1: Buffer.alloc(32) }, current: 'k1', curent: 'k1' } as never),
      ),
      /^aesGcmEncryptor: unknown option\(s\) curent \(did you mean current\?\); the options are keys, current$/,
    );
  });

  it('the dashboard: `readonly: true` must not leave its actions on', () => {
    const { tasks } = newTasks();
    expectRefused(
      caughtSync(() => dashboard(tasks, { allowUnauthenticated: true, readonly: true } as Loose)),
      /^dashboard: unknown option\(s\) readonly \(did you mean readOnly\?\)/,
    );
  });

  it('the testing helpers: a misspelt filter would match every attempt, and never fail', async () => {
    const { tasks, Mail } = newTasks();
    await tasks.migrate();
    const db = opened.at(-1)!;
    await tasks.enqueue(db, Mail.send, { to: 'a@example.com' });
    const filter = { arg: { to: 'b@example.com' } } as Loose;
    expectRefused(
      await caught(expectEnqueued(tasks, Mail.send, filter)),
      /^expectEnqueued: unknown option\(s\) arg \(did you mean args\?\); the options are args, where, count$/,
    );
    expectRefused(
      await caught(enqueued(tasks, Mail.send, filter)),
      /^enqueued: unknown option\(s\) arg \(did you mean args\?\); the options are args, where$/,
    );
    expectRefused(
      await caught(drain(tasks, { maxRun: 1 } as Loose)),
      /^drain: unknown option\(s\) maxRun \(did you mean maxRuns\?\)/,
    );
    expectRefused(
      caughtSync(() => runInline(tasks, { poll: 5 } as Loose)),
      /^runInline: unknown option\(s\) poll/,
    );
  });

  it('takes every option it documents', () => {
    const { tasks, Mail } = newTasks({
      table: 'mail_attempts',
      encryptors: {},
      onError: () => undefined,
      encryptedTaskErrors: 'class',
      defaults: { maxAttempts: 3, queue: 'mail', priority: 1, encryptor: null },
      retention: { succeededMs: 1000, failedMs: 2000, expiredMs: 3000 },
      queues: { mail: { concurrency: 2, keyConcurrency: 1, fairness: 'key' } },
      schema: 'managed',
    });
    expect(() =>
      tasks.worker({
        concurrency: 2,
        queues: ['mail'],
        prefetch: 4,
        batchSize: 4,
        pollIntervalMs: 100,
        pollOnly: true,
        durableClaims: false,
        leaseMs: 1000,
        heartbeatMs: 500,
        taskTimeoutMs: 1000,
        rescueIntervalMs: 100,
        flushMs: 0,
        handleSignals: false,
        id: 'w1',
      }),
    ).not.toThrow();
    expect(Mail).toBeDefined();
  });
});
