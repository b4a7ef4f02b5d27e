// Guarantee 5: arguments encrypted at rest never reach the table, `get`/`list` or `lastError` in
// clear; the handler gets them decrypted; keys rotate.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  SerializationError,
  aesGcmEncryptor,
  defineTarget,
  type Encryptor,
  type TaskContext,
} from '../../src/index.js';
import { caughtSync } from '../harness/caught.js';
import { coveredBy, fixtures, itOnNativeDrivers } from '../harness/dialects.js';
import { itRequires } from '../harness/it-requires.js';
import { migratedTasks } from '../harness/new-tasks.js';
import { useHarness } from '../harness/use-harness.js';

interface PaymentArgs {
  cardNumber: string;
  holder: string;
  cents: number;
}

const secretArgs: PaymentArgs = {
  cardNumber: '4111111111111111',
  holder: 'Zoë Plaintext-Canary',
  cents: 123456789,
};
/**
 * Substrings of the arguments, each of which must never appear at rest. Each is long enough that
 * random base64 ciphertext does not contain it by chance.
 */
const plaintextPieces = [
  '4111111111111111',
  '411111',
  'Plaintext-Canary',
  'Zoë',
  '123456789',
  'cardNumber',
  'holder',
  'cents',
];

function expectNoPlaintext(text: string | null | undefined): void {
  expect(text).toBeTypeOf('string');
  for (const piece of plaintextPieces) expect(text).not.toContain(piece);
}

function paymentsTarget(behaviour?: (args: PaymentArgs, ctx: TaskContext) => void) {
  const received: PaymentArgs[] = [];
  const target = defineTarget('Payments', {
    charge(args: PaymentArgs, ctx: TaskContext) {
      received.push(args);
      behaviour?.(args, ctx);
    },
  });
  return { target, received };
}

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('stores no plaintext, withholds args from get/list, and decrypts for the handler', async () => {
      const { target, received } = paymentsTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
      });

      const enqueued = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.charge, secretArgs, { encryptor: 'aes' }),
      );

      expect(enqueued.encryptor).toBe('aes');
      expect(enqueued.args).toBeUndefined();
      expectNoPlaintext(await harness().rawMethodArgs(enqueued.id));
      expect((await tasks.get(enqueued.id))?.args).toBeUndefined();
      const listed = await tasks.list({});
      expect(listed).toHaveLength(1);
      expect(listed[0]?.args).toBeUndefined();
      expect(JSON.stringify(listed)).not.toContain('4111');

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });
      expect(received).toEqual([secretArgs]);
      expect((await tasks.get(enqueued.id))?.args).toBeUndefined();
    });

    it('encrypts with defaults.encryptor, and per enqueue `encryptor: null` stores plain JSON', async () => {
      const { target, received } = paymentsTarget();
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
        defaults: { encryptor: 'aes' },
      });

      const [secret, plain] = await harness().transaction((tx) =>
        tasks.enqueueMany(tx, [
          { method: target.charge, args: secretArgs },
          {
            method: target.charge,
            args: { ...secretArgs, cents: 1 },
            options: { encryptor: null },
          },
        ]),
      );

      expect(secret?.encryptor).toBe('aes');
      expectNoPlaintext(await harness().rawMethodArgs(secret!.id));
      expect(plain?.encryptor).toBeNull();
      expect(plain?.args).toEqual({ ...secretArgs, cents: 1 });
      await tasks.runDue();
      expect(received).toHaveLength(2);
    });

    it('keeps plaintext out of ctx.attempt and of lastError when the handler fails', async () => {
      const seen: unknown[] = [];
      const { target } = paymentsTarget((_args, ctx) => {
        seen.push(ctx.attempt.args);
        throw new Error('gateway timeout');
      });
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
        onError: (_error, attempt) => {
          seen.push(attempt.args);
        },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.charge, secretArgs, { encryptor: 'aes' }),
      );

      await tasks.runDue();

      expect(seen).toEqual([undefined, undefined]);
      // The message is stored encrypted (it may quote the arguments); an operator reads it back.
      expect((await tasks.get(id))?.lastError).toBe('Error: [encrypted]');
      expect(await tasks.decryptLastError(id)).toBe('Error: gateway timeout');
      expectNoPlaintext(await harness().rawMethodArgs(id));
    });

    // The record was read as the task is now: a replace that made an encrypted task plain showed
    // its earlier runs' encrypted errors raw, and decryptLastError returned the envelope.
    itOnNativeDrivers(
      fixture,
      `the reading under test is the library’s; each driver stores encrypted errors in ${coveredBy('conformance/encryption.test.ts', 'keeps plaintext out of ctx.attempt and of lastError when the handler fails')}`,
    )(
      'an error encrypted before a replace made the task plain is still shown as its class, and decrypts',
      async () => {
        const { target } = paymentsTarget((args) => {
          if (args.cents === secretArgs.cents) throw new Error('gateway timeout');
        });
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          encryptors: {
            aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }),
            other: aesGcmEncryptor({ keys: { k2 }, current: 'k2' }),
          },
        });
        // Made plain, and moved to another encryptor (whose key cannot read the error).
        for (const [token, encryptor] of [
          ['charge-1', null],
          ['charge-2', 'other'],
        ] as const) {
          const { id } = await harness().transaction((tx) =>
            tasks.enqueue(tx, target.charge, secretArgs, {
              encryptor: 'aes',
              idempotenceToken: token,
              maxAttempts: 3,
            }),
          );
          await tasks.runDue();
          const replaced = await harness().transaction((tx) =>
            tasks.enqueue(
              tx,
              target.charge,
              { ...secretArgs, cents: 1 },
              {
                encryptor,
                idempotenceToken: token,
                replace: 'pending',
              },
            ),
          );
          expect(replaced.id).toBe(id);

          const attempt = await tasks.get(id);
          expect(attempt).toMatchObject({ status: 'pending', lastError: 'Error: [encrypted]' });
          expect(attempt?.runs.map((run) => run.error)).toEqual(['Error: [encrypted]']);
          expect(await tasks.decryptLastError(id)).toBe('Error: gateway timeout');
        }
      },
    );

    it('keeps an error name that holds data out of an encrypted task’s record and logs: only a class name is kept in clear', async () => {
      class CardError extends Error {
        constructor(card: string) {
          super('declined');
          this.name = `CardError(${card})`;
        }
      }
      // A class name in any script is a class name, not data.
      class ÉchecPaiement extends Error {
        override name = 'ÉchecPaiement';
      }
      let runs = 0;
      const { target } = paymentsTarget((args) => {
        runs += 1;
        if (runs === 1) throw new CardError(args.cardNumber);
        if (runs === 3) throw new ÉchecPaiement();
        const plain = new Error('declined');
        plain.name = `for ${args.holder}`;
        throw plain;
      });
      const lines: string[] = [];
      const log = (object: object, message?: string): void =>
        void lines.push(JSON.stringify({ object, message }));
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
        logger: { debug: log, info: log, warn: log, error: log },
      });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.charge, secretArgs, { encryptor: 'aes', maxAttempts: 3 }),
      );

      await tasks.runDue();
      expect((await tasks.get(id))?.lastError).toBe('CardError: [encrypted]');
      expect(await tasks.decryptLastError(id)).toBe('CardError(4111111111111111): declined');
      await harness().makeDue(id);
      await tasks.runDue();
      expect((await tasks.get(id))?.lastError).toBe('Error: [encrypted]');
      expect(await tasks.decryptLastError(id)).toBe('for Zoë Plaintext-Canary: declined');
      await harness().makeDue(id);
      await tasks.runDue();

      const stored = await tasks.get(id);
      expect(stored).toMatchObject({ status: 'failed', lastError: 'ÉchecPaiement: [encrypted]' });
      expect(stored?.runs.map((run) => run.error)).toEqual([
        'CardError: [encrypted]',
        'Error: [encrypted]',
        'ÉchecPaiement: [encrypted]',
      ]);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines)
        for (const piece of plaintextPieces) expect(line).not.toContain(piece);
    });

    it('names no key that may be data in an encrypted task’s SerializationError (a plain task’s names them all)', async () => {
      const Ledger = defineTarget('Ledger', { post(_args: object) {} });
      const tasks = await migratedTasks(harness(), {
        targets: [Ledger],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
      });
      const byCard = { cards: { '4111-1111-1111-1111': { at: new Date(0) } } };
      await harness().transaction((tx) => {
        const encrypted = caughtSync(() =>
          tasks.enqueue(tx, Ledger.post, byCard, { encryptor: 'aes' }),
        );
        expect(encrypted).toBeInstanceOf(SerializationError);
        expect(encrypted).toMatchObject({ path: 'args.cards[…].at' });
        expect((encrypted as Error).message).toMatch(/^enqueue: args\.cards\[…\]\.at /);
        expect((encrypted as Error).message).not.toContain('4111');
        const plain = caughtSync(() => tasks.enqueue(tx, Ledger.post, byCard));
        expect(plain).toMatchObject({ path: 'args.cards["4111-1111-1111-1111"].at' });
        // A symbol whose description closes the brackets early got past the redaction.
        const bySymbol = { x: { [Symbol('a)]4111111111111111')]: 1 } };
        const symbol = caughtSync(() =>
          tasks.enqueue(tx, Ledger.post, bySymbol, { encryptor: 'aes' }),
        );
        expect(symbol).toMatchObject({ path: 'args.x[…]' });
        expect((symbol as Error).message).not.toContain('4111');
        return Promise.resolve();
      });
      expect(await harness().countAttempts()).toBe(0);
    });

    it('rotates keys: a task written under k1 runs where k2 is current and k1 still decrypts', async () => {
      const { target: oldTarget } = paymentsTarget();
      const { target: newTarget, received } = paymentsTarget();
      const before = await migratedTasks(harness(), {
        targets: [oldTarget],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
      });
      const after = await migratedTasks(harness(), {
        targets: [newTarget],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1, k2 }, current: 'k2' }) },
      });
      const old = await harness().transaction((tx) =>
        before.enqueue(tx, oldTarget.charge, secretArgs, { encryptor: 'aes' }),
      );
      const fresh = await harness().transaction((tx) =>
        after.enqueue(tx, newTarget.charge, { ...secretArgs, cents: 2 }, { encryptor: 'aes' }),
      );

      expect(await after.runDue()).toMatchObject({ claimed: 2, succeeded: 2 });

      expect(received).toEqual([secretArgs, { ...secretArgs, cents: 2 }]);
      expect(await after.get(old.id)).toMatchObject({ status: 'succeeded' });
      expect(await after.get(fresh.id)).toMatchObject({ status: 'succeeded' });
      expectNoPlaintext(await harness().rawMethodArgs(fresh.id));
      // The envelope names its key in clear (aesGcmEncryptor's documented format).
      expect(await harness().rawMethodArgs(old.id)).toMatch(/^v1:k1:/);
      expect(await harness().rawMethodArgs(fresh.id)).toMatch(/^v1:k2:/);
    });

    it('fails with DecryptionError, and no plaintext, where the encryptor or its key is missing', async () => {
      const { target: writerTarget } = paymentsTarget();
      const { target: noEncryptorTarget, received: noEncryptorRuns } = paymentsTarget();
      const { target: wrongKeyTarget, received: wrongKeyRuns } = paymentsTarget();
      const writer = await migratedTasks(harness(), {
        targets: [writerTarget],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
      });
      const withoutEncryptor = await migratedTasks(harness(), { targets: [noEncryptorTarget] });
      const withoutKey = await migratedTasks(harness(), {
        targets: [wrongKeyTarget],
        encryptors: { aes: aesGcmEncryptor({ keys: { k2 }, current: 'k2' }) },
      });
      const [a, b] = await harness().transaction((tx) =>
        writer.enqueueMany(tx, [
          { method: writerTarget.charge, args: secretArgs, options: { encryptor: 'aes' } },
          { method: writerTarget.charge, args: secretArgs, options: { encryptor: 'aes' } },
        ]),
      );
      // Each reader's pass takes one of the two rows.
      expect(await withoutEncryptor.runDue({ limit: 1 })).toMatchObject({ failed: 1 });
      expect(await withoutKey.runDue({ limit: 1 })).toMatchObject({ failed: 1 });

      expect(noEncryptorRuns).toEqual([]);
      expect(wrongKeyRuns).toEqual([]);
      for (const attempt of [a!, b!]) {
        const failed = await writer.get(attempt.id);
        expect(failed).toMatchObject({ status: 'failed', numAttempts: 1 });
        expect(failed?.completedAt).toBeInstanceOf(Date);
        expect(failed?.lastError).toMatch(/^DecryptionError: /);
        expectNoPlaintext(failed?.lastError);
      }
    });

    itRequires(fixture, 'asyncEncryptorInTransaction')(
      'works with a user-defined asynchronous encryptor',
      async () => {
        const calls: string[] = [];
        const reversing: Encryptor = {
          async encrypt(plaintext) {
            calls.push('encrypt');
            await Promise.resolve();
            return `rev:${Buffer.from(plaintext, 'utf8').reverse().toString('base64')}`;
          },
          async decrypt(ciphertext) {
            calls.push('decrypt');
            await Promise.resolve();
            return Buffer.from(ciphertext.slice(4), 'base64').reverse().toString('utf8');
          },
        };
        const { target, received } = paymentsTarget();
        const tasks = await migratedTasks(harness(), {
          targets: [target],
          encryptors: { reversing },
        });

        const [one, many] = await harness().transaction(async (tx) => [
          await tasks.enqueue(tx, target.charge, secretArgs, { encryptor: 'reversing' }),
          await tasks.enqueueMany(tx, [
            {
              method: target.charge,
              args: { ...secretArgs, cents: 3 },
              options: { encryptor: 'reversing' },
            },
          ]),
        ]);

        expect((await harness().rawMethodArgs(one.id))?.startsWith('rev:')).toBe(true);
        expectNoPlaintext(await harness().rawMethodArgs(one.id));
        expectNoPlaintext(await harness().rawMethodArgs(many[0]!.id));
        expect(await tasks.runDue()).toMatchObject({ succeeded: 2 });
        expect(received).toEqual([secretArgs, { ...secretArgs, cents: 3 }]);
        expect(calls).toEqual(['encrypt', 'encrypt', 'decrypt', 'decrypt']);
      },
    );

    it('reports a failing user decrypt as DecryptionError without its message leaking args', async () => {
      const broken: Encryptor = {
        encrypt: (plaintext) => Buffer.from(plaintext).toString('hex'),
        decrypt: () => Promise.reject(new Error('kms unavailable')),
      };
      const { target, received } = paymentsTarget();
      const tasks = await migratedTasks(harness(), { targets: [target], encryptors: { broken } });
      const { id } = await harness().transaction((tx) =>
        tasks.enqueue(tx, target.charge, secretArgs, { encryptor: 'broken' }),
      );

      expect(await tasks.runDue()).toMatchObject({ failed: 1 });

      expect(received).toEqual([]);
      const failed = await tasks.get(id);
      expect(failed?.lastError).toMatch(/^DecryptionError: /);
      expectNoPlaintext(failed?.lastError);
    });

    it('runs a method without arguments enqueued with an encryptor', async () => {
      const runs: unknown[] = [];
      const target = defineTarget('Heartbeat', {
        ping(args: undefined) {
          runs.push(args);
        },
      });
      const tasks = await migratedTasks(harness(), {
        targets: [target],
        encryptors: { aes: aesGcmEncryptor({ keys: { k1 }, current: 'k1' }) },
        defaults: { encryptor: 'aes' },
      });
      const { id } = await harness().transaction((tx) => tasks.enqueue(tx, target.ping, undefined));

      expect(await tasks.runDue()).toMatchObject({ succeeded: 1 });

      expect(runs).toEqual([undefined]);
      expect(await tasks.get(id)).toMatchObject({ status: 'succeeded', lastError: null });
    });
  });
}
