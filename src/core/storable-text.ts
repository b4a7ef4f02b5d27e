/* eslint-disable no-control-regex -- NUL is the very character to find */
/** A lone surrogate (no UTF-8 encoding) or NUL (PostgreSQL's text cannot hold it). */
const unstorable = /[\p{Surrogate}\u0000]/u;
const unstorableAll = /[\p{Surrogate}\u0000]/gu;
/* eslint-enable no-control-regex */

/**
 * `text` as every database can store it: at most `max` UTF-16 code units, never half of a
 * surrogate pair, and each lone surrogate or NUL replaced by U+FFFD. Error messages are free
 * text: one cut inside an emoji, or holding NUL, made the outcome write fail on PostgreSQL and
 * MySQL, and the worker retried it forever with every outcome behind it.
 */
export function storableText(text: string, max: number): string {
  let cut = text;
  if (text.length > max) {
    const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max;
    cut = text.slice(0, end);
  }
  return unstorable.test(cut) ? cut.replace(unstorableAll, '\uFFFD') : cut;
}

/**
 * Which character of `text` no database stores as text, where a value must be kept exactly as
 * given (a token, a key) rather than mended: a lone surrogate first, then NUL.
 */
export function unstorableCharacter(text: string): 'lone surrogate' | 'NUL' | undefined {
  if (!unstorable.test(text)) return undefined;
  return /\p{Surrogate}/u.test(text) ? 'lone surrogate' : 'NUL';
}

/**
 * How many characters (code points) `text` holds, as the databases count a column's length and
 * as the SQL enqueue functions check it: an emoji is one, where `.length` counts two.
 */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}
