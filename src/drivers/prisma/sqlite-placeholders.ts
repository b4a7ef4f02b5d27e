// Until the SQLite dialect binds plain `?` with its parameters in order: its numbered `?N`
// placeholders, which Prisma's adapters bind from an array and so cannot take, made plain `?`.
import type { Statement } from '../../seam/sql-connection.js';

interface Positional {
  readonly text: string;
  /** The parameter for each `?` of `text`, by index into the dialect's parameters. */
  readonly order: readonly number[] | null;
}

const byStatement = new WeakMap<Statement, Positional>();
const digits = /\d+/y;

/** `statement` with plain `?` placeholders, and `params` in their order. */
export function sqlitePositional(
  statement: Statement,
  params: readonly unknown[],
): { text: string; params: readonly unknown[] } {
  let positional = byStatement.get(statement);
  if (!positional) byStatement.set(statement, (positional = scan(statement.text)));
  const { text, order } = positional;
  return { text, params: order === null ? params : order.map((index) => params[index]) };
}

/** String literals, quoted names and comments are left as they are. */
function scan(source: string): Positional {
  let text = '';
  const order: number[] = [];
  let numbered = false;
  let highest = 0;
  let at = 0;
  while (at < source.length) {
    const char = source[at]!;
    let end = -1;
    if (char === "'" || char === '"' || char === '`') {
      end = source.indexOf(char, at + 1);
      while (end !== -1 && source[end + 1] === char) end = source.indexOf(char, end + 2);
      end = end === -1 ? source.length : end + 1;
    } else if (char === '-' && source[at + 1] === '-') {
      end = source.indexOf('\n', at);
      if (end === -1) end = source.length;
    } else if (char === '/' && source[at + 1] === '*') {
      end = source.indexOf('*/', at + 2);
      end = end === -1 ? source.length : end + 2;
    } else if (char === '?') {
      digits.lastIndex = at + 1;
      const number = digits.exec(source)?.[0];
      numbered ||= number !== undefined;
      highest = number === undefined ? highest + 1 : Math.max(highest, Number(number));
      order.push((number === undefined ? highest : Number(number)) - 1);
      text += '?';
      at += 1 + (number?.length ?? 0);
      continue;
    }
    if (end === -1) end = at + 1;
    text += source.slice(at, end);
    at = end;
  }
  return numbered ? { text, order } : { text: source, order: null };
}
