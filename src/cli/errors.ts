import { inspect } from 'node:util';
import { printable } from './format.js';

/** Exit codes of the `async-task` command. */
export const exitCode = {
  ok: 0,
  /** Something went wrong while doing the work: the database, the state of an attempt, a check. */
  failure: 1,
  /** The command line itself is wrong: unknown command or option, a bad value. */
  usage: 2,
} as const;

/** A mistake on the command line, found after commander parsed it (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An operational failure the CLI itself detects (exit code 1). */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** The exit code an error thrown by a command maps to. */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? exitCode.usage : exitCode.failure;
}

/**
 * One line that says what went wrong. Client errors often say little on their own (node-postgres
 * reports a refused connection to a host with several addresses as an AggregateError with an
 * empty message), so causes are appended when they add something.
 */
export function describeForCli(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth += 1) {
    const text = ownMessage(current);
    if (text !== '' && !parts.some((part) => part.includes(text))) parts.push(text);
    current = current instanceof Error ? current.cause : undefined;
  }
  const line = parts.map((part) => part.replace(/[:\s]+$/, '')).join(': ');
  // A message may quote stored or client text: escaped, so it cannot act on the terminal.
  return printable((line === '' ? 'unknown error' : line).replace(/\s*\n\s*/g, ' ').trim());
}

function ownMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return [...new Set(error.errors.map(ownMessage).filter((m) => m !== ''))].join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

/** The full story for `--verbose`: each error's stack, then its cause's. */
export function describeVerbose(error: unknown): string {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth += 1) {
    if (depth > 0) lines.push('caused by:');
    lines.push(current instanceof Error ? (current.stack ?? current.message) : inspect(current));
    if (current instanceof AggregateError) {
      for (const inner of current.errors) lines.push(`  - ${describeForCli(inner)}`);
    }
    current = current instanceof Error ? current.cause : undefined;
  }
  return lines.join('\n');
}
