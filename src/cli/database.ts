import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Driver } from '../seam/driver.js';
import { betterSqlite3Driver, type BetterSqlite3Database } from '../drivers/better-sqlite3.js';
import { mysql2Driver, type Mysql2Pool } from '../drivers/mysql2.js';
import { pgDriver, type PgPool } from '../drivers/pg.js';
import { CliError, UsageError } from './errors.js';

export type DatabaseKind = 'postgres' | 'mysql' | 'sqlite';

/** Where `--database-url` points, before anything is opened. */
export type DatabaseLocation =
  | { readonly kind: 'postgres' | 'mysql'; readonly url: string; readonly display: string }
  | { readonly kind: 'sqlite'; readonly file: string; readonly display: string };

export interface OpenOptions {
  /** Most connections the pool may open (PostgreSQL and MySQL). @defaultValue 2 */
  readonly connections?: number;
  /** Create the SQLite file when it does not exist (for `migrate`). @defaultValue false */
  readonly create?: boolean;
}

/** A driver over a client this module opened, and the way to close both. */
export interface OpenedDatabase {
  readonly kind: DatabaseKind;
  /** The location with any password masked, for messages. */
  readonly display: string;
  readonly driver: Driver<unknown, unknown>;
  close(): Promise<void>;
}

const supported =
  'use postgres://…, postgresql://…, mysql://…, sqlite:<path>, or a file path ending in .db, .sqlite or .sqlite3';

/** An empty host before the path, and a `host=` parameter that is not empty. */
const socketInQuery = /^postgres(?:ql)?:\/\/(?:[^@/?#]*@)?\/[^?#]*\?(?:[^#]*&)?host=[^&#]/i;

/**
 * Reads a database URL: `postgres://` / `postgresql://`, `mysql://` (also `mariadb://`),
 * `sqlite:<path>` / `sqlite://<path>` (so `sqlite:///abs/app.db` is absolute), or a bare path
 * ending in `.db`, `.sqlite` or `.sqlite3`.
 *
 * @throws UsageError (exit code 2) for a URL of another kind, or one that does not parse
 */
export function parseDatabaseUrl(raw: string): DatabaseLocation {
  const text = raw.trim();
  if (text === '') throw new UsageError(`the database URL is empty; ${supported}`);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (
    scheme === 'postgres' ||
    scheme === 'postgresql' ||
    scheme === 'mysql' ||
    scheme === 'mariadb'
  ) {
    const kind = scheme === 'mysql' || scheme === 'mariadb' ? 'mysql' : 'postgres';
    // libpq's form for a Unix socket, `postgres://user@/db?host=/run/postgresql`, has an empty
    // host, which the URL parser refuses after a user name; node-postgres reads it.
    if (kind === 'postgres' && socketInQuery.test(text)) {
      return { kind, url: text, display: mask(text) };
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new UsageError(
        `the database URL ${JSON.stringify(mask(text))} is not a valid URL; ${supported}`,
      );
    }
    if (url.hostname === '') {
      throw new UsageError(`the database URL ${JSON.stringify(mask(text))} names no host`);
    }
    const normalised = scheme === 'mariadb' ? text.replace(/^mariadb:/i, 'mysql:') : text;
    return { kind, url: normalised, display: mask(text) };
  }
  if (scheme === 'sqlite') {
    const path = text.replace(/^sqlite:(\/\/)?/i, '');
    if (path === '') throw new UsageError(`the SQLite URL ${JSON.stringify(text)} names no file`);
    const file = path === ':memory:' ? path : resolve(path);
    return { kind: 'sqlite', file, display: `sqlite:${file}` };
  }
  // A Windows drive letter looks like a scheme; anything else with a scheme is not ours.
  if ((scheme === undefined || /^[a-z]:[\\/]/i.test(text)) && /\.(db|sqlite3?)$/i.test(text)) {
    const file = resolve(text);
    return { kind: 'sqlite', file, display: `sqlite:${file}` };
  }
  throw new UsageError(`unsupported database URL ${JSON.stringify(mask(text))}; ${supported}`);
}

/**
 * Opens the client library for `raw` and wraps it in async-task's driver. The client libraries
 * are optional peer dependencies, loaded only when asked for.
 */
export async function openDatabase(
  raw: string,
  options: OpenOptions = {},
): Promise<OpenedDatabase> {
  const location = parseDatabaseUrl(raw);
  const connections = options.connections ?? 2;
  switch (location.kind) {
    case 'postgres': {
      const pg = await importClient<{ Pool: new (config: object) => PgPool & PgPoolExtras }>(
        'pg',
        'pg',
      );
      const pool = new pg.Pool({
        connectionString: location.url,
        max: connections,
        connectionTimeoutMillis: 10_000,
        application_name: 'async-task',
      });
      // An idle connection that breaks must not crash the process: the next query reconnects.
      pool.on('error', () => undefined);
      return {
        kind: 'postgres',
        display: location.display,
        driver: pgDriver(pool) as unknown as Driver<unknown, unknown>,
        close: () => pool.end(),
      };
    }
    case 'mysql': {
      const mysql = await importClient<{
        createPool(config: object): Mysql2Pool & { end(): Promise<void> };
      }>('mysql2/promise', 'mysql2');
      const pool = mysql.createPool({
        uri: location.url,
        connectionLimit: connections,
        connectTimeout: 10_000,
      });
      return {
        kind: 'mysql',
        display: location.display,
        driver: mysql2Driver(pool) as unknown as Driver<unknown, unknown>,
        close: () => pool.end(),
      };
    }
    case 'sqlite': {
      const Database = await importClient<
        new (file: string, options?: object) => BetterSqlite3Database
      >('better-sqlite3', 'better-sqlite3');
      if (location.file !== ':memory:' && !options.create && !existsSync(location.file)) {
        throw new CliError(
          `the SQLite database ${location.file} does not exist (\`async-task migrate\` creates it)`,
        );
      }
      let db: BetterSqlite3Database;
      try {
        db = new Database(location.file);
      } catch (error) {
        throw new CliError(`could not open the SQLite database ${location.file}`, { cause: error });
      }
      const driver = betterSqlite3Driver(db);
      return {
        kind: 'sqlite',
        display: location.display,
        driver: driver as unknown as Driver<unknown, unknown>,
        close: async () => {
          await driver.close();
          db.close();
        },
      };
    }
  }
}

interface PgPoolExtras {
  on(event: 'error', listener: (error: Error) => void): unknown;
  end(): Promise<void>;
}

/**
 * Imports an optional client library: from where async-task is installed, else from the current
 * directory's project (for a global or `npx` async-task used in a project that has the client).
 */
export async function importClient<T>(specifier: string, packageName: string): Promise<T> {
  let module: { default?: unknown };
  try {
    module = (await import(specifier)) as { default?: unknown };
  } catch (error) {
    if (!isNotFound(error, packageName)) throw error;
    let path: string;
    try {
      path = createRequire(join(process.cwd(), 'package.json')).resolve(specifier);
    } catch {
      throw new CliError(
        `this database needs the ${packageName} package, which is not installed: run \`npm install ${packageName}\``,
      );
    }
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  }
  return (module.default ?? module) as T;
}

function isNotFound(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
    error instanceof Error &&
    error.message.includes(`'${packageName}`)
  );
}

/**
 * The URL with every secret in it replaced by `***`, for messages: the password of the userinfo,
 * and the values of query parameters whose name suggests a secret (password, pass, pwd,
 * sslpassword, secret, token, key, auth…). It errs towards hiding too much: text it cannot read
 * unambiguously is hidden whole.
 */
export function mask(text: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0];
  const authority = scheme !== undefined && text.startsWith('//', scheme.length);
  if (scheme === undefined || !authority) {
    // No `scheme://`, so no userinfo can be told apart: an @ may sit next to a password.
    return text.includes('@') ? '***' : maskKeywords(maskQuery(text));
  }
  if (!parses(text) && !socketInQuery.test(text)) return `${scheme}//***`;
  const rest = text.slice(scheme.length + 2);
  // The last @, not the first: passwords hold @ (and /, ? and #) unencoded more often than hosts
  // or paths do. An @ that was in the path or query only makes the mask hide more.
  const at = rest.lastIndexOf('@');
  if (at === -1) return `${scheme}//${maskQuery(rest)}`;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  // A user holding / ? or # means this @ was past the host: no part of it is safe to show.
  if (/[/?#]/.test(user)) return `${scheme}//***`;
  const shown = colon === -1 ? user : `${user}:***`;
  return `${scheme}//${shown}@${maskQuery(rest.slice(at + 1))}`;
}

const secretParameter = /pass|pwd|secret|token|key|auth|cred/i;

/**
 * libpq's keyword/value form (`host=db password=x dbname=app`), which is not a URL but is what
 * some set DATABASE_URL to: the values of secret-looking keywords, quoted or not (an unquoted
 * one may hold backslash-escaped spaces), as `***`.
 */
function maskKeywords(text: string): string {
  return text.replace(
    /([\w-]+)(\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:\\.|[^\s\\])*\\?)/g,
    (whole, name: string, equals: string) =>
      secretParameter.test(name) ? `${name}${equals}***` : whole,
  );
}

/** `text` with the values of secret-looking query parameters replaced by `***`. */
function maskQuery(text: string): string {
  const question = text.indexOf('?');
  if (question === -1) return text;
  const parts: string[] = [];
  let hiding = false;
  for (const piece of text.slice(question + 1).split('&')) {
    const equals = piece.indexOf('=');
    if (equals === -1) {
      // A piece with no name=: the rest of a secret value that held an unencoded &.
      if (!hiding) parts.push(piece);
      continue;
    }
    const name = piece.slice(0, equals);
    hiding = secretParameter.test(decodedName(name));
    parts.push(hiding ? `${name}=***` : piece);
  }
  return `${text.slice(0, question)}?${parts.join('&')}`;
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    // Undecodable: treat it as secret rather than guess.
    return 'secret';
  }
}

function parses(text: string): boolean {
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}
