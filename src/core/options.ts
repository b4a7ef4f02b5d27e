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
