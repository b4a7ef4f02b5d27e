import { SerializationError } from './errors.js';

/** One step of a path from the root `args`: an array index, an object key or a symbol key. */
type PathKey = number | string | symbol;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Turns a method's arguments into the JSON text stored in `method_args`.
 *
 * The value is checked first, in one walk, so that what the handler receives is exactly what was
 * enqueued: anything JSON would drop, change or refuse (bigint, functions, symbols, NaN and
 * ±Infinity, `undefined` or holes in arrays, cycles, symbol keys, and objects that are not plain
 * objects or arrays, such as `Date`, `Map` or class instances) throws a {@link SerializationError}
 * whose `path` names the value, e.g. `args.items[3].price`. An object property whose value is
 * `undefined` is left out, as JSON does. The same object may appear more than once.
 *
 * @param args - the arguments; top-level `undefined` means "no arguments".
 * @returns the JSON text, or `null` (stored as SQL `NULL`) when `args` is `undefined`.
 * @throws {@link SerializationError} when `args` cannot be stored without losing information.
 *
 * @example
 * encodeArgs({ orderId: 42, lines: [{ sku: 'A-1', qty: 2 }] }); // '{"orderId":42,"lines":[...]}'
 * encodeArgs({ when: new Date() }); // throws: args.when is a Date; ...
 */
export function encodeArgs(args: unknown, options: { redactKeys?: boolean } = {}): string | null {
  if (args === undefined) return null;
  redactingKeys = options.redactKeys === true;
  try {
    check(args);
  } finally {
    redactingKeys = false;
  }
  return JSON.stringify(args);
}

/**
 * Set while an encrypted task's arguments are checked (the check is synchronous): a path then
 * names only identifier keys and indexes, `[…]` for the rest. A key that is not an identifier
 * (or a symbol's description) may be data, such as a map keyed by card number, and must not
 * reach an error in clear.
 */
let redactingKeys = false;

/**
 * The inverse of {@link encodeArgs}: `null` gives `undefined`, anything else is parsed as JSON.
 *
 * @throws {@link SerializationError} (path `args`) when the text is not valid JSON. The message
 * never quotes the text, which may hold sensitive arguments.
 */
export function decodeArgs(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SerializationError(
      'args',
      `args could not be decoded: the stored text (${text.length} characters) is not valid JSON. ` +
        'It was not written by encodeArgs, or it was changed in the database.',
    );
  }
}

/**
 * The deepest nesting of arrays and objects accepted. JSON.stringify and JSON.parse recurse once
 * per level and throw a RangeError a few thousand levels down (fewer on a deep call stack), as do
 * other languages' decoders; 1,000 is far past any real argument and well inside all of them.
 */
const maxDepth = 1_000;

/** An array or object being walked: the keys still to visit are `keys[index…]` (arrays: `index…length`). */
interface Frame {
  readonly value: object;
  readonly keys: readonly string[] | null;
  readonly length: number;
  index: number;
}

/**
 * Throws if `value` cannot go through JSON unchanged. Walks with an explicit stack, not recursion,
 * so no nesting can overflow the call stack before the depth limit is reported. `keys` is the path
 * from the root, only turned into text on failure.
 */
function check(root: unknown): void {
  const keys: PathKey[] = [];
  const frames: Frame[] = [];
  // Each open container and its depth, to name where a cycle starts.
  const open = new Map<object, number>();
  /** Checks `value` at `keys`; returns true when it is a container now open on the stack. */
  const enter = (value: unknown): boolean => {
    if (typeof value !== 'object' || value === null) {
      checkPrimitive(value, keys);
      return false;
    }
    const cycleStart = open.get(value);
    if (cycleStart !== undefined) {
      reject(
        keys,
        `is a circular reference (it points back to ${formatPath(keys.slice(0, cycleStart))}); ` +
          'JSON cannot represent cycles. Remove the back-reference, or refer to the object by an id.',
      );
    }
    if (frames.length >= maxDepth) rejectDepth(keys);
    if (Array.isArray(value)) {
      frames.push({ value, keys: null, length: value.length, index: 0 });
    } else {
      checkPlainObject(value, keys);
      const own = Object.keys(value);
      frames.push({ value, keys: own, length: own.length, index: 0 });
    }
    open.set(value, keys.length);
    return true;
  };

  if (!enter(root)) return;
  while (frames.length > 0) {
    const frame = frames[frames.length - 1] as Frame;
    if (frame.index >= frame.length) {
      frames.pop();
      open.delete(frame.value);
      keys.pop(); // the key that led here (none for the root)
      continue;
    }
    const index = frame.index++;
    let child: unknown;
    if (frame.keys === null) {
      const array = frame.value as readonly unknown[];
      child = array[index];
      keys.push(index);
      if (child === undefined && !(index in array)) {
        reject(
          keys,
          'is a hole in a sparse array; JSON would turn it into null. Fill the array (e.g. with null) instead.',
        );
      }
    } else {
      const key = frame.keys[index] as string;
      child = (frame.value as Record<string, unknown>)[key];
      // A property holding undefined is left out, as JSON does.
      if (child === undefined) continue;
      keys.push(key);
    }
    if (!enter(child)) keys.pop();
  }
}

function checkPrimitive(value: unknown, keys: PathKey[]): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'object': // null
      return;
    case 'number':
      if (!Number.isFinite(value)) {
        reject(
          keys,
          `is ${String(value)}; JSON would turn it into null. Pass a finite number, or null for "no value".`,
        );
      }
      return;
    case 'undefined':
      // Object properties holding undefined are skipped by the walk, so this is an array element.
      return reject(
        keys,
        'is undefined; JSON would turn it into null inside an array. Pass null instead.',
      );
    case 'bigint':
      return reject(
        keys,
        'is a bigint; JSON cannot carry bigints. Pass value.toString() and convert it back with BigInt() in the handler.',
      );
    case 'function':
      return reject(
        keys,
        'is a function; JSON cannot carry functions. Pass the data the handler needs (a name, an id) instead.',
      );
    case 'symbol':
      return reject(keys, 'is a symbol; JSON cannot carry symbols. Pass a string instead.');
  }
}

function checkPlainObject(value: object, keys: PathKey[]): void {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) rejectNonPlain(value, proto, keys);
  const symbols = Object.getOwnPropertySymbols(value);
  if (symbols.length > 0) {
    keys.push(symbols[0] as symbol);
    reject(keys, 'is a symbol-keyed property; JSON would drop it. Use a string key instead.');
  }
}

/** The path in the message is cut to its first steps: in full it would be thousands of characters. */
function rejectDepth(keys: readonly PathKey[]): never {
  const path = formatPath(keys);
  const shown = `${formatPath(keys.slice(0, 4))}… (${keys.length} levels down)`;
  throw new SerializationError(
    path,
    `${shown} is nested more than ${maxDepth.toLocaleString('en-US')} levels deep; JSON decoders ` +
      '(JSON.parse in the worker, and those of other languages) recurse once per level and fail ' +
      'on such nesting. Flatten the structure, or pass it as a string and parse it in the handler.',
  );
}

function rejectNonPlain(value: object, proto: unknown, keys: PathKey[]): never {
  if (value instanceof Date) {
    reject(keys, 'is a Date; JSON would turn it into a string. Pass date.toISOString() instead.');
  }
  if (value instanceof Map) {
    reject(
      keys,
      'is a Map; JSON would turn it into {}. Pass Object.fromEntries(map) or [...map] instead.',
    );
  }
  if (value instanceof Set) {
    reject(keys, 'is a Set; JSON would turn it into {}. Pass [...set] instead.');
  }
  if (value instanceof RegExp) {
    reject(
      keys,
      'is a RegExp; JSON would turn it into {}. Pass regexp.source and regexp.flags as strings instead.',
    );
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    reject(
      keys,
      `is ${withArticle(constructorName(proto) ?? 'binary buffer')}; JSON would not keep its bytes. ` +
        "Pass a base64 string (Buffer.from(bytes).toString('base64')) instead.",
    );
  }
  if (value instanceof Promise) {
    reject(keys, 'is a Promise; JSON would turn it into {}. Await it and pass the result instead.');
  }
  if (value instanceof Error) {
    reject(
      keys,
      `is ${withArticle(constructorName(proto) ?? 'Error')}; JSON would turn it into {}. ` +
        'Pass a plain object such as { name: error.name, message: error.message } instead.',
    );
  }
  if (value instanceof String || value instanceof Number || value instanceof Boolean) {
    reject(keys, 'is a boxed primitive (new String/Number/Boolean); pass the primitive instead.');
  }
  const name = constructorName(proto);
  reject(
    keys,
    name === undefined
      ? 'is an object with a custom prototype; JSON would keep only its own fields. Pass a plain object instead.'
      : `is an instance of ${name}; JSON would keep only its own fields and lose the class. ` +
          `Pass a plain object instead, and rebuild the ${name} in the handler.`,
  );
}

function constructorName(proto: unknown): string | undefined {
  const ctor: unknown = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name !== '' ? ctor.name : undefined;
}

function withArticle(name: string): string {
  return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
}

function reject(keys: readonly PathKey[], problem: string): never {
  const path = formatPath(keys);
  throw new SerializationError(path, `${path} ${problem}`);
}

/** `args.items[3].price`, `args["weird key"]`, `args.meta[Symbol(tag)]`. */
function formatPath(keys: readonly PathKey[]): string {
  let path = 'args';
  for (const key of keys) {
    if (typeof key === 'number') path += `[${key}]`;
    else if (redactingKeys && (typeof key === 'symbol' || !IDENTIFIER.test(key))) path += '[…]';
    else if (typeof key === 'symbol') path += `[${key.toString()}]`;
    else if (IDENTIFIER.test(key)) path += `.${key}`;
    else path += `[${JSON.stringify(key)}]`;
  }
  return path;
}
