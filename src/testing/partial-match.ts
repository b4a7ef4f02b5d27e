/** Where a partial expectation and an actual value differ. */
export interface Mismatch {
  /** e.g. `args.items[2].sku` */
  readonly path: string;
  readonly expected: unknown;
  /** `undefined` when the key is missing. */
  readonly actual: unknown;
}

const identifier = /^[A-Za-z_$][\w$]*$/;

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Every place where `actual` does not contain `expected`: objects match when each key of
 * `expected` matches (other keys of `actual` are ignored), arrays when they have the same length
 * and match element by element, anything else with `Object.is`.
 */
export function mismatches(expected: unknown, actual: unknown, path = 'args'): Mismatch[] {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      return [{ path, expected, actual }];
    }
    return expected.flatMap((value, index) => mismatches(value, actual[index], child(path, index)));
  }
  if (isPlainObject(expected)) {
    if (!isPlainObject(actual)) return [{ path, expected, actual }];
    return Object.keys(expected).flatMap((key) =>
      mismatches(
        expected[key],
        Object.prototype.hasOwnProperty.call(actual, key) ? actual[key] : undefined,
        child(path, key),
      ),
    );
  }
  return Object.is(expected, actual) ? [] : [{ path, expected, actual }];
}

/**
 * `actual` cut down to the keys `expected` names (at any depth), so that a diff of the two shows
 * only what the expectation is about.
 */
export function projected(expected: unknown, actual: unknown): unknown {
  if (Array.isArray(expected) && Array.isArray(actual) && actual.length === expected.length) {
    return actual.map((value: unknown, index) => projected(expected[index], value));
  }
  if (isPlainObject(expected) && isPlainObject(actual)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(expected)) {
      if (Object.prototype.hasOwnProperty.call(actual, key)) {
        out[key] = projected(expected[key], actual[key]);
      }
    }
    return out;
  }
  return actual;
}
