import { ConfigError, shown } from '../core/errors.js';
import { checkOptionNames, optionNames } from '../core/options.js';
import { characterCount, unstorableCharacter } from '../core/storable-text.js';
import type { EnqueueItem, EnqueueOptions } from './enqueuer.js';

const enqueueOptionNames = optionNames<EnqueueOptions>({
  idempotenceToken: true,
  replace: true,
  scheduledAt: true,
  encryptor: true,
  maxAttempts: true,
  queue: true,
  priority: true,
  concurrencyKey: true,
});

const useScheduledAt = 'use scheduledAt, a Date';
const useToken = 'use idempotenceToken';
const useMaxAttempts = 'use maxAttempts, the most runs in all';
const perMethod =
  "set timeoutMs on the method or target in defineTarget, or the worker's taskTimeoutMs";
/** Names other queues use, and what to write here instead. */
const enqueueHints: Readonly<Record<string, string>> = {
  runAt: useScheduledAt,
  startAfter: useScheduledAt,
  delay: useScheduledAt,
  delayMs: useScheduledAt,
  jobKey: useToken,
  singletonKey: useToken,
  uniqueKey: useToken,
  idempotencyKey: useToken,
  attempts: useMaxAttempts,
  retryLimit: useMaxAttempts,
  maxRetries: useMaxAttempts,
  timeoutMs: perMethod,
  timeout: perMethod,
  queueName: 'use queue',
};

const itemNames = optionNames<EnqueueItem<unknown>>({ method: true, args: true, options: true });

/** Refuses an `enqueue` option that is none (a typo, or another queue's name for one). */
export function checkEnqueueOptionNames(options: unknown, where: string): void {
  checkOptionNames(options, enqueueOptionNames, where, enqueueHints);
}

/** Refuses an `enqueueMany` item with a key other than method, args and options. */
export function checkItemKeys(item: unknown, where: string): void {
  checkOptionNames(item, itemNames, where, {}, 'key');
}

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

const maxTokenLength = 255;

/** An idempotence token is 1-255 characters of text every database stores as it is. */
export function checkToken(idempotenceToken: unknown, where: string): void {
  if (
    typeof idempotenceToken !== 'string' ||
    idempotenceToken.length === 0 ||
    characterCount(idempotenceToken) > maxTokenLength
  ) {
    throw new ConfigError(
      `${where}: idempotenceToken must be a string of 1-${maxTokenLength} characters`,
    );
  }
  // Databases store text as UTF-8, where half a surrogate pair has no encoding: drivers write
  // U+FFFD instead, so the token stored is not the one given and two tokens can become one.
  const unstorable = unstorableCharacter(idempotenceToken);
  if (unstorable === 'lone surrogate') {
    throw new ConfigError(
      `${where}: idempotenceToken contains a lone surrogate (half of a UTF-16 pair, e.g. from cutting a string inside an emoji), which cannot be stored as UTF-8; pass well-formed text (token.toWellFormed() replaces it with U+FFFD)`,
    );
  }
  if (unstorable === 'NUL') {
    throw new ConfigError(
      `${where}: idempotenceToken contains NUL (\\u0000), which PostgreSQL cannot store in text; leave it out of the token`,
    );
  }
}
