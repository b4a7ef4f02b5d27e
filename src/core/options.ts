import { ConfigError, shown } from './errors.js';

/**
 * Reads integer options of one component (`where`, e.g. `'worker'`): the value or its fallback,
 * refused with a ConfigError naming the option and its range when outside it.
 */
export function integerOption(
  where: string,
): (value: number | undefined, fallback: number, name: string, min: number, max: number) => number {
  return (value, fallback, name, min, max) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(
        `${where}: ${name} must be an integer from ${min} to ${max}, got ${shown(v)}`,
      );
    }
    return v;
  };
}

/**
 * The option names of `T`, each listed once: the compiler refuses a list that misses one, so an
 * option added to the type is never refused at run time.
 */
export function optionNames<T>(names: { readonly [K in keyof Required<T>]: true }): OptionNames {
  return new Set(Object.keys(names));
}

export type OptionNames = ReadonlySet<string>;

/**
 * Refuses an options object holding a key that is none of `names` (or a value that is no object). A misspelt or foreign option
 * (`concurency`, `runAt`) would otherwise be dropped without a word: TypeScript flags extra keys
 * in object literals only, and not at all in JavaScript. Inherited enumerable keys count too, as
 * destructuring reads them. `hints` gives advice for names users bring from elsewhere; other
 * names get the nearest option, if one is close.
 */
export function checkOptionNames(
  value: unknown,
  names: OptionNames,
  where: string,
  hints: Readonly<Record<string, string>> = {},
  noun = 'option',
): void {
  // A Map's entries (or a Date's, a Set's) are not its keys: every option would be left out.
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    value instanceof Map ||
    value instanceof Set ||
    value instanceof Date ||
    value instanceof RegExp
  ) {
    throw new ConfigError(`${where}: ${noun}s must be an object, got ${shown(value)}`);
  }
  let unknown: string[] | undefined;
  for (const key in value) {
    if (!names.has(key)) (unknown ??= []).push(key);
  }
  if (unknown === undefined) return;
  const described = unknown.map((key) => {
    const hint = Object.hasOwn(hints, key) ? hints[key] : nearest(key, names);
    return hint === undefined ? key : `${key} (${hint})`;
  });
  throw new ConfigError(
    `${where}: unknown ${noun}(s) ${described.join(', ')}; the ${noun}s are ${[...names].join(', ')}`,
  );
}

/** "did you mean x?" for the option within two edits of `key` (case aside), if there is one. */
function nearest(key: string, names: OptionNames): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best === undefined ? undefined : `did you mean ${best}?`;
}

/** Levenshtein distance: insertions, deletions and substitutions of one character each. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
