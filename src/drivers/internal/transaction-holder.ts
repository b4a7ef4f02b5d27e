// Work started inside a transaction's body, on a database the driver reaches through one
// connection (SQLite), must run inside that transaction: waiting for the connection, it would wait
// for itself. The body's async call chain says which transaction that is.
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The transaction whose body the current call chain runs in. On Node 20 an AsyncLocalStorage in
 * use turns promise hooks on for the whole process (a call into JavaScript at every promise
 * made, 0.4 KB and about a microsecond per no-op task in a drain), so this one is in use only
 * while a body runs, and turned off when the last one ends.
 */
export class TransactionHolder<T> {
  readonly #storage = new AsyncLocalStorage<{ readonly value: T; active: boolean }>();
  #bodies = 0;

  /** The transaction of the body this call chain runs in, if one is still running. */
  current(): T | undefined {
    if (this.#bodies === 0) return undefined;
    const hold = this.#storage.getStore();
    return hold?.active === true ? hold.value : undefined;
  }

  /** Runs `body` as the body of transaction `value`. */
  async run<R>(value: T, body: () => Promise<R>): Promise<R> {
    // `active` turns false at the end: work the body left running must not use a finished one.
    const hold = { value, active: true };
    this.#bodies += 1;
    try {
      return await this.#storage.run(hold, body);
    } finally {
      hold.active = false;
      this.#bodies -= 1;
      if (this.#bodies === 0) this.#storage.disable();
    }
  }
}
