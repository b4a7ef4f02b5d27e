import { ConfigError, describeError } from '../core/errors.js';
import type { Unlisten } from '../seam/driver.js';
import type { Runtime } from './runtime.js';

/**
 * Keeps a LISTEN subscription alive: when the listening connection breaks it resubscribes with
 * backoff, and polling covers the gap. Calls `onWake(queue)` for each notification.
 */
export class Notifier {
  readonly #runtime: Runtime;
  readonly #channel: string;
  readonly #onWake: (queue: string) => void;
  readonly #onError: (error: unknown) => void;
  #unlisten: Unlisten | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #delay = 100;

  constructor(
    runtime: Runtime,
    channel: string,
    onWake: (queue: string) => void,
    onError: (error: unknown) => void,
  ) {
    this.#runtime = runtime;
    this.#channel = channel;
    this.#onWake = onWake;
    this.#onError = onError;
  }

  /** Subscribed now: notifications arrive. */
  get listening(): boolean {
    return this.#unlisten !== undefined;
  }

  /** Subscribes; resolves once LISTEN is in place (or failed, with a retry scheduled). */
  async start(): Promise<void> {
    const driver = this.#runtime.driver;
    if (!driver.listen || this.#closed) return;
    try {
      this.#unlisten = await driver.listen(
        this.#channel,
        (payload) => this.#onWake(payload),
        (error) => {
          this.#unlisten = undefined;
          this.#onError(error);
          this.#schedule();
        },
      );
      if (this.#closed) {
        // close() came while LISTEN was being set up, and found nothing to undo yet.
        await this.#unlisten().catch(() => undefined);
        this.#unlisten = undefined;
        return;
      }
      this.#delay = 100;
      // Anything committed while we were not listening would otherwise wait for the next poll.
      this.#onWake('');
    } catch (error) {
      // A setting that no retry mends: the worker's start() fails with it.
      if (error instanceof ConfigError) throw error;
      this.#onError(error);
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#closed || this.#retry) return;
    this.#runtime.logger.warn(
      { retryInMs: this.#delay },
      'LISTEN connection lost; polling until it is back',
    );
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.start().catch((error: unknown) => this.#onError(error));
    }, this.#delay);
    this.#delay = Math.min(this.#delay * 2, 10_000);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const unlisten = this.#unlisten;
    this.#unlisten = undefined;
    await unlisten?.().catch((error: unknown) =>
      this.#runtime.logger.debug({ error: describeError(error) }, 'UNLISTEN failed'),
    );
  }
}
