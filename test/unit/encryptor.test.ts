import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, it, expect } from 'vitest';
import { aesGcmEncryptor } from '../../src/core/encryptor.js';
import type { Encryptor } from '../../src/core/encryptor.js';
import { ConfigError, DecryptionError } from '../../src/core/errors.js';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const PLAINTEXT = '{"customerToken":"tok_super_secret_4242","amount":1999,"note":"Zoë 🎉"}';

/** The error thrown by `fn`; fails the test if it does not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function decryptionError(encryptor: Encryptor, ciphertext: string): DecryptionError {
  const error = thrown(() => encryptor.decrypt(ciphertext));
  expect(error).toBeInstanceOf(DecryptionError);
  const decryption = error as DecryptionError;
  expect(decryption.code).toBe('DECRYPTION');
  expect(decryption.message).not.toContain('tok_super_secret');
  return decryption;
}

function configError(keys: Record<string, string | Uint8Array>, current: string): ConfigError {
  const error = thrown(() => aesGcmEncryptor({ keys, current }));
  expect(error).toBeInstanceOf(ConfigError);
  const config = error as ConfigError;
  expect(config.code).toBe('CONFIG');
  return config;
}

/** Replaces the character at `index` with a different base64url character. */
function flipChar(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

function envelopeParts(envelope: string): [string, string, string, string] {
  const parts = envelope.split(':');
  expect(parts).toHaveLength(4);
  return parts as [string, string, string, string];
}

describe('aesGcmEncryptor', () => {
  const encryptor = aesGcmEncryptor({ keys: { k1 }, current: 'k1' });

  it('round trips, synchronously', () => {
    const ciphertext = encryptor.encrypt(PLAINTEXT);
    expect(typeof ciphertext).toBe('string');
    const plaintext = encryptor.decrypt(ciphertext as string);
    expect(typeof plaintext).toBe('string');
    expect(plaintext).toBe(PLAINTEXT);
  });

  it('round trips the empty string and long text', () => {
    const long = 'x'.repeat(100_000);
    for (const text of ['', long]) {
      expect(encryptor.decrypt(encryptor.encrypt(text) as string)).toBe(text);
    }
  });

  it('writes a v1 envelope with the key id, a 12-byte IV and ciphertext plus 16-byte tag', () => {
    const [version, keyId, iv, body] = envelopeParts(encryptor.encrypt('hello') as string);
    expect(version).toBe('v1');
    expect(keyId).toBe('k1');
    expect(iv).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(iv, 'base64url')).toHaveLength(12);
    expect(body).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(body, 'base64url')).toHaveLength(5 + 16);
  });

  it('does not contain the plaintext', () => {
    const ciphertext = encryptor.encrypt(PLAINTEXT) as string;
    expect(ciphertext).not.toContain('tok_super_secret');
    expect(ciphertext).not.toContain('customerToken');
    expect(ciphertext).not.toContain(Buffer.from('tok_super_secret').toString('base64url'));
  });

  it('uses a fresh IV for every encryption', () => {
    const first = encryptor.encrypt(PLAINTEXT) as string;
    const second = encryptor.encrypt(PLAINTEXT) as string;
    expect(first).not.toBe(second);
    expect(envelopeParts(first)[2]).not.toBe(envelopeParts(second)[2]);
  });

  it('accepts keys as base64, hex or bytes, and they interoperate', () => {
    const bytes = randomBytes(32);
    const fromBase64 = aesGcmEncryptor({ keys: { k: bytes.toString('base64') }, current: 'k' });
    const fromHex = aesGcmEncryptor({ keys: { k: bytes.toString('hex') }, current: 'k' });
    const fromUpperHex = aesGcmEncryptor({
      keys: { k: bytes.toString('hex').toUpperCase() },
      current: 'k',
    });
    const fromBytes = aesGcmEncryptor({ keys: { k: new Uint8Array(bytes) }, current: 'k' });
    const ciphertext = fromBase64.encrypt(PLAINTEXT) as string;
    expect(fromHex.decrypt(ciphertext)).toBe(PLAINTEXT);
    expect(fromUpperHex.decrypt(ciphertext)).toBe(PLAINTEXT);
    expect(fromBytes.decrypt(ciphertext)).toBe(PLAINTEXT);
  });

  it('copies a Uint8Array key, so later changes to the array do not affect it', () => {
    const bytes = new Uint8Array(randomBytes(32));
    const original = aesGcmEncryptor({ keys: { k: bytes }, current: 'k' });
    const ciphertext = original.encrypt(PLAINTEXT) as string;
    bytes.fill(0);
    expect(original.decrypt(ciphertext)).toBe(PLAINTEXT);
  });

  it('does not show key material when the encryptor is inspected', () => {
    const text =
      JSON.stringify(encryptor) + inspect(encryptor, { showHidden: true, depth: Infinity });
    expect(text).not.toContain(k1);
    expect(text).not.toContain(Buffer.from(k1, 'base64').toString('hex'));
  });
});

describe('aesGcmEncryptor key rotation', () => {
  it('decrypts old and new arguments once a new key is current', () => {
    const before = aesGcmEncryptor({ keys: { k1 }, current: 'k1' });
    const old = before.encrypt(PLAINTEXT) as string;

    const after = aesGcmEncryptor({ keys: { k1, k2 }, current: 'k2' });
    const fresh = after.encrypt(PLAINTEXT) as string;
    expect(envelopeParts(fresh)[1]).toBe('k2');
    expect(after.decrypt(old)).toBe(PLAINTEXT);
    expect(after.decrypt(fresh)).toBe(PLAINTEXT);
  });

  it('throws DecryptionError naming the key when an old key was removed', () => {
    const before = aesGcmEncryptor({ keys: { k1 }, current: 'k1' });
    const old = before.encrypt(PLAINTEXT) as string;

    const withoutK1 = aesGcmEncryptor({ keys: { k2 }, current: 'k2' });
    const error = decryptionError(withoutK1, old);
    expect(error.message).toContain('"k1"');
    expect(error.message).not.toContain(k2);
  });

  it('throws DecryptionError when a key id now holds different bytes', () => {
    const before = aesGcmEncryptor({ keys: { k1 }, current: 'k1' });
    const old = before.encrypt(PLAINTEXT) as string;
    const replaced = aesGcmEncryptor({ keys: { k1: k2 }, current: 'k1' });
    expect(decryptionError(replaced, old).message).toContain('failed authentication');
  });
});

describe('aesGcmEncryptor tampering', () => {
  const encryptor = aesGcmEncryptor({ keys: { k1, k2 }, current: 'k1' });

  it('rejects a changed ciphertext', () => {
    const [version, keyId, iv, body] = envelopeParts(encryptor.encrypt(PLAINTEXT) as string);
    const tampered = [version, keyId, iv, flipChar(body, 3)].join(':');
    expect(decryptionError(encryptor, tampered).message).toContain('failed authentication');
  });

  it('rejects a changed tag', () => {
    const [version, keyId, iv, body] = envelopeParts(encryptor.encrypt(PLAINTEXT) as string);
    const tampered = [version, keyId, iv, flipChar(body, body.length - 5)].join(':');
    expect(decryptionError(encryptor, tampered).message).toContain('failed authentication');
  });

  it('rejects a changed IV', () => {
    const [version, keyId, iv, body] = envelopeParts(encryptor.encrypt(PLAINTEXT) as string);
    const tampered = [version, keyId, flipChar(iv, 0), body].join(':');
    expect(decryptionError(encryptor, tampered).message).toContain('failed authentication');
  });

  it('rejects an envelope relabelled to another key id', () => {
    const [version, , iv, body] = envelopeParts(encryptor.encrypt(PLAINTEXT) as string);
    const relabelled = [version, 'k2', iv, body].join(':');
    expect(decryptionError(encryptor, relabelled).message).toContain('"k2"');
  });

  it('rejects a relabelled envelope even when both ids hold the same key (the id is authenticated)', () => {
    const same = aesGcmEncryptor({ keys: { a: k1, b: k1 }, current: 'a' });
    const [version, , iv, body] = envelopeParts(same.encrypt(PLAINTEXT) as string);
    const relabelled = [version, 'b', iv, body].join(':');
    expect(decryptionError(same, relabelled).message).toContain('failed authentication');
  });

  it.each([
    ['plain JSON', PLAINTEXT],
    ['an empty string', ''],
    ['another version', 'v2:k1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['too few parts', 'v1:k1:AAAAAAAAAAAAAAAA'],
    ['too many parts', 'v1:k1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA:extra'],
  ])('rejects %s as not an envelope', (_label, text) => {
    expect(decryptionError(encryptor, text).message).toContain('not a v1 envelope');
  });

  it('rejects a malformed key id', () => {
    const text = 'v1:bad id!:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA';
    expect(decryptionError(encryptor, text).message).toContain('malformed key id');
  });

  it('rejects an unknown key id and names it', () => {
    const [version, , iv, body] = envelopeParts(encryptor.encrypt(PLAINTEXT) as string);
    const error = decryptionError(encryptor, [version, 'k9', iv, body].join(':'));
    expect(error.message).toContain('"k9"');
    expect(error.message).toContain('not in keys (k1, k2)');
  });

  it.each([
    ['an IV of the wrong length', 'v1:k1:AAAA:AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['an IV that is not base64url', 'v1:k1:AAAAAAAAAAAAAAA+:AAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a body shorter than the tag', 'v1:k1:AAAAAAAAAAAAAAAA:AAAA'],
    ['an empty body', 'v1:k1:AAAAAAAAAAAAAAAA:'],
    ['a body that is not base64url', 'v1:k1:AAAAAAAAAAAAAAAA:AAAAAAAA/AAAAAAAAAAAAAAA'],
  ])('rejects %s', (_label, text) => {
    expect(decryptionError(encryptor, text).message).toContain('malformed');
  });
});

describe('aesGcmEncryptor configuration', () => {
  it.each([
    ['16 bytes', new Uint8Array(16), '16 bytes'],
    ['33 bytes', new Uint8Array(33), '33 bytes'],
    ['a 32-character passphrase', 'correct-horse-battery-staple-123', '32 characters'],
    ['base64 of 16 bytes', randomBytes(16).toString('base64'), '24 characters'],
    ['base64 without padding', randomBytes(32).toString('base64').slice(0, 43), '43 characters'],
    ['base64url', 'A-_' + randomBytes(32).toString('base64').slice(3), '44 characters'],
    ['hex of 31 bytes', randomBytes(31).toString('hex'), '62 characters'],
    ['63 hex characters', randomBytes(32).toString('hex').slice(1), '63 characters'],
    ['a key with a trailing newline', `${k1}\n`, 'trailing newline'],
    ['an empty string', '', '0 characters'],
  ])('rejects %s, naming the key id but not the key', (_label, key, detail) => {
    const error = configError({ payments: key }, 'payments');
    expect(error.message).toContain('"payments"');
    expect(error.message).toContain(detail);
    expect(error.message).toContain('openssl rand -base64 32');
    if (typeof key === 'string' && key.length > 0) {
      expect(error.message).not.toContain(key.trim());
    }
  });

  it('rejects a key that is neither a string nor bytes', () => {
    const keys = { k: 42 } as unknown as Record<string, string>;
    expect(configError(keys, 'k').message).toContain('got a number');
  });

  it('rejects a current id that is not in keys', () => {
    const error = configError({ k1, k2 }, 'k3');
    expect(error.message).toContain('"k3"');
    expect(error.message).toContain('(k1, k2)');
    expect(error.message).not.toContain(k1);
  });

  it('does not print a current id that looks like key material', () => {
    const error = configError({ k1 }, k2);
    expect(error.message).not.toContain(k2);
  });

  it('rejects empty keys', () => {
    expect(configError({}, 'k1').message).toContain('keys is empty');
  });

  it.each([
    ['a space', 'my key'],
    ['a colon', 'a:b'],
    ['65 characters', 'k'.repeat(65)],
    ['the empty string', ''],
  ])('rejects a key id with %s without printing it', (_label, id) => {
    const error = configError({ [id]: k1 }, id);
    expect(error.message).toContain('not a valid key id');
    if (id !== '') expect(error.message).not.toContain(id);
  });

  it('does not print a key swapped with its id', () => {
    const error = configError({ [k1]: 'k1' }, 'k1');
    expect(error.message).not.toContain(k1);
  });

  it('accepts ids of letters, digits, "_" and "-" up to 32 characters', () => {
    const id = `${'A-z_9'.repeat(6)}ab`;
    expect(id).toHaveLength(32);
    const encryptor = aesGcmEncryptor({ keys: { [id]: k1 }, current: id });
    expect(encryptor.decrypt(encryptor.encrypt('x') as string)).toBe('x');
  });

  // Every encoding of a 32-byte key is at least 43 characters, so an id of at most 32 cannot be
  // one; the id is stored in clear in every envelope, so a key used as an id would be published.
  const hexKey = randomBytes(32).toString('hex');
  const base64urlKey = randomBytes(32).toString('base64url');
  it.each([
    ['a hex key', hexKey],
    ['an unpadded base64url key', base64urlKey],
    ['33 characters', 'k'.repeat(33)],
  ])('refuses %s as a key id, in keys, without printing it', (_label, id) => {
    for (const error of [configError({ [id]: k1 }, id), configError({ [id]: hexKey }, id)]) {
      expect(error.message).toContain('not a valid key id');
      expect(error.message).toContain('1 to 32 characters');
      expect(error.message).not.toContain(id);
    }
  });

  it.each([
    ['a hex key', hexKey],
    ['an unpadded base64url key', base64urlKey],
    ['a base64 key', k2],
  ])('never prints %s given as current, nor any key', (_label, current) => {
    const error = configError({ k1, k2: hexKey }, current);
    expect(error.message).toContain('current');
    for (const secret of [current, k1, hexKey, hexKey.toUpperCase()]) {
      expect(error.message).not.toContain(secret);
    }
  });

  it('refuses current set to one of the keys themselves, saying so without printing it', () => {
    const error = configError({ k1, k2: hexKey }, hexKey);
    expect(error.message).toMatch(/is one of the keys itself .*, not its id/);
    expect(error.message).not.toContain(hexKey);
  });

  it('refuses a key id that is the encoding of another key', () => {
    const bytes = randomBytes(32);
    const asId = bytes.toString('hex').slice(0, 32);
    // A 32-character id cannot be a whole 32-byte key: it is accepted; the full encodings are not.
    expect(() => aesGcmEncryptor({ keys: { [asId]: bytes }, current: asId })).not.toThrow();
    const error = configError({ k1: bytes, [bytes.toString('base64url')]: k1 }, 'k1');
    expect(error.message).not.toContain(bytes.toString('base64url'));
  });

  it('refuses options that are not an object, keys that are not an object, a current that is not a string', () => {
    const cases: unknown[] = [
      null,
      undefined,
      { keys: null, current: 'k1' },
      { keys: [k1], current: '0' },
      { keys: { k1 }, current: 1 },
      { keys: { k1 } },
    ];
    for (const options of cases) {
      const error = thrown(() => aesGcmEncryptor(options as never));
      expect(error, JSON.stringify(options)).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).not.toContain(k1);
    }
  });

  it('does not print an envelope key id that could be key material when decrypting', () => {
    const [version, , iv, body] = envelopeParts(
      aesGcmEncryptor({ keys: { k1 }, current: 'k1' }).encrypt(PLAINTEXT) as string,
    );
    const error = decryptionError(
      aesGcmEncryptor({ keys: { k1 }, current: 'k1' }),
      [version, hexKey, iv, body].join(':'),
    );
    expect(error.message).not.toContain(hexKey);
  });
});
