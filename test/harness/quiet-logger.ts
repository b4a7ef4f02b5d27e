import type { Logger } from '../../src/index.js';

const quiet = (): void => undefined;

/** A logger that says nothing, but for the levels given. */
export function quietLogger(levels: Partial<Logger> = {}): Logger {
  return { debug: quiet, info: quiet, warn: quiet, error: quiet, ...levels };
}
