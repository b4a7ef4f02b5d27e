/**
 * Whether a failed statement may succeed as it is, sent again: the server timed it out, chose it
 * as a deadlock's victim, was busy, or the connection broke. Anything else (a constraint, a
 * trigger's refusal, a value it cannot take) fails again the same way. The client's codes are
 * read along the `cause` chain: drivers wrap the client's error in a DatabaseError, and Prisma
 * keeps the database's code in `meta.code`.
 */
export function transientTest(
  codes: ReadonlySet<string>,
  prefixes: readonly string[] = [],
): (error: unknown) => boolean {
  return (error) => {
    let current = error;
    for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
      const { code, errno, meta } = current as { code?: unknown; errno?: unknown; meta?: unknown };
      const metaCode = (meta as { code?: unknown } | undefined)?.code;
      for (const value of [code, errno, metaCode]) {
        if (typeof value !== 'string' && typeof value !== 'number') continue;
        const text = String(value);
        if (codes.has(text) || prefixes.some((prefix) => text.startsWith(prefix))) return true;
      }
      current = (current as { cause?: unknown }).cause;
    }
    return false;
  };
}

/** The network's own: the connection broke or could not be made. */
export const networkCodes = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
];
