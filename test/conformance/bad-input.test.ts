// Bad input gets a typed error at the call that received it, and nothing is written.
import { describe, expect, it } from 'vitest';
import {
  AsyncTask,
  ConfigError,
  SerializationError,
  UnknownTargetError,
  aesGcmEncryptor,
  defineTarget,
  type AsyncTaskError,
  type TaskMethod,
} from '../../src/index.js';
import { caughtSync } from '../harness/caught.js';
import { fixtures } from '../harness/dialects.js';
import type { Harness } from '../harness/fixture.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

class Money {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}
}

/** Deliberately loose, so each bad value reaches the runtime checks. */
type AnyArgs = Record<string, unknown>;

function shopTarget() {
  return defineTarget('Shop', {
    order(_args: AnyArgs) {},
  });
}

const circular: AnyArgs = { name: 'loop' };
circular['self'] = { parent: circular };

const badArgs: readonly [label: string, args: AnyArgs, path: string][] = [
  ['a bigint', { id: 10n }, 'args.id'],
  ['a function', { callback: () => 1 }, 'args.callback'],
  ['a Date', { at: new Date(0) }, 'args.at'],
  ['a circular reference', circular, 'args.self.parent'],
  ['NaN', { total: Number.NaN }, 'args.total'],
  [
    'a class instance deep inside',
    {
      items: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: new Money(4, 'EUR') }],
    },
    'args.items[3].price',
  ],
];

/** Asserts the call threw synchronously an error of `type` with `code`; returns it. */
function expectThrown<E extends AsyncTaskError>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E,
  code: string,
): E {
  const error = caughtSync(fn);
  expect(error).toBeInstanceOf(type);
  expect(error).toMatchObject({ code, name: type.name });
  return error as E;
}

/** Runs `fn` in a committed transaction and checks the table did not change. */
async function expectNothingWritten(harness: Harness, fn: (tx: unknown) => void): Promise<void> {
  const before = await harness.countAttempts();
  await harness.transaction(async (tx) => {
    fn(tx);
    await Promise.resolve();
  });
  expect(await harness.countAttempts()).toBe(before);
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    for (const [label, args, path] of badArgs) {
      it(`refuses args with ${label} (SerializationError at ${path})`, async () => {
        const shop = shopTarget();
        const tasks = await migratedTasks(harness(), { targets: [shop] });
        await tasks.enqueue(harness().pool, shop.order, { fine: true });

        await expectNothingWritten(harness(), (tx) => {
          const error = expectThrown(
            () => tasks.enqueue(tx, shop.order, args),
            SerializationError,
            'SERIALIZATION',
          );
          expect(error.path).toBe(path);
          expect(error.message.startsWith(`enqueue: ${path} `)).toBe(true);
        });
        expect(await harness().countAttempts()).toBe(1);
      });
    }

    it('refuses a whole enqueueMany batch when item 2 is bad, writing none of it', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });

      await expectNothingWritten(harness(), (tx) => {
        const error = expectThrown(
          () =>
            tasks.enqueueMany(tx, [
              { method: shop.order, args: { n: 0 } },
              { method: shop.order, args: { n: 1 } },
              { method: shop.order, args: { n: 2, at: new Date() } },
              { method: shop.order, args: { n: 3 } },
            ]),
          SerializationError,
          'SERIALIZATION',
        );
        expect(error.path).toBe('args.at');
        expect(error.message.startsWith('enqueueMany: item 2: args.at ')).toBe(true);
      });
      await expectNothingWritten(harness(), (tx) => {
        expectThrown(
          () =>
            tasks.enqueueMany(tx, [
              { method: shop.order, args: { n: 0 } },
              { method: shop.order, args: { n: 1 } },
              { method: shop.order, args: { n: 2 }, options: { priority: 1e9 } },
            ]),
          ConfigError,
          'CONFIG',
        );
      });
      expect(await harness().countAttempts()).toBe(0);
    });

    it('refuses an enqueue option it does not know (a typo, another queue’s name) before writing', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      // Not object literals: TypeScript flags extra keys only there, and JavaScript nowhere.
      const later: Record<string, unknown> = { runAt: new Date(Date.now() + 3_600_000) };
      const typo: Record<string, unknown> = { queue: 'mail', priorty: 5 };
      await expectNothingWritten(harness(), (tx) => {
        const error = expectThrown(
          () => tasks.enqueue(tx, shop.order, { n: 1 }, later),
          ConfigError,
          'CONFIG',
        );
        expect(error.message).toMatch(/^enqueue: unknown option\(s\) runAt \(use scheduledAt/);
        expect(error.message).toContain('the options are idempotenceToken, replace, scheduledAt');
        const misspelt = expectThrown(
          () => tasks.enqueue(tx, shop.order, { n: 1 }, typo),
          ConfigError,
          'CONFIG',
        );
        expect(misspelt.message).toContain('priorty (did you mean priority?)');
      });
      await expectNothingWritten(harness(), (tx) => {
        const error = expectThrown(
          () =>
            tasks.enqueueMany(tx, [
              { method: shop.order, args: { n: 0 } },
              { method: shop.order, args: { n: 1 }, option: { queue: 'mail' } } as never,
            ]),
          ConfigError,
          'CONFIG',
        );
        expect(error.message).toMatch(/^enqueueMany: item 1: unknown key\(s\) option \(did you/);
      });
      expect(await harness().countAttempts()).toBe(0);
    });

    it('refuses a method that is not from defineTarget, or whose target is not in `targets`', async () => {
      const shop = shopTarget();
      const elsewhere = defineTarget('Elsewhere', { run(_args: AnyArgs) {} });
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      const plainFunction = (_args: AnyArgs): void => undefined;
      const lookalike = { order: (_args: AnyArgs): void => undefined };

      // A plain function does not compile as a method (TaskMethod's brand); JavaScript callers,
      // and the casts here, reach the run-time check.
      const methods = [
        plainFunction,
        lookalike.order,
        elsewhere.run,
      ] as unknown as TaskMethod<AnyArgs>[];

      await expectNothingWritten(harness(), (tx) => {
        for (const method of methods) {
          expectThrown(() => tasks.enqueue(tx, method, {}), UnknownTargetError, 'UNKNOWN_TARGET');
        }
        expectThrown(
          () =>
            tasks.enqueueMany(tx, [
              { method: shop.order, args: {} },
              { method: elsewhere.run, args: {} },
            ]),
          UnknownTargetError,
          'UNKNOWN_TARGET',
        );
      });
    });

    it('refuses bad options with ConfigError', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [shop],
        encryptors: { aes: aesGcmEncryptor({ keys: { k: Buffer.alloc(32, 1) }, current: 'k' }) },
      });
      const badOptions: readonly [string, Parameters<typeof tasks.enqueue>[3]][] = [
        ['an unknown encryptor', { encryptor: 'nope' as 'aes' }],
        ['an invalid queue', { queue: 'has spaces' }],
        ['an empty queue', { queue: '' }],
        ['priority 1e9', { priority: 1e9 }],
        ['a fractional priority', { priority: 0.5 }],
        ['maxAttempts 0', { maxAttempts: 0 }],
        ['maxAttempts 1.5', { maxAttempts: 1.5 }],
        ['an invalid Date for scheduledAt', { scheduledAt: new Date(Number.NaN) }],
        ['scheduledAt that is not a Date', { scheduledAt: '2030-01-01' as unknown as Date }],
        ['an empty idempotence token', { idempotenceToken: '' }],
        ['an idempotence token of 256 characters', { idempotenceToken: 'x'.repeat(256) }],
      ];

      await expectNothingWritten(harness(), (tx) => {
        for (const [label, options] of badOptions) {
          const error = caughtSync(() => tasks.enqueue(tx, shop.order, { n: 1 }, options));
          expect(error, label).toBeInstanceOf(ConfigError);
          expect(error, label).toMatchObject({ code: 'CONFIG', name: 'ConfigError' });
        }
      });
    });

    it('refuses args nested deeper than 1,000 levels (SerializationError, not a RangeError), and stores 1,000', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      const nested = (depth: number, make: (inner: unknown) => unknown): AnyArgs => {
        let value: unknown = 1;
        for (let level = 1; level < depth; level++) value = make(value);
        return { deep: value };
      };
      await expectNothingWritten(harness(), (tx) => {
        for (const depth of [1_001, 3_000, 100_000]) {
          for (const args of [nested(depth, (v) => [v]), nested(depth, (v) => ({ a: v }))]) {
            const error = expectThrown(
              () => tasks.enqueue(tx, shop.order, args),
              SerializationError,
              'SERIALIZATION',
            );
            expect(error.message).toMatch(
              /^enqueue: args\.deep.* is nested more than 1,000 levels deep/,
            );
            expect(error.message.length).toBeLessThan(600);
          }
        }
        const error = expectThrown(
          () => tasks.enqueueMany(tx, [{ method: shop.order, args: nested(3_000, (v) => [v]) }]),
          SerializationError,
          'SERIALIZATION',
        );
        expect(error.message).toMatch(/^enqueueMany: item 0: args\.deep/);
      });
      const deepest = nested(1_000, (v) => [v]);
      const attempt = await tasks.enqueue(harness().pool, shop.order, deepest);
      expect((await tasks.get(attempt.id))?.args).toEqual(deepest);
    });

    it('refuses null or non-object options, a Symbol priority, and null batch items with ConfigError', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      type Loose = (...args: unknown[]) => unknown;
      const enqueue = tasks.enqueue.bind(tasks) as Loose;
      const enqueueMany = tasks.enqueueMany.bind(tasks) as Loose;
      await expectNothingWritten(harness(), (tx) => {
        const cases: readonly [string, () => unknown, RegExp][] = [
          [
            'null options',
            () => enqueue(tx, shop.order, {}, null),
            /^enqueue: options must be an object/,
          ],
          [
            'string options',
            () => enqueue(tx, shop.order, {}, 'orders'),
            /^enqueue: options must be an object/,
          ],
          [
            'a Symbol priority',
            () => enqueue(tx, shop.order, {}, { priority: Symbol('p') }),
            /priority/,
          ],
          [
            'a Symbol maxAttempts',
            () => enqueue(tx, shop.order, {}, { maxAttempts: Symbol('m') }),
            /maxAttempts/,
          ],
          ['a Symbol queue', () => enqueue(tx, shop.order, {}, { queue: Symbol('q') }), /queue/],
          [
            'a Symbol token',
            () => enqueue(tx, shop.order, {}, { idempotenceToken: Symbol('t') }),
            /idempotenceToken/,
          ],
          [
            'enqueueMany([null])',
            () => enqueueMany(tx, [null]),
            /^enqueueMany: item 0 must be an object \{ method, args, options\? \}/,
          ],
          [
            'enqueueMany([ok, 42])',
            () => enqueueMany(tx, [{ method: shop.order, args: {} }, 42]),
            /^enqueueMany: item 1 must be/,
          ],
          [
            'enqueueMany with null options',
            () => enqueueMany(tx, [{ method: shop.order, args: {}, options: null }]),
            /^enqueueMany: item 0: options must be an object/,
          ],
        ];
        for (const [label, call, message] of cases) {
          const error = caughtSync(call);
          expect(error, label).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).message, label).toMatch(message);
        }
      });
    });

    it('refuses an idempotence token with a lone surrogate before writing (it cannot be stored as UTF-8)', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      await expectNothingWritten(harness(), (tx) => {
        for (const token of ['\ud800', 'a\udfffb', 'order-\ud83d', '\udc00\ud800']) {
          const error = caughtSync(() =>
            tasks.enqueue(tx, shop.order, {}, { idempotenceToken: token }),
          );
          expect(error, JSON.stringify(token)).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).message).toContain('lone surrogate');
          expect(
            caughtSync(() =>
              tasks.enqueueMany(tx, [
                { method: shop.order, args: {}, options: { idempotenceToken: token } },
              ]),
            ),
          ).toBeInstanceOf(ConfigError);
        }
      });
      // A whole pair is fine, and the token comes back as it went in.
      const attempt = await tasks.enqueue(
        harness().pool,
        shop.order,
        {},
        { idempotenceToken: 'party-\ud83c\udf89' },
      );
      expect(attempt.idempotenceToken).toBe('party-\ud83c\udf89');
      const again = await tasks.enqueue(
        harness().pool,
        shop.order,
        {},
        { idempotenceToken: 'party-\ud83c\udf89' },
      );
      expect(again.id).toBe(attempt.id);
      expect(await harness().countAttempts()).toBe(1);
    });

    it('refuses an idempotence token or concurrency key holding NUL before writing (PostgreSQL cannot store it)', async () => {
      // Before, PostgreSQL refused the INSERT with a DatabaseError that named no value, while
      // MySQL and SQLite stored it: refused everywhere now, by the same check.
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [shop],
        queues: { keyed: { keyConcurrency: 1 } },
      });
      await expectNothingWritten(harness(), (tx) => {
        const token = expectThrown(
          () => tasks.enqueue(tx, shop.order, {}, { idempotenceToken: 'order-\u00007' }),
          ConfigError,
          'CONFIG',
        );
        expect(token.message).toMatch(/^enqueue: idempotenceToken contains NUL/);
        const key = expectThrown(
          () =>
            tasks.enqueueMany(tx, [
              {
                method: shop.order,
                args: {},
                options: { queue: 'keyed', concurrencyKey: 'customer\u00001' },
              },
            ]),
          ConfigError,
          'CONFIG',
        );
        expect(key.message).toMatch(/^enqueueMany: item 0: concurrencyKey contains NUL/);
      });
      expect(await harness().countAttempts()).toBe(0);
    });

    it('counts an idempotence token and a concurrency key in characters, as the databases do: 255 emoji are stored, 256 refused', async () => {
      // Before, a token or key was measured in UTF-16 units: 128 emoji were refused though every
      // database (and the SQL enqueue function) holds 255 characters, and a trigger's token could
      // not be enqueued again from JavaScript.
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [shop],
        queues: { keyed: { keyConcurrency: 1 } },
      });
      const longest = '😀'.repeat(255);
      const options = { queue: 'keyed', idempotenceToken: longest, concurrencyKey: longest };
      const attempt = await tasks.enqueue(harness().pool, shop.order, { n: 1 }, options);
      expect(await tasks.get(attempt.id)).toMatchObject({ idempotenceToken: longest });
      const again = await tasks.enqueue(harness().pool, shop.order, { n: 2 }, options);
      expect(again.id).toBe(attempt.id);
      await expectNothingWritten(harness(), (tx) => {
        for (const tooLong of [
          { queue: 'keyed', idempotenceToken: `${longest}😀` },
          { queue: 'keyed', concurrencyKey: `${longest}x` },
        ]) {
          const error = caughtSync(() => tasks.enqueue(tx, shop.order, { n: 3 }, tooLong));
          expect(error).toMatchObject({ code: 'CONFIG', name: 'ConfigError' });
          expect((error as Error).message).toMatch(/must be a string of 1-255 characters/);
        }
      });
    });

    it('refuses something that is not a transaction of this driver as the first argument, with ConfigError', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      for (const tx of [{}, 42, 'tx', true, { query: 1 }, [] as unknown[]]) {
        for (const call of [
          () => tasks.enqueue(tx, shop.order, {}),
          () => tasks.enqueueMany(tx, [{ method: shop.order, args: {} }]),
        ]) {
          const error = caughtSync(call);
          expect(error, JSON.stringify(tx)).toBeInstanceOf(ConfigError);
          expect((error as ConfigError).message, JSON.stringify(tx)).toMatch(
            /\bpass (a|an|the|your)\b/,
          );
        }
      }
      expect(await harness().countAttempts()).toBe(0);
    });

    it('refuses list options with ConfigError', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      for (const options of [
        { limit: 0 },
        { limit: 1001 },
        { before: 'abc' },
        { status: 'done' as 'failed' },
      ]) {
        const error = await tasks.list(options).catch((e: unknown) => e);
        expect(error, JSON.stringify(options)).toBeInstanceOf(ConfigError);
      }
    });

    it('refuses runDue options with ConfigError', async () => {
      const shop = shopTarget();
      const tasks = await migratedTasks(harness(), { targets: [shop] });
      await tasks.enqueue(harness().pool, shop.order, {});
      for (const options of [
        { limit: 0 },
        { concurrency: 0 },
        { leaseMs: -1 },
        { queues: ['a b'] },
      ]) {
        const error = await tasks.runDue(options).catch((e: unknown) => e);
        expect(error, JSON.stringify(options)).toBeInstanceOf(ConfigError);
      }
      expect(await tasks.get((await tasks.list({}))[0]!.id)).toMatchObject({
        status: 'pending',
        numAttempts: 0,
      });
    });

    it('refuses unsafe table names when the AsyncTask is constructed', () => {
      const shop = shopTarget();
      const longPart = 'a'.repeat(64);
      for (const table of [
        'x; DROP TABLE y',
        'a"b',
        'a.b.c',
        longPart,
        `schema.${longPart}`,
        '',
        '.name',
        'schema.',
        '1starts_with_digit',
        'white space',
        "quote'",
      ]) {
        const error = caughtSync(
          () => new AsyncTask({ driver: harness().driver, table, targets: [shop] }),
        );
        expect(error, table).toBeInstanceOf(ConfigError);
        expect(error, table).toMatchObject({ code: 'CONFIG' });
      }
    });

    // PostgreSQL cuts identifiers at 63 bytes, so `<name>_due_idx` and `<name>_lease_idx` of a
    // 63-character name were one index and migrate() failed; names are now refused up front.
    const longestName = { postgres: 44, mysql: 63, sqlite: 63 }[fixture.dialect];
    it(`refuses a table name longer than ${longestName} characters, and migrates one of ${longestName}`, async () => {
      const shop = shopTarget();
      const schema = harness().table.includes('.') ? `${harness().table.split('.')[0]!}.` : '';
      for (const length of [longestName + 1, 63].filter((n) => n > longestName && n <= 63)) {
        const table = `${schema}${'t'.repeat(length)}`;
        const error = caughtSync(
          () => new AsyncTask({ driver: harness().driver, table, targets: [shop] }),
        );
        expect(error, table).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).message).toContain(`at most ${longestName} characters`);
      }
      const table = `${schema}${'t'.repeat(longestName - 1)}x`;
      const tasks = new AsyncTask({ driver: harness().driver, table, targets: [shop] });
      expect(tasks.table).toBe(table);
      await tasks.migrate();
      await tasks.migrate();
      const attempt = await tasks.enqueue(harness().pool, shop.order, { n: 1 });
      expect(await tasks.runDue({})).toMatchObject({ succeeded: 1 });
      expect(await tasks.get(attempt.id)).toMatchObject({ status: 'succeeded' });
    });

    it('refuses bad constructor options with ConfigError', () => {
      const shop = shopTarget();
      const driver = harness().driver;
      const cases: readonly [string, () => unknown][] = [
        ['a target not from defineTarget', () => new AsyncTask({ driver, targets: [{} as never] })],
        [
          'two targets with one name',
          () => new AsyncTask({ driver, targets: [shop, defineTarget('Shop', { x() {} })] }),
        ],
        [
          'an unknown defaults.encryptor',
          () =>
            new AsyncTask({ driver, targets: [shop], defaults: { encryptor: 'nope' as never } }),
        ],
        [
          'defaults.maxAttempts 0',
          () => new AsyncTask({ driver, targets: [shop], defaults: { maxAttempts: 0 } }),
        ],
        [
          'onError not a function',
          () => new AsyncTask({ driver, targets: [shop], onError: 1 as never }),
        ],
      ];
      for (const [label, construct] of cases) {
        expect(caughtSync(construct), label).toBeInstanceOf(ConfigError);
      }
    });
  });
}
