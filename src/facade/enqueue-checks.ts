import { ConfigError, shown } from '../core/errors.js';

/** `replace` is `'pending'` with a token, or left out. */
export function checkReplace(
  replace: unknown,
  idempotenceToken: string | undefined,
  where: string,
): void {
  if (replace === undefined) return;
  if (replace !== 'pending') {
    throw new ConfigError(
      `${where}: replace must be 'pending' (a still-pending attempt with the same idempotenceToken takes these arguments and due time) or left out; got ${shown(replace)}`,
    );
  }
  if (idempotenceToken === undefined) {
    throw new ConfigError(
      `${where}: replace: 'pending' needs an idempotenceToken, which names the pending attempt to replace; pass { idempotenceToken, replace: 'pending' }`,
    );
  }
}
