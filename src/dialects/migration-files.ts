import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  /** Declared with a `-- breaking` line: code older than this migration must not run on it. */
  readonly breaking: boolean;
  readonly sql: string;
  /** What undoes it (`NNNN_slug.down.sql` beside it), for the files `async-task migrations` writes. */
  readonly down: string | null;
}

const filePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Reads `NNNN_slug.sql` files from a dialect's migrations folder, in version order, each with its
 * `NNNN_slug.down.sql` when there is one.
 */
export function loadMigrations(folder: URL): MigrationFile[] {
  const path = fileURLToPath(folder);
  const migrations = readdirSync(path)
    .filter((file) => filePattern.test(file))
    .sort()
    .map((file) => {
      const [, version, name] = filePattern.exec(file) as unknown as [string, string, string];
      const sql = readFileSync(`${path}/${file}`, 'utf8');
      const downFile = `${path}/${version}_${name}.down.sql`;
      const down = existsSync(downFile) ? readFileSync(downFile, 'utf8') : null;
      return { version: Number(version), name, breaking: /^-- breaking\b/m.test(sql), sql, down };
    });
  // A gap would be skipped for good by tables already past it: versions run 1, 2, 3, … exactly.
  const gap = migrations.find((migration, i) => migration.version !== i + 1);
  if (gap) {
    throw new Error(
      `async-task: migration ${gap.name} in ${path} has version ${gap.version}, expected ${migrations.indexOf(gap) + 1}: migration versions must run 1, 2, 3, … without gaps`,
    );
  }
  return migrations;
}
