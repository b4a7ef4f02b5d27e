import { DecryptionError, describeError, errorClassName } from './errors.js';
import type { Encryptor } from './encryptor.js';

/**
 * How a failure is recorded in `last_error` for a task stored with an encryptor: its message may
 * quote the arguments (`new Error(\`declined ${JSON.stringify(args)}\`)`), so it is encrypted with
 * the task's own encryptor (`'encrypt'`), or left out and only the error's class kept (`'class'`).
 */
export type EncryptedTaskErrors = 'encrypt' | 'class';

const encryptedMarker = ': [encrypted] ';
const withheldMarker = ': [message withheld]';

/** The text a run's failure leaves in `last_error`. Never throws. */
export async function storedErrorText(
  error: unknown,
  encryptor: { readonly name: string; readonly codec: Encryptor | undefined } | null,
  mode: EncryptedTaskErrors,
): Promise<string> {
  if (encryptor === null) return describeError(error);
  const className = errorClassName(error);
  if (mode === 'class' || !encryptor.codec) return `${className}${withheldMarker}`;
  try {
    const envelope = await encryptor.codec.encrypt(describeError(error));
    if (typeof envelope === 'string') return `${className}${encryptedMarker}${envelope}`;
  } catch {
    // An encryptor that fails here fails on the arguments too; keep the class, never the text.
  }
  return `${className}${withheldMarker}`;
}

/**
 * What `get`, `list`, events and the CLI show of an encrypted error text: the class. Read from
 * the text, not the task: a `replace` that made an encrypted task plain keeps its earlier runs'
 * errors as they were written.
 */
export function shownErrorText(lastError: string | null): string | null {
  if (lastError === null) return lastError;
  const at = lastError.indexOf(encryptedMarker);
  return at < 0 ? lastError : `${lastError.slice(0, at)}: [encrypted]`;
}

/** Whether an error text holds an encrypted message. */
export function isEncryptedErrorText(text: string | null): boolean {
  return text !== null && text.includes(encryptedMarker);
}

/** The decrypted `last_error` of an encrypted task (an operator's explicit action). */
export async function decryptedErrorText(
  lastError: string | null,
  encryptorName: string,
  codec: Encryptor | undefined,
): Promise<string | null> {
  if (lastError === null) return null;
  const at = lastError.indexOf(encryptedMarker);
  if (at < 0) return lastError;
  if (!codec) {
    throw new DecryptionError(
      `the last error was encrypted with encryptor '${encryptorName}', which this AsyncTask does not have; add it to \`encryptors\``,
    );
  }
  try {
    return await codec.decrypt(lastError.slice(at + encryptedMarker.length));
  } catch (error) {
    throw new DecryptionError(
      `encryptor '${encryptorName}' could not decrypt the last error (a key no longer in \`keys\`, or a text altered in the table; the cause says which)`,
      { cause: error },
    );
  }
}

/**
 * What worker events and logs carry of an encrypted task's failure: an error of the same class
 * name whose message says it was withheld. The thrown value itself reaches only the `onError`
 * hook, which, like the handler, is the user's own code.
 */
export function withheldError(error: unknown, attemptId: string): Error {
  const withheld = new Error(
    `message withheld: attempt ${attemptId} is encrypted (tasks.decryptLastError('${attemptId}') reads it)`,
  );
  withheld.name = errorClassName(error);
  // A constant-looking code (TIMEOUT, DECRYPTION, a user's E_DECLINED) says what happened without
  // the message; listeners test it.
  let code: unknown;
  try {
    code = (error as { code?: unknown } | null)?.code;
  } catch {
    // a Proxy or a getter that throws: no code
  }
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code)) {
    Object.assign(withheld, { code });
  }
  return withheld;
}
