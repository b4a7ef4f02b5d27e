import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ConfigError, DecryptionError } from './errors.js';
import { checkOptionNames, optionNames } from './options.js';

/**
 * Encrypts task arguments at rest.
 *
 * `encrypt` receives the JSON text of the arguments and returns the text stored in the
 * `method_args` column instead; `decrypt` receives that stored text back and returns the JSON.
 * Both may be synchronous or return a promise (e.g. to call a key-management service). The
 * ciphertext must be text, so encode binary output (base64 or base64url).
 *
 * An error thrown by `decrypt` (wrong key, tampered data, unknown format) is reported as a
 * `DecryptionError` with the original error as its `cause`, so the message of that error must not
 * contain plaintext or key material.
 *
 * @example
 * const encryptor: Encryptor = aesGcmEncryptor({
 *   keys: { '2024-06': process.env.TASK_KEY_2024_06! },
 *   current: '2024-06',
 * });
 */
export interface Encryptor {
  /** Returns the text to store in place of `plaintext` (the JSON of the arguments). */
  encrypt(plaintext: string): string | Promise<string>;
  /** Returns the plaintext given to `encrypt`; throws if `ciphertext` cannot be authenticated. */
  decrypt(ciphertext: string): string | Promise<string>;
}

/** Options of {@link aesGcmEncryptor}. */
export interface AesGcmEncryptorOptions {
  /**
   * The keys, by id. Each key is 32 bytes: a `Uint8Array`, or a string of 44 base64 characters or
   * 64 hex characters (generate one with `openssl rand -base64 32`). Ids are 1 to 32 characters
   * of `A-Z a-z 0-9 _ -` (a name or a date such as `2024-06`, never the key itself) and are
   * stored, in clear, in every envelope.
   */
  keys: Record<string, string | Uint8Array>;
  /** The id of the key that encrypts new arguments. The other keys only decrypt. */
  current: string;
}

const VERSION = 'v1';
// At most 32 characters: every text encoding of a 32-byte key is at least 43 characters long, so
// a key pasted where an id belongs is refused instead of being written, in clear, into envelopes.
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_ID_RULE =
  'A key id is a short name for the key, such as "2024-06": 1 to 32 characters of A-Z, a-z, 0-9, "_" and "-", never the key itself.';
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const GENERATE_HINT = 'Generate a key with: openssl rand -base64 32';

const encryptorOptionNames = optionNames<AesGcmEncryptorOptions>({ keys: true, current: true });

/**
 * An {@link Encryptor} using AES-256-GCM from `node:crypto`, with key rotation.
 *
 * Each encryption uses a fresh random 12-byte IV and produces the envelope
 * `v1:<keyId>:<base64url IV>:<base64url ciphertext and 16-byte tag>`. The key id is
 * authenticated (GCM additional data), so an envelope cannot be relabelled to another key.
 *
 * To rotate, add a new key and make it `current`: new arguments use it, and arguments already
 * stored under older keys still decrypt as long as those keys stay in `keys`.
 *
 * `encrypt` and `decrypt` are synchronous. `decrypt` throws a `DecryptionError` for an unknown key
 * id, a malformed envelope or data that fails authentication.
 *
 * @throws `ConfigError` if a key id is invalid, a key is not 32 bytes in one of the accepted
 * forms, or `current` is not one of the ids in `keys`. Messages never contain key material.
 *
 * @example
 * const encryptor = aesGcmEncryptor({
 *   keys: {
 *     '2024-01': process.env.TASK_KEY_2024_01!, // still decrypts older tasks
 *     '2024-06': process.env.TASK_KEY_2024_06!,
 *   },
 *   current: '2024-06',
 * });
 */
export function aesGcmEncryptor(options: AesGcmEncryptorOptions): Encryptor {
  return new AesGcmEncryptor(options);
}

class AesGcmEncryptor implements Encryptor {
  readonly #keys = new Map<string, KeyObject>();
  readonly #currentId: string;
  readonly #currentKey: KeyObject;

  constructor(options: AesGcmEncryptorOptions) {
    // Plain JavaScript callers get a ConfigError, not a TypeError, for a missing options object.
    const given: unknown = options;
    if (typeof given !== 'object' || given === null) {
      throw new ConfigError(
        `aesGcmEncryptor: pass an options object { keys: { <id>: <key> }, current: <id> }. ${GENERATE_HINT}`,
      );
    }
    checkOptionNames(options, encryptorOptionNames, 'aesGcmEncryptor');
    const keys: unknown = options.keys;
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
      throw new ConfigError(
        `aesGcmEncryptor: keys must be an object of keys by id, such as { '2024-06': key }. ${GENERATE_HINT}`,
      );
    }
    const entries = Object.entries(keys as Record<string, unknown>);
    if (entries.length === 0) {
      throw new ConfigError(`aesGcmEncryptor: keys is empty. ${GENERATE_HINT}`);
    }
    entries.forEach(([id, material], position) => {
      if (!KEY_ID.test(id)) {
        // The id is not printed: a mix-up of ids and keys would otherwise print key material.
        throw new ConfigError(
          `aesGcmEncryptor: key id number ${position + 1} in keys (${id.length} characters) is not ` +
            `a valid key id. ${KEY_ID_RULE}`,
        );
      }
      this.#keys.set(id, parseKey(id, material));
    });

    const currentId: unknown = options.current;
    if (typeof currentId !== 'string') {
      throw new ConfigError(
        `aesGcmEncryptor: current must be the id of the key for new writes, one of keys ` +
          `(${[...this.#keys.keys()].join(', ')}), but got ${currentId === null ? 'null' : `a ${typeof currentId}`}.`,
      );
    }
    const current = this.#keys.get(currentId);
    if (current === undefined) {
      // Never echo current unless it is a well-formed id: it may be a key pasted in the wrong place.
      const isKey = isOneOf(currentId, [...this.#keys.values()]);
      const ids = [...this.#keys.keys()].join(', ');
      const wellFormed = KEY_ID.test(currentId);
      const problem = isKey
        ? `is one of the keys itself (${currentId.length} characters, not shown), not its id`
        : wellFormed
          ? `"${currentId}" is not one of the ids in keys`
          : `(${currentId.length} characters, not shown) is not a valid key id nor one of the ids in keys`;
      throw new ConfigError(
        `aesGcmEncryptor: current ${problem}. Set current to the id of the key for new writes, ` +
          `one of (${ids}).${isKey || !wellFormed ? ` ${KEY_ID_RULE}` : ''}`,
      );
    }
    this.#currentId = currentId;
    this.#currentKey = current;
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#currentKey, iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(this.#currentId, 'utf8'));
    const body = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `${VERSION}:${this.#currentId}:${iv.toString('base64url')}:${body.toString('base64url')}`;
  }

  decrypt(ciphertext: string): string {
    const parts = ciphertext.split(':');
    const [version, keyId, ivText, bodyText] = parts;
    if (
      parts.length !== 4 ||
      version !== VERSION ||
      keyId === undefined ||
      ivText === undefined ||
      bodyText === undefined
    ) {
      throw new DecryptionError(
        'aesGcmEncryptor: the stored arguments are not a v1 envelope ' +
          '("v1:<keyId>:<iv>:<ciphertext>"). They were written by another encryptor, ' +
          'without encryption, or changed in the database.',
      );
    }
    if (!KEY_ID.test(keyId)) {
      // Not printed: an id this long could be key material written by a misconfigured encryptor.
      throw new DecryptionError(
        `aesGcmEncryptor: the stored envelope has a malformed key id (${keyId.length} characters, ` +
          `not shown; ids are 1 to 32 characters of A-Z, a-z, 0-9, "_" and "-"). It was written ` +
          'by another encryptor or changed in the database.',
      );
    }
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      throw new DecryptionError(
        `aesGcmEncryptor: the arguments were encrypted with key "${keyId}", which is not in keys ` +
          `(${[...this.#keys.keys()].join(', ')}). Add that key to keys; keep retired keys until ` +
          'no stored task uses them.',
      );
    }
    const iv = decodeBase64url(ivText);
    const body = decodeBase64url(bodyText);
    if (iv?.length !== IV_BYTES || body === undefined || body.length < TAG_BYTES) {
      throw new DecryptionError(
        `aesGcmEncryptor: the stored envelope for key "${keyId}" is malformed (bad IV or ` +
          'ciphertext encoding or length); it was changed in the database.',
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      const plaintext = Buffer.concat([
        decipher.update(body.subarray(0, body.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return plaintext.toString('utf8');
    } catch (error) {
      throw new DecryptionError(
        `aesGcmEncryptor: the arguments stored under key "${keyId}" failed authentication: ` +
          `they were changed in the database, or the key now configured as "${keyId}" is not ` +
          'the one they were encrypted with.',
        { cause: error },
      );
    }
  }
}

function parseKey(id: string, material: unknown): KeyObject {
  let bytes: Buffer | undefined;
  let got: string;
  if (material instanceof Uint8Array) {
    got = `${material.length} bytes`;
    if (material.length === KEY_BYTES) bytes = Buffer.from(material);
  } else if (typeof material === 'string') {
    got = `a string of ${material.length} characters`;
    if (/\s/.test(material)) got += ' including whitespace (a trailing newline?)';
    if (BASE64_KEY.test(material)) bytes = Buffer.from(material, 'base64');
    else if (HEX_KEY.test(material)) bytes = Buffer.from(material, 'hex');
  } else {
    got = material === null ? 'null' : `a ${typeof material}`;
  }
  if (bytes?.length !== KEY_BYTES) {
    throw new ConfigError(
      `aesGcmEncryptor: key "${id}" is not a valid AES-256 key: expected 32 bytes, as a ` +
        `Uint8Array or a string of 44 base64 or 64 hex characters, but got ${got}. ${GENERATE_HINT}`,
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

/**
 * Whether `text` is one of `keys` written in hex, base64 or base64url (padded or not): only to
 * say so in the error instead of "unknown id". Compares bytes, so no encoded copy of a key is made.
 */
function isOneOf(text: string, keys: readonly KeyObject[]): boolean {
  const candidates = [
    HEX_KEY.test(text) ? Buffer.from(text, 'hex') : undefined,
    /^[A-Za-z0-9+/_-]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined,
  ];
  let found = false;
  for (const candidate of candidates) {
    if (candidate?.length !== KEY_BYTES) continue;
    for (const key of keys) {
      const bytes = key.export();
      if (timingSafeEqual(bytes, candidate)) found = true;
      bytes.fill(0);
    }
    candidate.fill(0);
  }
  return found;
}

function decodeBase64url(text: string): Buffer | undefined {
  return BASE64URL.test(text) ? Buffer.from(text, 'base64url') : undefined;
}
