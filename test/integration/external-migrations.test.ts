// `async-task migrations` writes the table's migrations for the user's own tool; each format is
// applied here by that tool (or its migrator API), and the table must then be accepted by an
// AsyncTask with `schema: 'external'` and by a managed one, enqueue and runDue working.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import mysql from 'mysql2/promise';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeMigrations } from '../../src/cli/commands/migrations.js';
import { adHoc } from '../../src/dialects/statements.js';
import type { MigrationFormat } from '../../src/facade/schema-check.js';
import { AsyncTask, SchemaOutdatedError } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { noteTarget } from '../harness/note-target.js';
import type { Harness } from '../harness/fixture.js';
import { mysqlHarness, mysqlUrl, mysqlUrlFor } from '../harness/mysql.js';
import { postgresHarness, postgresUrl } from '../harness/postgres.js';
import { catalogObjects } from '../harness/schema-catalog.js';
import { sqliteHarness } from '../harness/sqlite.js';

const drizzleKit = fileURLToPath(new URL('../../node_modules/.bin/drizzle-kit', import.meta.url));

type DialectName = 'postgres' | 'mysql' | 'sqlite';

/** A harness plus what a migration tool needs to reach the same namespace. */
interface Target {
  readonly harness: Harness;
  /** PostgreSQL schema or MySQL database; null on SQLite. */
  readonly namespace: string | null;
  /** The SQLite file; null elsewhere. */
  readonly file: string | null;
}

const setups: Record<DialectName, () => Promise<Target>> = {
  postgres: async () => {
    const harness = await postgresHarness();
    return { harness, namespace: harness.schema, file: null };
  },
  mysql: async () => {
    const harness = await mysqlHarness();
    return { harness, namespace: harness.database, file: null };
  },
  sqlite: async () => {
    const harness = await sqliteHarness();
    return { harness, namespace: null, file: harness.file };
  },
};

/** An AsyncTask on the target's table, external (owned by `format`'s files in `out`) or managed. */
function tasksFor(target: Target, schema: 'managed' | { external: MigrationFormat; out: string }) {
  const { target: notes, ran } = noteTarget();
  const tasks = new AsyncTask({
    driver: target.harness.driver,
    targets: [notes],
    table: target.harness.table,
    schema,
  });
  return { tasks, notes, ran };
}

/**
 * The table passes the external check and the managed one, and enqueue + runDue work; so does
 * enqueueing from SQL (PostgreSQL's function, MySQL's procedure), which the tool created too.
 */
async function expectAccepted(
  dialect: DialectName,
  target: Target,
  format: MigrationFormat,
  out: string,
): Promise<void> {
  const external = tasksFor(target, { external: format, out });
  expect(await external.tasks.migrate()).toEqual({ applied: [] });
  await target.harness.transaction((tx) =>
    external.tasks.enqueue(tx, external.notes.write, { text: format }),
  );
  const fromSql = await enqueueFromSql(dialect, target, `${format} from SQL`);
  expect(await external.tasks.runDue()).toMatchObject({
    succeeded: fromSql ? 2 : 1,
    failed: 0,
  });
  expect(external.ran).toEqual(fromSql ? [format, `${format} from SQL`] : [format]);
  expect(await tasksFor(target, 'managed').tasks.migrate()).toEqual({ applied: [] });
}

/** Enqueues Notes.write(text) through the table's SQL enqueue; false where there is none. */
async function enqueueFromSql(
  dialect: DialectName,
  target: Target,
  text: string,
): Promise<boolean> {
  if (dialect === 'sqlite') return false;
  const enqueue =
    dialect === 'postgres'
      ? `SELECT "${target.namespace}"."async_task_attempts_enqueue"('Notes', 'write', $1::jsonb, '{}')`
      : `CALL \`${target.namespace}\`.\`async_task_attempts_enqueue\`('Notes', 'write', ?, NULL, @id)`;
  await target.harness.driver.run((connection) =>
    connection.query(adHoc(enqueue), [JSON.stringify({ text })]),
  );
  return true;
}

function knexFor(dialect: DialectName, target: Target): Knex {
  if (dialect === 'postgres') return knexFactory({ client: 'pg', connection: postgresUrl });
  if (dialect === 'mysql') {
    return knexFactory({ client: 'mysql2', connection: mysqlUrlFor(target.namespace!) });
  }
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: target.file! },
    useNullAsDefault: true,
  });
}

/** Applies the files of `format` in `out` with the real tool (or its own migrator API). */
const apply: Record<
  MigrationFormat,
  (dialect: DialectName, target: Target, out: string) => Promise<void>
> = {
  // The plain files, in name order, through each database's own command-line client.
  sql(dialect, target, out) {
    const files = readdirSync(out)
      .filter((name) => name.endsWith('.up.sql'))
      .sort();
    for (const name of files) runScript(dialect, target, join(out, name));
    return Promise.resolve();
  },
  async knex(dialect, target, out) {
    const knex = knexFor(dialect, target);
    try {
      await knex.migrate.latest({
        directory: out,
        loadExtensions: ['.mjs'],
        ...(dialect === 'postgres' && { schemaName: target.namespace! }),
      });
    } finally {
      await knex.destroy();
    }
  },
  async typeorm(dialect, target, out) {
    const { DataSource } = await import('typeorm');
    const classes: (new () => unknown)[] = [];
    for (const name of readdirSync(out)
      .filter((n) => n.endsWith('.ts'))
      .sort()) {
      const module = (await import(pathToFileURL(join(out, name)).href)) as Record<string, unknown>;
      classes.push(...(Object.values(module) as (new () => unknown)[]));
    }
    const options =
      dialect === 'postgres'
        ? { type: 'postgres' as const, url: postgresUrl, schema: target.namespace! }
        : dialect === 'mysql'
          ? { type: 'mysql' as const, url: mysqlUrlFor(target.namespace!) }
          : { type: 'better-sqlite3' as const, database: target.file! };
    const source = new DataSource({ ...options, migrations: classes, logging: false });
    await source.initialize();
    try {
      await source.runMigrations();
    } finally {
      await source.destroy();
    }
  },
  // `prisma migrate deploy` needs Prisma's schema-engine binary, which it downloads on first use
  // (binaries.prisma.sh), out of reach here: each folder's migration.sql goes, in folder order,
  // through the database's command-line client instead, as one script, as Prisma runs it. On
  // MySQL, Prisma sends the script to the server as one multi-statement text (the schema engine's
  // apply_migration_script), which the server parses whole, stored procedure bodies included;
  // the `mysql` client would cut it at every `;`. So there it goes through mysql2 the same way.
  async prisma(dialect, target, out) {
    const folders = readdirSync(out, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(readFileSync(join(out, 'migration_lock.toml'), 'utf8')).toContain(
      `provider = "${{ postgres: 'postgresql', mysql: 'mysql', sqlite: 'sqlite' }[dialect]}"`,
    );
    for (const folder of folders) {
      const file = join(out, folder, 'migration.sql');
      if (dialect === 'mysql') await runMultiStatementScript(target, file);
      else runScript(dialect, target, file);
    }
  },
  // drizzle-kit itself, as the printed hint says (`npx drizzle-kit migrate`), with a config of
  // the kind a user keeps beside the folder.
  drizzle(dialect, target, out) {
    const credentials =
      dialect === 'postgres'
        ? { dialect: 'postgresql', dbCredentials: { url: postgresUrl } }
        : dialect === 'mysql'
          ? { dialect: 'mysql', dbCredentials: { url: mysqlUrlFor(target.namespace!) } }
          : { dialect: 'sqlite', dbCredentials: { url: target.file! } };
    const config = join(out, '..', 'drizzle.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        ...credentials,
        out,
        ...(dialect === 'postgres' ? { migrations: { schema: target.namespace! } } : {}),
      }),
    );
    execFileSync(drizzleKit, ['migrate', `--config=${config}`], { stdio: 'pipe' });
    return Promise.resolve();
  },
};

/** Runs one SQL script with psql, mysql or sqlite3, stopping at its first error. */
function runScript(dialect: DialectName, target: Target, file: string): void {
  if (dialect === 'postgres') {
    execFileSync('psql', [postgresUrl, '-v', 'ON_ERROR_STOP=1', '-q', '-f', file]);
  } else if (dialect === 'mysql') {
    const url = new URL(mysqlUrl);
    execFileSync(
      'mysql',
      ['-h', url.hostname, '-P', url.port || '3306', '-u', url.username, target.namespace!],
      { input: readFileSync(file, 'utf8') },
    );
  } else {
    execFileSync('sqlite3', ['-bail', target.file!], { input: readFileSync(file, 'utf8') });
  }
}

/** Sends one SQL script to MySQL as a single multi-statement text, as Prisma's schema engine does. */
async function runMultiStatementScript(target: Target, file: string): Promise<void> {
  const connection = await mysql.createConnection({
    uri: mysqlUrlFor(target.namespace!),
    multipleStatements: true,
  });
  try {
    await connection.query(readFileSync(file, 'utf8'));
  } finally {
    await connection.end();
  }
}

const formats: readonly MigrationFormat[] = ['sql', 'knex', 'typeorm', 'prisma', 'drizzle'];

for (const dialect of ['postgres', 'mysql', 'sqlite'] as const) {
  describe(`async-task migrations on ${dialect}`, () => {
    let target: Target;
    let folder: string;
    beforeEach(async () => {
      target = await setups[dialect]();
      folder = mkdtempSync(join(tmpdir(), 'async-task-migrations-'));
    });
    afterEach(async () => {
      await target.harness.close();
      rmSync(folder, { recursive: true, force: true });
    });

    for (const format of formats) {
      it(`--format ${format}: applied by the tool, accepted by AsyncTask`, async () => {
        const out = join(folder, 'migrations');
        const result = writeMigrations({ dialect, format, out, table: target.harness.table });
        expect(result.versions).toEqual(
          Array.from({ length: target.harness.driver.dialect.latestVersion }, (_, i) => i + 1),
        );

        await apply[format](dialect, target, out);

        await expectAccepted(dialect, target, format, out);
        // Written again: nothing new.
        expect(
          writeMigrations({ dialect, format, out, table: target.harness.table }).written,
        ).toEqual([]);
      });
    }

    it('external: refuses a missing or outdated table with the exact command; the missing version is written and applied', async () => {
      const out = join(folder, 'migrations');
      const table = target.harness.table;
      const { tasks } = tasksFor(target, { external: 'knex', out });
      const tableOption = table === 'async_task_attempts' ? '' : ` --table ${table}`;
      const command = `npx async-task migrations --dialect ${dialect} --format knex --out ${out}${tableOption}`;

      const missing = await caught(tasks.migrate());
      expect(missing).toBeInstanceOf(SchemaOutdatedError);
      expect(missing).toMatchObject({ code: 'SCHEMA_OUTDATED' });
      expect((missing as Error).message).toContain('does not exist');
      expect((missing as Error).message).toContain(command);
      // Nothing was created: the schema is the user's.
      expect(await catalogObjects(target.harness, dialect)).toEqual([]);

      // Every migration but the last applied: the table is one version behind.
      writeMigrations({ dialect, format: 'knex', out, table });
      const latest = target.harness.driver.dialect.latestVersion;
      const last = readdirSync(out).find((name) =>
        name.includes(`_${String(latest).padStart(4, '0')}_`),
      );
      unlinkSync(join(out, last!));
      await apply.knex(dialect, target, out);
      const outdated = await caught(tasks.runDue());
      expect(outdated).toBeInstanceOf(SchemaOutdatedError);
      expect((outdated as Error).message).toContain(
        `is at schema version ${latest - 1}; this async-task needs ${latest}`,
      );
      expect((outdated as Error).message).toContain(command);

      expect(writeMigrations({ dialect, format: 'knex', out, table }).versions).toEqual([latest]);
      await apply.knex(dialect, target, out);
      await expectAccepted(dialect, target, 'knex', out);
      expect(await caught(tasks.uninstall())).toMatchObject({ code: 'CONFIG' });
    });

    it("knex: the down migrations undo everything, leaving only knex's own bookkeeping", async () => {
      const out = join(folder, 'migrations');
      writeMigrations({ dialect, format: 'knex', out, table: target.harness.table });
      await apply.knex(dialect, target, out);
      const knex = knexFor(dialect, target);
      try {
        await knex.migrate.rollback(
          {
            directory: out,
            loadExtensions: ['.mjs'],
            ...(dialect === 'postgres' && { schemaName: target.namespace! }),
          },
          true,
        );
      } finally {
        await knex.destroy();
      }
      const left = await catalogObjects(target.harness, dialect);
      expect(left.filter((object) => !object.includes('knex_migrations'))).toEqual([]);
      // The next migrate() of a managed AsyncTask starts from nothing.
      const { tasks } = tasksFor(target, 'managed');
      expect((await tasks.migrate()).applied[0]).toBe(1);
    });
  });
}
