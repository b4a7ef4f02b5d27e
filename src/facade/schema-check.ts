import { SchemaOutdatedError } from '../core/errors.js';
import { tableLabel } from '../core/table-name.js';
import type { Driver, TableName } from '../seam/driver.js';

/**
 * Whether the table has every migration this version needs and none it cannot run against,
 * asked of the database once per instance: a failed check is asked again next time.
 */
export class SchemaCheck {
  readonly #driver: Driver<never, unknown>;
  readonly #table: TableName;
  #checked: Promise<void> | undefined;

  constructor(driver: Driver<never, unknown>, table: TableName) {
    this.#driver = driver;
    this.#table = table;
  }

  /** `migrate()` has just brought the table up to date: nothing left to ask. */
  passed(): void {
    this.#checked = Promise.resolve();
  }

  ensure(): Promise<void> {
    this.#checked ??= this.#driver
      .run((connection) => this.#driver.dialect.schemaState(connection, this.#table))
      .then((state) => {
        const latest = this.#driver.dialect.latestVersion;
        const missing = Array.from({ length: latest }, (_, i) => i + 1).filter(
          (v) => !state.applied.includes(v),
        );
        if (state.breakingUnknown.length > 0) {
          throw new SchemaOutdatedError(
            `table ${tableLabel(this.#table)} was migrated by a newer async-task (migrations ${state.breakingUnknown.join(', ')}) that this version cannot run against; upgrade async-task`,
          );
        }
        if (missing.length > 0) {
          throw new SchemaOutdatedError(
            `table ${tableLabel(this.#table)} lacks migration(s) ${missing.join(', ')}; run \`await tasks.migrate()\` (or \`async-task migrate\`)`,
          );
        }
      })
      .catch((error: unknown) => {
        this.#checked = undefined;
        throw error;
      });
    return this.#checked;
  }
}
