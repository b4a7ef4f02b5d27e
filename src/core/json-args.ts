// The compile-time half of the codec's rule (src/core/codec.ts): arguments are stored as JSON, so
// a type JSON cannot carry faithfully is refused where `enqueue` is called, with a message that
// says what to pass instead. The codec still checks every value at run time: what types cannot
// tell (a `NaN`, a class instance typed as a plain object, anything typed `unknown` or `any`).

/**
 * The type `enqueue` accepts for a method whose arguments are `Args`: `Args` itself when JSON can
 * carry it, otherwise `Args` with each part JSON cannot carry replaced by a message (a string
 * literal type), so that the compile error names the property and what to pass instead. Top-level
 * `undefined` means "no arguments"; an object property holding `undefined` is left out, as JSON
 * does. A part typed `unknown` or `any` says nothing about its values: it accepts any value, and
 * the codec checks it when `enqueue` runs.
 *
 * @example
 * type A = JsonArgs<{ at: Date; ids: number[] }>;
 * // { at: 'a Date is not JSON (it would arrive as a string): pass date.toISOString()'; ids: number[] }
 */
export type JsonArgs<Args> = unknown extends Args
  ? Args
  : Args extends undefined
    ? undefined
    : JsonChecked<Args, 'property'>;

/**
 * Levels of nesting checked at compile time; deeper parts are left to the run-time check. A
 * recursive type (`type Json = … | Json[] | { [key: string]: Json }`) has no bottom, and without
 * a bound its check never ended (TS2589, "excessively deep"): such arguments did not compile.
 */
type MaxDepth = 8;

type JsonChecked<
  T,
  Position extends 'property' | 'element',
  Depth extends readonly unknown[] = [],
> = unknown extends T
  ? T
  : Depth['length'] extends MaxDepth
    ? T
    : T extends string | number | boolean | null
      ? T
      : T extends undefined
        ? Position extends 'property'
          ? undefined
          : 'undefined in an array is not JSON (it would arrive as null): pass null'
        : T extends bigint
          ? 'a bigint is not JSON: pass value.toString() and BigInt() it in the handler'
          : T extends symbol
            ? 'a symbol is not JSON: pass a string'
            : T extends (...args: never[]) => unknown
              ? 'a function is not JSON: pass the data the handler needs (a name, an id)'
              : T extends Date
                ? 'a Date is not JSON (it would arrive as a string): pass date.toISOString()'
                : T extends ReadonlyMap<unknown, unknown> | WeakMap<object, unknown>
                  ? 'a Map is not JSON (it would arrive as {}): pass Object.fromEntries(map) or [...map]'
                  : T extends ReadonlySet<unknown> | WeakSet<object>
                    ? 'a Set is not JSON (it would arrive as {}): pass [...set]'
                    : T extends RegExp
                      ? 'a RegExp is not JSON (it would arrive as {}): pass regexp.source and regexp.flags'
                      : T extends ArrayBufferLike | ArrayBufferView
                        ? "binary data is not JSON: pass a base64 string (Buffer.from(bytes).toString('base64'))"
                        : T extends PromiseLike<unknown>
                          ? 'a Promise is not JSON: await it and pass the result'
                          : T extends readonly unknown[]
                            ? {
                                readonly [K in keyof T]: JsonChecked<
                                  T[K],
                                  'element',
                                  [...Depth, 0]
                                >;
                              }
                            : {
                                readonly [K in keyof T]: JsonChecked<
                                  T[K],
                                  'property',
                                  [...Depth, 0]
                                >;
                              };
