import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  /** Declared with a `-- breaking` line: code older than this migration must not run on it. */
  readonly breaking: boolean;
  readonly sql: string;
}

const filePattern = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads `NNNN_slug.sql` files from a dialect's migrations folder, in version order. */
export function loadMigrations(folder: URL): MigrationFile[] {
  const path = fileURLToPath(folder);
  return readdirSync(path)
    .filter((file) => filePattern.test(file))
    .sort()
    .map((file) => {
      const [, version, name] = filePattern.exec(file) as unknown as [string, string, string];
      const sql = readFileSync(`${path}/${file}`, 'utf8');
      return { version: Number(version), name, breaking: /^-- breaking\b/m.test(sql), sql };
    });
}
