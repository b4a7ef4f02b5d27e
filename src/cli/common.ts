import { InvalidArgumentError, Option, type Command } from 'commander';
import { AsyncTask, type AsyncTaskOptions } from '../async-task.js';
import { isAttemptId } from '../core/attempt.js';
import { ConfigError } from '../core/errors.js';
import type { Encryptor } from '../core/encryptor.js';
import { parseTableName } from '../core/table-name.js';
import { openDatabase, type OpenedDatabase, type OpenOptions } from './database.js';
import { UsageError } from './errors.js';
import { printable } from './format.js';

/** Options every command that talks to the database has. */
export interface ConnectionOptions {
  readonly databaseUrl?: string;
  readonly table: string;
}

export interface JsonOption {
  readonly json?: boolean;
}

export const defaultTable = 'async_task_attempts';

/** `--database-url` (or `DATABASE_URL`) and `--table`. */
export function addConnectionOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '-d, --database-url <url>',
        'postgres://…, mysql://…, sqlite:<path> or a path ending in .db/.sqlite/.sqlite3',
      ).env('DATABASE_URL'),
    )
    .addOption(
      new Option('-t, --table <name>', 'the attempts table: name or schema.name')
        .default(defaultTable)
        .argParser(tableName),
    );
}

/** `--json`: machine-readable output on stdout. */
export function addJsonOption(
  command: Command,
  description = 'print JSON instead of text',
): Command {
  return command.option('--json', description);
}

/**
 * Opens the database, builds an AsyncTask over it, runs `fn` and closes everything, whether `fn`
 * succeeds or not.
 */
export async function withTasks<T>(
  options: ConnectionOptions,
  fn: (tasks: AsyncTask<unknown>, database: OpenedDatabase) => Promise<T>,
  setup: {
    readonly open?: OpenOptions;
    readonly targets?: AsyncTaskOptions<unknown, unknown, Record<string, Encryptor>>['targets'];
    readonly extra?: Partial<AsyncTaskOptions<unknown, unknown, Record<string, Encryptor>>>;
  } = {},
): Promise<T> {
  const database = await openDatabase(requireUrl(options), setup.open);
  try {
    let tasks: AsyncTask<unknown>;
    try {
      tasks = new AsyncTask<unknown, unknown, Record<string, Encryptor>>({
        ...setup.extra,
        driver: database.driver,
        targets: setup.targets ?? [],
        table: options.table,
      });
    } catch (error) {
      // --table passed the parser's check but not this database's (a schema on SQLite, a name
      // too long for PostgreSQL's index names): a value the option cannot take, exit code 2.
      if (error instanceof ConfigError && error.message.startsWith('table "')) {
        throw new UsageError(`--table: ${error.message}`);
      }
      throw error;
    }
    return await fn(tasks, database);
  } finally {
    await database.close().catch(() => undefined);
  }
}

export function requireUrl(options: ConnectionOptions): string {
  if (options.databaseUrl === undefined || options.databaseUrl.trim() === '') {
    throw new UsageError(
      'no database given: pass --database-url <url> or set DATABASE_URL (e.g. postgres://localhost/app, mysql://root@localhost/app, sqlite:app.db)',
    );
  }
  return options.databaseUrl;
}

/** Argument parser for an attempt id. */
export function attemptId(value: string): string {
  if (!isAttemptId(value)) {
    throw new InvalidArgumentError('an attempt id is a positive integer, e.g. 42');
  }
  return value;
}

/** Argument parser for an integer from `min` to `max`. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function tableName(value: string): string {
  try {
    parseTableName(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
  return value;
}

/**
 * Writes one line to stdout. Control characters that slipped through unescaped are escaped here
 * too (newlines within `line` are kept: some callers print several lines at once).
 */
export function out(line = ''): void {
  process.stdout.write(`${printableLines(line)}\n`);
}

/** Writes `value` as indented JSON to stdout. */
export function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a line to stderr (status messages, so that stdout stays data). */
export function note(line: string): void {
  process.stderr.write(`${printableLines(line)}\n`);
}

function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}
