// What worker events carry of an encrypted task's failure: the class, and a code that reads as a
// constant; never the message, nor a code that may hold data.
import { describe, expect, it } from 'vitest';
import { withheldError } from '../../src/core/error-text.js';
import { DecryptionError, TaskTimeoutError } from '../../src/index.js';

describe('withheldError', () => {
  it("keeps the library's codes and constant-looking ones of the user's", () => {
    for (const [error, code] of [
      [new DecryptionError('key "k1" is not in keys (k2)'), 'DECRYPTION'],
      [new TaskTimeoutError('the run passed its time limit of 5 ms'), 'TIMEOUT'],
      [Object.assign(new Error('declined 4111'), { code: 'E_DECLINED' }), 'E_DECLINED'],
    ] as const) {
      const withheld = withheldError(error, '7');
      expect(withheld).toMatchObject({ name: error.name, code });
      expect(withheld.message).toBe(
        "message withheld: attempt 7 is encrypted (tasks.decryptLastError('7') reads it)",
      );
    }
  });

  it('drops a code that may be data, and one that cannot be read', () => {
    for (const code of ['card 4111', '4111111111111111', 'declined-for-zoë', 42, 'A'.repeat(65)]) {
      expect(withheldError(Object.assign(new Error('x'), { code }), '7')).not.toHaveProperty(
        'code',
      );
    }
    const hostile = new Proxy(new Error('x'), {
      get: () => {
        throw new Error('trap');
      },
    });
    expect(() => withheldError(hostile, '7')).not.toThrow();
  });
});
