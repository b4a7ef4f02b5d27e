import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseTableName, tableLabel } from '../../core/table-name.js';
import { mysqlDialect } from '../../dialects/mysql/index.js';
import { postgresDialect } from '../../dialects/postgres/index.js';
import { sqliteDialect } from '../../dialects/sqlite/index.js';
import { migrationFormats, type MigrationFormat } from '../../facade/schema-check.js';
import type { Dialect, MigrationScript } from '../../seam/driver.js';
import { defaultTable, out, outJson, addJsonOption, type JsonOption } from '../common.js';
import { CliError, UsageError } from '../errors.js';
import { formatWriters, type OutputFile } from '../migration-formats.js';

const dialects = { postgres: postgresDialect, mysql: mysqlDialect, sqlite: sqliteDialect };
type DialectName = keyof typeof dialects;

interface MigrationsCommandOptions extends JsonOption {
  readonly dialect: DialectName;
  readonly format: MigrationFormat;
  readonly out: string;
  readonly table: string;
}

/** How each tool then applies the files. */
const applyHint: Record<MigrationFormat, string> = {
  sql: 'apply the .up.sql files in order with your SQL migration tool (or psql / mysql / sqlite3)',
  knex: 'apply them with `npx knex migrate:latest`',
  prisma: 'apply them with `npx prisma migrate deploy`',
  drizzle: 'apply them with `npx drizzle-kit migrate`',
  typeorm: 'apply them with `npx typeorm migration:run -d <your data source>`',
};

export function migrationsCommand(): Command {
  const command = new Command('migrations')
    .summary('write migration files for your own migration tool')
    .description(
      "write async-task's migrations (up and down) as files for your migration tool, to check in and apply with it; only those not yet in --out are written. Then give AsyncTask `schema: 'external'`: it checks the table's version instead of migrating it",
    )
    .addOption(
      new Option('--dialect <dialect>', 'the database')
        .choices(Object.keys(dialects))
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--format <format>', 'the migration tool')
        .choices(migrationFormats)
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', 'your migrations folder (created if missing)')
    .option('-t, --table <name>', 'the attempts table: name or schema.name', defaultTable)
    .action((options: MigrationsCommandOptions) => {
      const result = writeMigrations(options);
      if (options.json) {
        outJson(result);
        return;
      }
      if (result.written.length === 0) {
        out(
          `${result.out}: already holds migrations 1 to ${result.latest} of table ${options.table}; nothing written`,
        );
        return;
      }
      out(result.written.map((file) => `wrote ${file}`).join('\n'));
      out(
        `${applyHint[options.format]}, and create AsyncTask with schema: { external: '${options.format}', out: '${options.out}' }`,
      );
    });
  return addJsonOption(command);
}

/** The table as a part of file names: nothing for the default table. */
function tableStem(label: string): string {
  return label === defaultTable ? '' : `_${label.replace('.', '_')}`;
}

/** Writes the migrations missing from `options.out`; returns what it wrote. */
export function writeMigrations(options: Omit<MigrationsCommandOptions, keyof JsonOption>): {
  out: string;
  latest: number;
  versions: number[];
  written: string[];
} {
  const dialect: Dialect = dialects[options.dialect];
  const table = parseTable(options.table, dialect);
  const label = tableLabel(table);
  const folder = resolve(options.out);
  const prefix = `async_task${tableStem(label)}`;
  const stem = (script: MigrationScript) =>
    `${prefix}_${String(script.version).padStart(4, '0')}_${script.name}`;
  const { versions: present, dialects: written } = migrationsIn(folder, prefix);
  const toolDialect = formatDialectIn(options.format, folder);
  for (const [other, where] of [...written, ...(toolDialect ? [toolDialect] : [])]) {
    if (other === options.dialect) continue;
    const instead = Object.hasOwn(dialects, other) ? `, or pass --dialect ${other}` : '';
    throw new CliError(
      `${options.out} is for ${other}, not ${options.dialect} (${where}): keep each database's migrations in a folder of its own${instead}; nothing written`,
    );
  }
  const scripts = dialect.migrationScripts(table).filter((script) => !present.has(script.version));
  const missingDown = scripts.find((script) => script.down.length === 0);
  if (missingDown) {
    throw new CliError(
      `migration ${missingDown.version} (${missingDown.name}) of ${options.dialect} has no down migration (a bug of async-task: every migration ships NNNN_slug.down.sql); nothing written`,
    );
  }
  const files: OutputFile[] =
    scripts.length === 0
      ? []
      : formatWriters[options.format]({
          dialect: options.dialect,
          table: label,
          scripts,
          stem,
          now: new Date(),
          read: (path) => {
            const file = join(folder, path);
            return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
          },
        });
  for (const file of files) {
    const path = join(folder, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.content);
  }
  return {
    out: folder,
    latest: dialect.latestVersion,
    versions: scripts.map((script) => script.version),
    written: files.map((file) => join(options.out, file.path)),
  };
}

function parseTable(value: string, dialect: Dialect): { schema: string | null; name: string } {
  try {
    const table = parseTableName(value, dialect.tableNameLimit);
    if (dialect.name === 'sqlite' && table.schema !== null) {
      throw new InvalidArgumentError(
        `SQLite has no schemas; use a plain table name such as "${table.name}"`,
      );
    }
    return table;
  } catch (error) {
    throw new UsageError(`--table: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * The versions whose files are already in `folder` (names holding `<prefix>_NNNN_`, two levels
 * deep), and the database each was written for, from its header, with a file that says so.
 */
function migrationsIn(
  folder: string,
  prefix: string,
): { versions: Set<number>; dialects: Map<string, string> } {
  const pattern = new RegExp(`(?:^|[_-])${prefix}_(\\d{4})_`, 'i');
  const pascalPattern = new RegExp(
    `${prefix
      .split('_')
      .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
      .join('')}(\\d{4})[A-Z]`,
  );
  const versions = new Set<number>();
  const dialects = new Map<string, string>();
  const visit = (dir: string, depth: number) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const match = pattern.exec(entry.name) ?? pascalPattern.exec(entry.name);
      if (match) versions.add(Number(match[1]));
      // Every file written by `async-task migrations` says its database, another table's too.
      const dialect = headerDialect(entry.isFile() ? path : join(path, 'migration.sql'));
      if (dialect !== undefined && !dialects.has(dialect)) dialects.set(dialect, path);
      if (entry.isDirectory() && depth < 1) visit(path, depth + 1);
    }
  };
  visit(folder, 0);
  return { versions, dialects };
}

/** The database named in the header every written file starts with (`…of table T, mysql.`). */
function headerDialect(path: string): string | undefined {
  // The header is in the first lines; the folder may hold large files of the user's.
  let text: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(2000);
      text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return /async-task schema migration \d{4} \(.*?\) of table .*, (postgres|mysql|sqlite)\./.exec(
    text,
  )?.[1];
}

/** The database the migration tool's own files in `folder` are for (Prisma's lock, Drizzle's journal). */
function formatDialectIn(format: MigrationFormat, folder: string): [string, string] | undefined {
  const read = (name: string): [string, string] | undefined => {
    const path = join(folder, name);
    return existsSync(path) ? [readFileSync(path, 'utf8'), path] : undefined;
  };
  const names: Record<string, string> = {
    postgresql: 'postgres',
    mysql: 'mysql',
    sqlite: 'sqlite',
  };
  if (format === 'prisma') {
    const lock = read('migration_lock.toml');
    const provider = lock && /^\s*provider\s*=\s*(["'])([^"']+)\1/m.exec(lock[0])?.[2];
    return lock && provider ? [names[provider] ?? provider, lock[1]] : undefined;
  }
  if (format === 'drizzle') {
    const journal = read('meta/_journal.json');
    if (journal === undefined) return undefined;
    let parsed: { dialect?: unknown; entries?: unknown } | null;
    try {
      parsed = JSON.parse(journal[0]) as typeof parsed;
    } catch {
      parsed = null;
    }
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.entries)) {
      throw new CliError(
        `${journal[1]} is not a Drizzle journal (a JSON object with an entries array); nothing written`,
      );
    }
    const dialect = parsed.dialect;
    return typeof dialect === 'string' ? [names[dialect] ?? dialect, journal[1]] : undefined;
  }
  return undefined;
}
