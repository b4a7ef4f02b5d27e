import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { methodRef, targetDefinition } from '../../src/core/target.js';
import { defineTarget, type TaskContext } from '../../src/index.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG', name: 'ConfigError' });
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('defineTarget with a plain object', () => {
  it('returns the same object, named, with every function property as a method', () => {
    const methods = {
      greeting: 'hello',
      greet(args: { name: string }): string {
        return `${this.greeting} ${args.name}`;
      },
      async shout(args: { name: string }): Promise<string> {
        await Promise.resolve();
        return this.greet(args).toUpperCase();
      },
    };

    const target = defineTarget('Greeter', methods);

    expect(target).toBe(methods);
    const definition = targetDefinition(target);
    expect(definition?.name).toBe('Greeter');
    expect([...(definition?.methods.keys() ?? [])].sort()).toEqual(['greet', 'shout']);
    expect(Object.keys(target)).toEqual(['greeting', 'greet', 'shout']);
    expect(JSON.stringify(target)).toBe('{"greeting":"hello"}');
  });

  it('keeps methods directly callable, with `this` the object', async () => {
    const target = defineTarget('Greeter', {
      greeting: 'hello',
      greet(args: { name: string }): string {
        return `${this.greeting} ${args.name}`;
      },
      async shout(args: { name: string }, _ctx?: TaskContext): Promise<string> {
        await Promise.resolve();
        return this.greet(args).toUpperCase();
      },
    });

    expect(target.greet({ name: 'ada' })).toBe('hello ada');
    expect(await target.shout({ name: 'ada' })).toBe('HELLO ADA');
  });

  it('resolves a method reference to its target and name', () => {
    const target = defineTarget('Orders', { fulfill(_args: null) {}, cancel(_args: null) {} });
    expect(methodRef(target.fulfill)).toMatchObject({
      target: 'Orders',
      methodName: 'fulfill',
      owner: target,
    });
    expect(methodRef(target.cancel)?.methodName).toBe('cancel');
    expect(methodRef(() => undefined)).toBeUndefined();
    expect(methodRef('fulfill')).toBeUndefined();
  });
});

describe('defineTarget with a class', () => {
  it('takes the static methods, skipping the built-in properties', async () => {
    class Mailer {
      static sender = 'noreply@example.com';
      static from(): string {
        return this.sender;
      }
      static async send(args: { to: string }): Promise<string> {
        await Promise.resolve();
        return `${this.from()} -> ${args.to}`;
      }
      instanceMethod(): void {}
    }

    const target = defineTarget('Mailer', Mailer);

    expect(target).toBe(Mailer);
    expect([...(targetDefinition(target)?.methods.keys() ?? [])].sort()).toEqual(['from', 'send']);
    expect(await target.send({ to: 'ada@example.com' })).toBe(
      'noreply@example.com -> ada@example.com',
    );
    expect(methodRef(target.send)).toMatchObject({ target: 'Mailer', methodName: 'send' });
    // The class still works as a class.
    expect(new Mailer()).toBeInstanceOf(Mailer);
  });
});

describe('defineTarget with a class that extends another', () => {
  // The type showed inherited statics as methods; enqueue refused them ("not part of a target").
  it('takes the static methods it inherits, its own definitions first', () => {
    class BaseMailer {
      static send(_args: { to: string }): string {
        return 'base send';
      }
      static ping(): string {
        return 'base ping';
      }
    }
    class Mailer extends BaseMailer {
      static override ping(): string {
        return 'own ping';
      }
    }
    const target = defineTarget('InheritingMailer', Mailer);
    expect([...(targetDefinition(target)?.methods.keys() ?? [])].sort()).toEqual(['ping', 'send']);
    expect(methodRef(target.send)).toMatchObject({
      target: 'InheritingMailer',
      methodName: 'send',
    });
    expect(target.ping()).toBe('own ping');
    expect(methodRef(target.ping)?.methodName).toBe('ping');
  });

  it('leaves an inherited method that is a target of its own to that target', () => {
    class Base {
      static send(_args: { to: string }) {}
    }
    class Derived extends Base {
      static shout(_args: { to: string }) {}
    }
    defineTarget('BaseTarget', Base);
    const derived = defineTarget('DerivedTarget', Derived);
    expect([...(targetDefinition(derived)?.methods.keys() ?? [])]).toEqual(['shout']);
    expect(methodRef(derived.send)).toMatchObject({ target: 'BaseTarget', methodName: 'send' });
  });
});

describe('defineTarget order and refusals', () => {
  // The parent could not be defined after its child: "method pm is already Child.pm".
  it('a parent class made a target after its child takes its own methods back', () => {
    class Parent {
      static pm(_args: { n: number }) {}
    }
    class Child extends Parent {
      static cm(_args: { n: number }) {}
    }
    defineTarget('ChildFirst', Child);
    const parent = defineTarget('ParentSecond', Parent);
    expect(methodRef(parent.pm)).toMatchObject({ target: 'ParentSecond', methodName: 'pm' });
  });

  // A refused definition had taken its functions: defining the target again, right, failed.
  it('a refused definition leaves its functions free', () => {
    function send(_args: { to: string }) {}
    function good(_args: { to: string }) {}
    configError(() => defineTarget('Mailer', { send, sendLegacy: send }));
    configError(() => defineTarget('Mailer', { good, '': good }));
    expect(methodRef(send)).toBeUndefined();
    const mailer = defineTarget('Mailer', { send, good });
    expect(methodRef(mailer.good)).toMatchObject({ target: 'Mailer', methodName: 'good' });
  });

  it('names a long astral method name by whole characters', () => {
    const error = configError(() => defineTarget('Long', { ['😀'.repeat(256)]() {} }));
    expect(/\p{Surrogate}/u.test(error.message)).toBe(false);
  });
});

describe('defineTarget validation', () => {
  it.each([
    'OrderClient',
    'billing.Invoices',
    'ns:Thing-2',
    '$special',
    '_private',
    'a'.repeat(200),
  ])('accepts the name %j', (name) => {
    expect(targetDefinition(defineTarget(name, { run() {} }))?.name).toBe(name);
  });

  it.each(['', '1abc', 'has space', 'semi;colon', 'quote"d', "it's", '-dash', 'a'.repeat(201)])(
    'refuses the name %j',
    (name) => {
      configError(() => defineTarget(name, { run() {} }));
    },
  );

  it('refuses a non-string name and a non-object target', () => {
    configError(() => defineTarget(42 as unknown as string, { run() {} }));
    configError(() => defineTarget('Nothing', null as unknown as object));
    configError(() => defineTarget('Text', 'abc' as unknown as object));
  });

  // Each of these enqueued, then never ran on some database: PostgreSQL refused NUL and lone
  // surrogates; MySQL and SQLite stored a lone surrogate as U+FFFD and MySQL cut past 255 in a
  // non-strict sql_mode, so the stored name named no method (UnknownTargetError at every run).
  it.each([
    ['a lone surrogate', 'send\ud800', /holds a lone surrogate/],
    ['NUL', 'a\u0000b', /holds a NUL/],
    ['256 characters', 'm'.repeat(256), /256 characters/],
    ['no character', '', /0 characters/],
  ])('refuses a method name with %s, naming it', (_what, key, reason) => {
    expect(() => defineTarget('Names', { ok() {}, [key]() {} })).toThrow(
      expect.objectContaining({
        code: 'CONFIG',
        message: expect.stringMatching(reason) as unknown,
      }) as Error,
    );
  });

  it('takes a method name of 255 characters, astral ones counted once', () => {
    const key = '😀'.repeat(255);
    const target = defineTarget('LongNames', { [key]() {} });
    expect(methodRef((target as Record<string, unknown>)[key])?.methodName).toBe(key);
  });

  // The second name won: an enqueue of `send` stored `sendLegacy`, with its queue and limits.
  it('refuses one function under two names of a target, naming both', () => {
    function send(_args: { to: string }) {}
    const error = configError(() =>
      defineTarget('Mailer', { send, sendLegacy: send }, { methods: { send: { queue: 'mail' } } }),
    );
    expect(error.message).toMatch(/methods send and sendLegacy are the same function/);
  });

  it('refuses a target without methods', () => {
    configError(() => defineTarget('Empty', {}));
    configError(() => defineTarget('DataOnly', { a: 1, b: 'two' }));
  });

  it('refuses the same function in two targets', () => {
    const shared = (_args: null): void => undefined;
    defineTarget('First', { shared });
    const error = configError(() => defineTarget('Second', { shared }));
    expect(error.message).toContain('First.shared');
  });

  it('returns the target when defined again with the same name, refuses another name', () => {
    const methods = { run() {} };
    const target = defineTarget('Once', methods);
    expect(defineTarget('Once', methods)).toBe(target);
    configError(() => defineTarget('Twice', methods));
  });

  it('refuses options.methods naming a missing method', () => {
    const error = configError(() =>
      defineTarget(
        'Orders',
        { fulfill() {} },
        { methods: { fulfil: { maxAttempts: 3 } } as { fulfill?: { maxAttempts: number } } },
      ),
    );
    expect(error.message).toContain('fulfil');
  });

  it.each([
    ['maxAttempts 0', { maxAttempts: 0 }],
    ['maxAttempts 1.5', { maxAttempts: 1.5 }],
    ['an invalid queue', { queue: 'a queue' }],
    ['priority 1e9', { priority: 1e9 }],
    ['a backoff that is not a function', { backoff: 1000 as unknown as () => number }],
  ])('refuses target options with %s, at target and method level', (_label, options) => {
    configError(() => defineTarget('Bad', { run() {} }, options));
    configError(() => defineTarget('Bad', { run() {} }, { methods: { run: options } }));
  });

  it('merges method options over target options', () => {
    const backoff = (): number => 5000;
    const target = defineTarget(
      'Layered',
      { a() {}, b() {} },
      { maxAttempts: 5, queue: 'slow', backoff, methods: { a: { maxAttempts: 2, priority: -1 } } },
    );
    expect(methodRef(target.a)?.options).toEqual({
      maxAttempts: 2,
      queue: 'slow',
      priority: -1,
      backoff,
    });
    expect(methodRef(target.b)?.options).toEqual({ maxAttempts: 5, queue: 'slow', backoff });
  });
});
