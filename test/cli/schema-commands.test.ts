// `async-task uninstall` and `async-task migrations`, through the real process, on PostgreSQL
// (functions and a trigger to remove) and SQLite (no server).
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresCliDatabase, sqliteCliDatabase, type CliDatabase } from './databases.js';
import { lines, runCli, runCliJson } from './run-cli.js';

for (const setup of [postgresCliDatabase, sqliteCliDatabase]) {
  describe(`async-task uninstall (${setup === sqliteCliDatabase ? 'sqlite' : 'postgres'})`, () => {
    let db: CliDatabase;
    beforeAll(async () => {
      db = await setup();
    });
    afterAll(async () => {
      await db?.close();
    });

    it('refuses without --yes (exit 2, nothing dropped), drops everything with it', async () => {
      await db.tasks.migrate();
      const refused = await runCli(['uninstall', ...db.args]);
      expect(refused.code).toBe(2);
      expect(lines(refused.stderr)).toEqual([
        `async-task: uninstall drops table ${db.table} with every attempt in it, and everything async-task created with it; add --yes to confirm`,
      ]);
      expect(await db.tasks.list({})).toEqual([]);

      const done = await runCliJson<{ table: string; removed: string[] }>([
        'uninstall',
        '--yes',
        ...db.args,
      ]);
      expect(done.table).toBe(db.table);
      expect(done.removed[0]).toMatch(/^table /);
      expect(done.removed.filter((object) => /_workers\W*$/.test(object))).toHaveLength(1);
      if (db.label === 'postgres') {
        const functions = done.removed.filter((object) => object.startsWith('function '));
        expect(functions.join('\n')).toMatch(/_notify_due\(\)/);
        expect(functions.join('\n')).toMatch(/_claim\(text,/);
      }
      const again = await runCli(['uninstall', '--yes', ...db.args]);
      expect(again.stdout).toBe(`table ${db.table}: nothing to remove\n`);
      expect((await db.tasks.migrate()).applied[0]).toBe(1);
    });
  });
}

describe('async-task migrations', () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'async-task-cli-migrations-'));
  });
  afterAll(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it('writes the files once, then nothing; says how to apply them', async () => {
    const out = join(folder, 'knex');
    const args = ['migrations', '--dialect', 'sqlite', '--format', 'knex', '--out', out];
    const first = await runCli(args);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('apply them with `npx knex migrate:latest`');
    expect(first.stdout).toContain(`schema: { external: 'knex', out: '${out}' }`);
    const files = readdirSync(out);
    expect(files.map((name) => name.replace(/^\d{14}_/, ''))).toEqual([
      'async_task_0001_create_attempts.mjs',
      'async_task_0002_failed_queue_in_index.mjs',
      'async_task_0003_keys_cancel_trace_progress.mjs',
      'async_task_0004_rate_limit_starts.mjs',
      'async_task_0005_workers.mjs',
      'async_task_0006_run_history.mjs',
      'async_task_0007_queue_due_index.mjs',
      'async_task_0008_queue_key_due_index.mjs',
    ]);
    const again = await runCliJson<{ written: string[] }>(args);
    expect(again.written).toEqual([]);
    expect(readdirSync(out)).toEqual(files);
  });

  it("refuses a folder that holds another database's migrations, writing nothing (exit 1)", async () => {
    const write = (dialect: string, format: string, out: string) =>
      runCli(['migrations', '--dialect', dialect, '--format', format, '--out', out, '-t', 'jobs']);
    for (const format of ['knex', 'sql', 'typeorm', 'prisma', 'drizzle']) {
      const out = join(folder, `mixed-${format}`);
      expect((await write('mysql', format, out)).code).toBe(0);
      const before = readdirSync(out, { recursive: true }).sort();
      const refused = await write('postgres', format, out);
      expect({ format, code: refused.code, stdout: refused.stdout }).toEqual({
        format,
        code: 1,
        stdout: '',
      });
      expect(refused.stderr).toMatch(
        new RegExp(
          `^async-task: ${out} is for mysql, not postgres \\(.*\\): keep each database's migrations in a folder of its own, or pass --dialect mysql; nothing written\\n$`,
        ),
      );
      expect(readdirSync(out, { recursive: true }).sort()).toEqual(before);
    }
    // The tools' own files say it too, before any of ours is there.
    const prisma = join(folder, 'prisma-lock');
    mkdirSync(prisma);
    writeFileSync(join(prisma, 'migration_lock.toml'), 'provider = "postgresql"\n');
    expect((await write('sqlite', 'prisma', prisma)).stderr).toMatch(
      /is for postgres, not sqlite \(.*migration_lock\.toml\)/,
    );
    const drizzle = join(folder, 'drizzle-journal');
    mkdirSync(join(drizzle, 'meta'), { recursive: true });
    writeFileSync(
      join(drizzle, 'meta', '_journal.json'),
      JSON.stringify({ version: '7', dialect: 'postgresql', entries: [] }),
    );
    expect((await write('sqlite', 'drizzle', drizzle)).stderr).toMatch(
      /is for postgres, not sqlite \(.*_journal\.json\)/,
    );
    expect((await write('postgres', 'drizzle', drizzle)).code).toBe(0);

    // Another table's files say their database too.
    const otherTable = join(folder, 'other-table');
    expect(
      (
        await runCli([
          'migrations',
          '--dialect',
          'mysql',
          '--format',
          'knex',
          '--out',
          otherTable,
          '-t',
          'other_jobs',
        ])
      ).code,
    ).toBe(0);
    expect((await write('postgres', 'knex', otherTable)).stderr).toMatch(
      /is for mysql, not postgres \(.*async_task_other_jobs_0001/,
    );
    // TOML's single-quoted strings; a provider async-task has no migrations for.
    const quoted = join(folder, 'prisma-quoted');
    mkdirSync(quoted);
    writeFileSync(join(quoted, 'migration_lock.toml'), "provider = 'mysql'\n");
    expect((await write('sqlite', 'prisma', quoted)).stderr).toMatch(/is for mysql, not sqlite/);
    writeFileSync(join(quoted, 'migration_lock.toml'), 'provider = "cockroachdb"\n');
    expect((await write('postgres', 'prisma', quoted)).stderr).toBe(
      `async-task: ${quoted} is for cockroachdb, not postgres (${join(quoted, 'migration_lock.toml')}): keep each database's migrations in a folder of its own; nothing written\n`,
    );
    const badJournal = join(folder, 'bad-journal');
    mkdirSync(join(badJournal, 'meta'), { recursive: true });
    writeFileSync(join(badJournal, 'meta', '_journal.json'), '[]');
    const refusedJournal = await write('sqlite', 'drizzle', badJournal);
    expect([refusedJournal.code, refusedJournal.stderr]).toEqual([
      1,
      `async-task: ${join(badJournal, 'meta', '_journal.json')} is not a Drizzle journal (a JSON object with an entries array); nothing written\n`,
    ]);
  });

  it('refuses an unknown format or dialect and a schema on SQLite (exit 2)', async () => {
    const out = join(folder, 'bad');
    const format = await runCli([
      'migrations',
      '--dialect',
      'sqlite',
      '--format',
      'flyway',
      '--out',
      out,
    ]);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/flyway.*sql, knex, prisma, drizzle, typeorm/);
    const table = await runCli([
      'migrations',
      '--dialect',
      'sqlite',
      '--format',
      'sql',
      '--out',
      out,
      '--table',
      'app.jobs',
    ]);
    expect(table.code).toBe(2);
    expect(table.stderr).toMatch(/SQLite has no schemas/);
    // A command on a database too: it was exit 1, found only once the table was first used.
    const stats = await runCli([
      'migrate',
      '--database-url',
      `sqlite:${join(folder, 'schemas.db')}`,
      '--table',
      'app.jobs',
    ]);
    expect(stats.code).toBe(2);
    expect(stats.stderr).toMatch(/SQLite has no schemas/);
  });
});
