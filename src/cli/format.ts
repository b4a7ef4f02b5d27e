import type { Attempt, RunRecord } from '../core/attempt.js';
import { storableText } from '../core/storable-text.js';

/**
 * An attempt as the CLI prints it in JSON: dates as ISO strings. Arguments are included only for
 * plain attempts; an encrypted attempt's arguments are never decrypted by the CLI (its `args` is
 * left out and `encryptor` names the codec).
 */
export function attemptJson(attempt: Attempt): Record<string, unknown> {
  return {
    id: attempt.id,
    status: attempt.status,
    target: attempt.target,
    methodName: attempt.methodName,
    ...(attempt.encryptor === null ? { args: attempt.args ?? null } : {}),
    encryptor: attempt.encryptor,
    numAttempts: attempt.numAttempts,
    maxAttempts: attempt.maxAttempts,
    queue: attempt.queue,
    priority: attempt.priority,
    idempotenceToken: attempt.idempotenceToken,
    scheduledAt: attempt.scheduledAt.toISOString(),
    completedAt: attempt.completedAt?.toISOString() ?? null,
    lastError: attempt.lastError,
    progress: attempt.progress,
    progressMessage: attempt.progressMessage,
    runs: attempt.runs.map((run) => ({
      ...run,
      startedAt: run.startedAt?.toISOString() ?? null,
      endedAt: run.endedAt.toISOString(),
    })),
    createdAt: attempt.createdAt.toISOString(),
    updatedAt: attempt.updatedAt.toISOString(),
  };
}

/**
 * Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts colour, cursor
 * and title sequences; CSI is U+009B), DEL, the line and paragraph separators, and the bidi marks,
 * embeddings, overrides and isolates that reorder the text after them.
 */
const unsafe =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Stored text (an error message, a token, a name) made safe to print for a human: a newline
 * becomes `⏎`, a tab `\t`, a carriage return `\r`, and any other character above `\xNN` or
 * `\uNNNN`, visibly, so a message cannot fake another line, clear the screen or reorder the text.
 * JSON output needs none of this: JSON.stringify escapes what it must and keeps the exact text.
 */
export function printable(text: string): string {
  return text.replace(unsafe, (char) => {
    if (char === '\n') return '⏎';
    if (char === '\t') return '\\t';
    if (char === '\r') return '\\r';
    const code = char.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
  });
}

/** `2024-05-01 12:00:00Z`: UTC to the second, readable in a table. */
export function shortTime(date: Date): string {
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** Cuts `text` to `width` characters, ending in `…` when cut; control characters escaped. */
export function clip(text: string, width: number): string {
  const flat = printable(text).replace(/\s+/g, ' ');
  return flat.length <= width ? flat : `${storableText(flat, width - 1)}…`;
}

/** Left-aligned columns with two spaces between them; numeric columns right-aligned. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  numeric: ReadonlySet<number> = new Set(),
): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return numeric.has(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The rows of `async-task list`. */
export function attemptTable(attempts: readonly Attempt[]): string[] {
  return table(
    ['ID', 'STATUS', 'TASK', 'QUEUE', 'TRIES', 'CREATED', 'LAST ERROR'],
    attempts.map((a) => [
      printable(a.id),
      printable(a.status),
      clip(`${a.target}.${a.methodName}`, 40),
      clip(a.queue, 100),
      `${a.numAttempts}/${a.maxAttempts}`,
      shortTime(a.createdAt),
      a.lastError === null ? '' : clip(a.lastError, 60),
    ]),
    new Set([0]),
  );
}

/** `40% resized 4 of 10`: the percentage to a tenth, then the message; `-` when none reported. */
export function progressText(a: Pick<Attempt, 'progress' | 'progressMessage'>): string {
  if (a.progress === null) return '-';
  const percent = `${Math.round(a.progress * 1000) / 10}%`;
  return a.progressMessage ? `${percent} ${a.progressMessage}` : percent;
}

/** The lines of `async-task show`. */
/** Who holds an attempt's lease and until when (`show` reads it; list and get do not). */
export interface LeaseFields {
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
}

export function attemptDetails(a: Attempt, lease?: LeaseFields): string[] {
  const fields: [string, string][] = [
    ['status', a.status],
    ...(lease === undefined ? [] : [['lease', leaseText(lease)] as [string, string]]),
    ['task', `${a.target}.${a.methodName}`],
    [
      'args',
      a.encryptor !== null
        ? `(encrypted with '${a.encryptor}'; not shown)`
        : a.args === undefined
          ? '(none)'
          : // JSON escapes C0 controls but not C1, the separators or bidi characters.
            JSON.stringify(a.args),
    ],
    ['queue', `${a.queue} (priority ${a.priority})`],
    ['attempts', `${a.numAttempts} of ${a.maxAttempts}`],
    ['progress', progressText(a)],
    ['idempotence token', a.idempotenceToken ?? '(none)'],
    ['scheduled at', a.scheduledAt.toISOString()],
    ['completed at', a.completedAt?.toISOString() ?? '-'],
    ['last error', a.lastError ?? '-'],
    ['created at', a.createdAt.toISOString()],
    ['updated at', a.updatedAt.toISOString()],
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  return [
    `attempt ${printable(a.id)}`,
    ...fields.map(([name, value]) => `  ${name.padEnd(width)}  ${printable(value)}`),
    ...runLines(a.runs),
  ];
}

function leaseText({ lockedBy, lockedUntil }: LeaseFields): string {
  if (lockedBy === null || lockedUntil === null) return '-';
  const left = lockedUntil.getTime() - Date.now();
  return `held by ${lockedBy} until ${lockedUntil.toISOString()} (${left >= 0 ? `${Math.ceil(left / 1000)} s left` : `expired ${Math.ceil(-left / 1000)} s ago: a worker rescues it`})`;
}

/** The run history under `show`: one line per run, then its error, indented. */
function runLines(runs: readonly RunRecord[]): string[] {
  if (runs.length === 0) return ['  runs (not succeeded): none'];
  const lines = ['  runs (not succeeded, oldest first; the last 20 are kept):'];
  for (const run of runs) {
    const started = run.startedAt === null ? 'start unknown' : run.startedAt.toISOString();
    const took =
      run.startedAt === null ? '' : ` (${run.endedAt.getTime() - run.startedAt.getTime()} ms)`;
    lines.push(
      printable(
        `    #${run.n} ${run.outcome} by ${run.by ?? '?'}: ${started} to ${run.endedAt.toISOString()}${took}`,
      ),
    );
    if (run.error !== null) lines.push(`      ${printable(run.error)}`);
  }
  return lines;
}
