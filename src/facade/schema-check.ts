import { ConfigError, SchemaOutdatedError, shown } from '../core/errors.js';
import { tableLabel } from '../core/table-name.js';
import type { Driver, TableName } from '../seam/driver.js';
import type { SchemaState } from '../seam/executor.js';

/** The migration tools `async-task migrations --format` writes files for. */
export const migrationFormats = ['sql', 'knex', 'prisma', 'drizzle', 'typeorm'] as const;
export type MigrationFormat = (typeof migrationFormats)[number];

/**
 * Who creates and upgrades the attempts table.
 * - `'managed'`: `migrate()` does (the default).
 * - `'external'`: your own migration tool does, from the files `async-task migrations` writes;
 *   `migrate()`, `runDue` and workers only check the table's version, and refuse an outdated one
 *   with a `SchemaOutdatedError` naming the command that writes the missing files.
 * - `{ external: format, out }`: the same, with the command's `--format` and `--out` filled in.
 */
export type SchemaOwner =
  'managed' | 'external' | { readonly external: MigrationFormat; readonly out?: string };

/** `schema` of `new AsyncTask`, checked. */
export function resolveSchemaOwner(given: unknown): SchemaOwner {
  if (given === undefined || given === 'managed' || given === 'external') return given ?? 'managed';
  if (typeof given === 'object' && given !== null) {
    const owner = given as { external?: unknown; out?: unknown };
    if (
      migrationFormats.includes(owner.external as MigrationFormat) &&
      (owner.out === undefined || (typeof owner.out === 'string' && owner.out.trim() !== ''))
    ) {
      return given as SchemaOwner;
    }
  }
  throw new ConfigError(
    `new AsyncTask: schema must be 'managed', 'external' or { external: ${migrationFormats.map((f) => `'${f}'`).join(' | ')}, out?: '<your migrations folder>' }, got ${shown(given)}`,
  );
}

/**
 * Whether the table has every migration this version needs and none it cannot run against,
 * asked of the database once per instance: a failed check is asked again next time.
 */
export class SchemaCheck {
  readonly #driver: Driver<never, unknown>;
  readonly #table: TableName;
  readonly #owner: SchemaOwner;
  #checked: Promise<void> | undefined;

  constructor(driver: Driver<never, unknown>, table: TableName, owner: SchemaOwner) {
    this.#driver = driver;
    this.#table = table;
    this.#owner = owner;
  }

  get external(): boolean {
    return this.#owner !== 'managed';
  }

  /** `migrate()` has just brought the table up to date: nothing left to ask. */
  passed(): void {
    this.#checked = Promise.resolve();
  }

  /** The table was just removed: ask again next time. */
  forget(): void {
    this.#checked = undefined;
  }

  ensure(): Promise<void> {
    this.#checked ??= this.#driver
      .run((connection) => this.#driver.dialect.schemaState(connection, this.#table))
      .then((state) => this.#verdict(state))
      .catch((error: unknown) => {
        this.#checked = undefined;
        throw error;
      });
    return this.#checked;
  }

  #verdict(state: SchemaState): void {
    const label = tableLabel(this.#table);
    const latest = this.#driver.dialect.latestVersion;
    if (state.breakingUnknown.length > 0) {
      throw new SchemaOutdatedError(
        `table ${label} was migrated by a newer async-task (migrations ${state.breakingUnknown.join(', ')}) that this version cannot run against; upgrade async-task`,
      );
    }
    if (state.version !== null && state.version >= latest) return;
    const where =
      state.version === 0
        ? `table ${label} does not exist`
        : state.version === null
          ? `table ${label} carries no async-task schema version (a table of async-task 0.1, or not async-task's)`
          : `table ${label} is at schema version ${state.version}; this async-task needs ${latest}`;
    throw new SchemaOutdatedError(`${where}; ${this.#remedy(state)}`);
  }

  #remedy(state: SchemaState): string {
    if (this.#owner === 'managed') {
      return state.version === null
        ? 'run `await tasks.migrate()` (or `async-task migrate`), which upgrades a table of async-task 0.1 and says what to do about any other'
        : 'run `await tasks.migrate()` (or `async-task migrate`); if a migrate is running now, start this once it is done';
    }
    const dialect = this.#driver.dialect.name;
    const table =
      tableLabel(this.#table) === 'async_task_attempts'
        ? ''
        : ` --table ${tableLabel(this.#table)}`;
    const format =
      this.#owner === 'external' ? `<${migrationFormats.join('|')}>` : this.#owner.external;
    const out =
      this.#owner === 'external'
        ? '<your migrations folder>'
        : (this.#owner.out ?? '<your migrations folder>');
    return `its schema is external (option schema), so write the missing migration files with \`npx async-task migrations --dialect ${dialect} --format ${format} --out ${out}${table}\` and apply them with your migration tool`;
  }
}
