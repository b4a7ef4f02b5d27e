// Decrypting a claimed attempt's arguments, bounded like a handler: for the worker's runs and for
// async-task/testing's look at what was enqueued.
import type { AttemptRecord } from '../core/attempt.js';
import { decodeArgs } from '../core/codec.js';
import { DecryptionError } from '../core/errors.js';
import type { Runtime } from './runtime.js';
import { settle } from './settle.js';

/**
 * Arguments stored with an encryptor (NULL, "no arguments", never reaches here), the encryptor
 * bounded by `timeoutMs`; every failure is a DecryptionError that names the attempt.
 */
export async function decryptArgs(
  runtime: Runtime,
  record: AttemptRecord,
  timeoutMs: number,
): Promise<unknown> {
  const encryptor = runtime.encryptors.get(record.encryptor!);
  if (!encryptor) {
    throw new DecryptionError(
      `attempt ${record.id} was encrypted with encryptor '${record.encryptor}', which this AsyncTask does not have; add it to \`encryptors\``,
    );
  }
  let text: unknown;
  const settled = await settle(() => {
    const value = encryptor.decrypt(record.methodArgs!);
    return Promise.resolve(value).then((plain) => (text = plain));
  }, timeoutMs);
  if (settled.threw || settled.timedOut) {
    if (settled.error instanceof DecryptionError) throw settled.error;
    throw new DecryptionError(
      settled.timedOut
        ? `encryptor '${record.encryptor}' did not decrypt the arguments of attempt ${record.id} within ${timeoutMs} ms`
        : `encryptor '${record.encryptor}' could not decrypt the arguments of attempt ${record.id}`,
      settled.timedOut ? undefined : { cause: settled.error },
    );
  }
  if (typeof text !== 'string') {
    throw new DecryptionError(
      `encryptor '${record.encryptor}' returned ${typeof text} instead of a string for attempt ${record.id}`,
    );
  }
  return decodeArgs(text);
}
