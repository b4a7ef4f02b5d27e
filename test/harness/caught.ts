/**
 * The error a promise rejects with, or that a function throws or rejects with (a synchronous
 * client may refuse at the call itself rather than in the promise). Fails if there is none.
 */
export async function caught(work: Promise<unknown> | (() => unknown)): Promise<unknown> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, but the call succeeded');
}

/**
 * The error `fn` throws synchronously. Fails if `fn` returns instead (a returned promise that
 * rejects is not enough: bad input must be refused at the call itself).
 */
export function caughtSync(fn: () => unknown): unknown {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    return error;
  }
  if (result instanceof Promise) result.catch(() => undefined);
  throw new Error(
    result instanceof Promise
      ? 'expected a synchronous throw, but the call returned a promise'
      : 'expected a synchronous throw, but the call returned',
  );
}
