import { describe, it, expect } from 'vitest';
import { decodeArgs, encodeArgs } from '../../src/core/codec.js';
import { SerializationError } from '../../src/core/errors.js';

/** The SerializationError `encodeArgs(args)` throws; fails the test if it does not throw one. */
function rejection(args: unknown): SerializationError {
  try {
    encodeArgs(args);
  } catch (error) {
    expect(error).toBeInstanceOf(SerializationError);
    const serializationError = error as SerializationError;
    expect(serializationError.code).toBe('SERIALIZATION');
    expect(serializationError.name).toBe('SerializationError');
    expect(serializationError.message.startsWith(`${serializationError.path} `)).toBe(true);
    return serializationError;
  }
  throw new Error('expected encodeArgs to throw a SerializationError');
}

function roundTrip(args: unknown): unknown {
  return decodeArgs(encodeArgs(args));
}

class Money {
  constructor(
    readonly amount: number,
    readonly currency: string,
  ) {}
}

describe('encodeArgs round trips', () => {
  it.each([
    ['null', null],
    ['a string', 'hello'],
    ['an empty string', ''],
    ['zero', 0],
    ['a negative float', -12.5],
    ['a large safe integer', Number.MAX_SAFE_INTEGER],
    ['a tiny float', 5e-324],
    ['true', true],
    ['false', false],
    ['an empty object', {}],
    ['an empty array', []],
    ['unicode', { name: 'Zoë 🎉 日本語', ключ: 'значение', emoji: ['👍🏽'] }],
    ['a lone surrogate', { s: '\ud800x' }],
    ['control characters', { s: 'line\nbreak\t"quoted"\\' }],
    [
      'nested objects and arrays',
      {
        orderId: 42,
        customer: { id: 'c_1', tags: ['vip', 'eu'], address: { city: 'Lyon', zip: null } },
        items: [
          { sku: 'A-1', qty: 2, price: 9.99 },
          { sku: 'B-2', qty: 1, price: 0, gift: true },
        ],
        matrix: [
          [1, 2],
          [3, [4, [5]]],
        ],
      },
    ],
    ['keys that are not identifiers', { 'weird key': 1, '3': 'three', '': 'empty', $ok_1: 2 }],
  ])('%s', (_label, args) => {
    expect(roundTrip(args)).toEqual(args);
  });

  it('encodes top-level undefined as null and decodes null as undefined', () => {
    expect(encodeArgs(undefined)).toBeNull();
    expect(decodeArgs(null)).toBeUndefined();
  });

  it('produces the same text as JSON.stringify', () => {
    const args = { a: 1, b: [true, null, 'x'], c: { d: 'é' } };
    expect(encodeArgs(args)).toBe(JSON.stringify(args));
  });

  it('drops object properties whose value is undefined, as JSON does', () => {
    expect(encodeArgs({ a: 1, b: undefined, nested: { c: undefined } })).toBe(
      '{"a":1,"nested":{}}',
    );
  });

  it('accepts objects with a null prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.x = 1;
    expect(roundTrip({ bare })).toEqual({ bare: { x: 1 } });
  });

  it('accepts the same object in several places (a DAG, not a cycle)', () => {
    const shared = { id: 7, tags: ['a'] };
    const args = { first: shared, second: shared, list: [shared, shared], deep: { again: shared } };
    expect(roundTrip(args)).toEqual({
      first: { id: 7, tags: ['a'] },
      second: { id: 7, tags: ['a'] },
      list: [
        { id: 7, tags: ['a'] },
        { id: 7, tags: ['a'] },
      ],
      deep: { again: { id: 7, tags: ['a'] } },
    });
  });

  it('accepts the same array twice', () => {
    const shared = [1, 2];
    expect(roundTrip([shared, shared])).toEqual([
      [1, 2],
      [1, 2],
    ]);
  });
});

describe('encodeArgs rejections', () => {
  it('rejects a bigint with its path', () => {
    const error = rejection({ items: [{}, {}, {}, { price: 10n }] });
    expect(error.path).toBe('args.items[3].price');
    expect(error.message).toMatch(/^args\.items\[3\]\.price is a bigint; .*toString\(\)/);
  });

  it('rejects a function', () => {
    const error = rejection({ onDone: () => undefined });
    expect(error.path).toBe('args.onDone');
    expect(error.message).toContain('is a function');
  });

  it('rejects a toJSON method (it is a function)', () => {
    expect(rejection({ value: { toJSON: () => 'x' } }).path).toBe('args.value.toJSON');
  });

  it('rejects a symbol value', () => {
    const error = rejection({ tag: Symbol('tag') });
    expect(error.path).toBe('args.tag');
    expect(error.message).toContain('is a symbol');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('rejects %s', (label, value) => {
    const error = rejection({ totals: { price: value } });
    expect(error.path).toBe('args.totals.price');
    expect(error.message).toBe(
      `args.totals.price is ${label}; JSON would turn it into null. Pass a finite number, or null for "no value".`,
    );
  });

  it('rejects undefined inside an array', () => {
    const error = rejection({ list: [1, undefined, 3] });
    expect(error.path).toBe('args.list[1]');
    expect(error.message).toContain('Pass null instead');
  });

  it('rejects a hole in a sparse array', () => {
    const list: number[] = [];
    list[0] = 1;
    list[2] = 3;
    const error = rejection({ list });
    expect(error.path).toBe('args.list[1]');
    expect(error.message).toContain('sparse array');
  });

  it('rejects an array created with a length', () => {
    expect(rejection(new Array<number>(2)).path).toBe('args[0]');
  });

  it('rejects a direct circular reference', () => {
    const node: Record<string, unknown> = { name: 'root' };
    node.self = node;
    const error = rejection(node);
    expect(error.path).toBe('args.self');
    expect(error.message).toContain('circular reference');
    expect(error.message).toContain('points back to args)');
  });

  it('rejects an indirect circular reference and names the ancestor', () => {
    const parent: Record<string, unknown> = {};
    const child = { parent };
    parent.children = [child];
    const error = rejection({ tree: parent });
    expect(error.path).toBe('args.tree.children[0].parent');
    expect(error.message).toContain('circular reference (it points back to args.tree)');
  });

  it('rejects an array that contains itself', () => {
    const list: unknown[] = [1];
    list.push(list);
    expect(rejection({ list }).path).toBe('args.list[1]');
  });

  it('rejects a symbol-keyed property', () => {
    const error = rejection({ meta: { visible: 1, [Symbol('hidden')]: 2 } });
    expect(error.path).toBe('args.meta[Symbol(hidden)]');
    expect(error.message).toContain('symbol-keyed property');
  });

  it('rejects a Date and says to use toISOString()', () => {
    const error = rejection({ when: new Date(0) });
    expect(error.path).toBe('args.when');
    expect(error.message).toBe(
      'args.when is a Date; JSON would turn it into a string. Pass date.toISOString() instead.',
    );
  });

  it.each([
    ['Map', new Map([['a', 1]]), 'is a Map'],
    ['Set', new Set([1]), 'is a Set'],
    ['RegExp', /x/g, 'is a RegExp'],
    ['Buffer', Buffer.from('hi'), 'is a Buffer'],
    ['Uint8Array', new Uint8Array(2), 'is a Uint8Array'],
    ['Float64Array', new Float64Array(2), 'is a Float64Array'],
    ['ArrayBuffer', new ArrayBuffer(2), 'is an ArrayBuffer'],
    ['Promise', Promise.resolve(1), 'is a Promise'],
    ['TypeError', new TypeError('boom'), 'is a TypeError'],
    ['boxed String', new String('x'), 'is a boxed primitive'],
    ['Error', new Error('boom'), 'is an Error'],
    ['WeakMap', new WeakMap(), 'is an instance of WeakMap'],
  ])('rejects a %s', (_label, value, expected) => {
    const error = rejection({ payload: { value } });
    expect(error.path).toBe('args.payload.value');
    expect(error.message).toContain(`args.payload.value ${expected}`);
  });

  it('rejects a class instance and names the class', () => {
    const error = rejection({ total: new Money(5, 'EUR') });
    expect(error.path).toBe('args.total');
    expect(error.message).toMatch(
      /^args\.total is an instance of Money; .*Pass a plain object instead/,
    );
  });

  it('rejects an object with a custom prototype that has no constructor name', () => {
    const error = rejection({ odd: Object.create({ inherited: 1 }) as object });
    expect(error.path).toBe('args.odd');
    expect(error.message).toContain('Pass a plain object instead');
  });

  it('rejects a class instance at the top level', () => {
    expect(rejection(new Money(1, 'USD')).path).toBe('args');
  });

  it.each([
    ['a bigint', 1n],
    ['a function', () => 1],
    ['a symbol', Symbol('x')],
    ['NaN', Number.NaN],
  ])('rejects %s at the top level with path "args"', (_label, value) => {
    expect(rejection(value).path).toBe('args');
  });

  it('uses bracket notation for keys that are not identifiers', () => {
    expect(rejection({ 'weird key': 1n }).path).toBe('args["weird key"]');
    expect(rejection({ '3': 1n }).path).toBe('args["3"]');
    expect(rejection({ 'a"b': 1n }).path).toBe('args["a\\"b"]');
    expect(rejection({ '': 1n }).path).toBe('args[""]');
    expect(rejection({ $ok_1: { _x: 1n } }).path).toBe('args.$ok_1._x');
  });

  it('keeps the path right after walking earlier siblings', () => {
    const args = {
      a: [1, { b: 2 }, [3, [4]]],
      c: { skipped: undefined, d: ['x', { e: 'fine' }, { e: Number.NaN }] },
    };
    expect(rejection(args).path).toBe('args.c.d[2].e');
  });

  it('reports a DAG node that is later part of a cycle at the cycle, not at the sharing', () => {
    const shared: Record<string, unknown> = {};
    const args = { first: shared, second: shared };
    shared.back = args;
    expect(rejection(args).path).toBe('args.first.back');
  });
});

describe('decodeArgs', () => {
  it('parses JSON text', () => {
    expect(decodeArgs('{"a":[1,"b",null]}')).toEqual({ a: [1, 'b', null] });
    expect(decodeArgs('null')).toBeNull();
  });

  it('rejects text that is not JSON without quoting it', () => {
    let caught: unknown;
    try {
      decodeArgs('{"card":"4111-1111-1111-1111"');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SerializationError);
    const error = caught as SerializationError;
    expect(error.code).toBe('SERIALIZATION');
    expect(error.path).toBe('args');
    expect(error.message).not.toContain('4111');
  });
});

describe('encodeArgs nesting depth', () => {
  const nestedArrays = (depth: number): unknown => {
    let value: unknown = [];
    for (let level = 1; level < depth; level++) value = [value];
    return value;
  };
  const nestedObjects = (depth: number): unknown => {
    let value: unknown = {};
    for (let level = 1; level < depth; level++) value = { next: value };
    return value;
  };

  it('accepts 1,000 levels and round trips them', () => {
    for (const value of [nestedArrays(1_000), nestedObjects(1_000)]) {
      expect(decodeArgs(encodeArgs(value))).toEqual(value);
    }
  });

  // 3,000 levels and more were a RangeError (call stack) from the recursive check or JSON itself.
  it.each([1_001, 3_000, 10_000, 1_000_000])(
    'refuses %i levels with a SerializationError and a short message',
    (depth) => {
      for (const value of [nestedArrays(depth), nestedObjects(depth)]) {
        let error: unknown;
        try {
          encodeArgs(value);
        } catch (caught) {
          error = caught;
        }
        expect(error).toBeInstanceOf(SerializationError);
        const serialization = error as SerializationError;
        expect(serialization.message).toContain('is nested more than 1,000 levels deep');
        expect(serialization.message).toContain('(1000 levels down)');
        expect(serialization.message.length).toBeLessThan(500);
        expect(
          serialization.path.startsWith('args[0]') || serialization.path.startsWith('args.next'),
        ).toBe(true);
      }
    },
  );

  it('still reports a bad value found before the depth limit with its path', () => {
    expect(() => encodeArgs({ a: [[[{ when: new Date(0) }]]] })).toThrow(
      'args.a[0][0][0].when is a Date',
    );
  });
});
