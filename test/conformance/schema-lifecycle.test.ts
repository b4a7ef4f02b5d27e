// The schema's lifecycle: its version lives with the table, so a dropped table is created afresh;
// uninstall() removes everything migrate() created; a table of async-task 0.1 (versions in a
// separate <table>_migrations table) is adopted.
import { describe, expect, it } from 'vitest';
import { SchemaOutdatedError } from '../../src/index.js';
import { caught } from '../harness/caught.js';
import { noteTarget } from '../harness/note-target.js';
import { fixtures } from '../harness/dialects.js';
import type { DialectFixture, Harness } from '../harness/fixture.js';
import { migratedTasks, newTasks } from '../harness/new-tasks.js';
import { catalogObjects, quotedTable, rawQuery } from '../harness/schema-catalog.js';
import { useHarness } from '../harness/use-harness.js';

/** Every version this code ships, 1 to latest. */
function allVersions(harness: Harness): number[] {
  const latest = harness.driver.dialect.latestVersion;
  return Array.from({ length: latest }, (_, i) => i + 1);
}

/** Enqueues one note and runs it through `runDue`: the table works end to end. */
async function expectWorking(harness: Harness, text: string): Promise<void> {
  const { target, ran } = noteTarget();
  const tasks = newTasks(harness, { targets: [target] });
  await harness.transaction((tx) => tasks.enqueue(tx, target.write, { text }));
  expect(await tasks.runDue()).toMatchObject({ succeeded: 1, failed: 0 });
  expect(ran).toEqual([text]);
}

for (const fixture of fixtures) {
  describe(fixture.label, () => {
    const harness = useHarness(fixture);

    it('creates a dropped table afresh on the next migrate(), and it works', async () => {
      const { target } = noteTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      await tasks.enqueue(harness().pool, target.write, { text: 'before the drop' });

      await rawQuery(harness(), `DROP TABLE ${quotedTable(harness(), fixture.dialect)}`);

      // The same instance, which already checked the schema once, and a new one.
      expect(await tasks.migrate()).toEqual({ applied: allVersions(harness()) });
      expect(await newTasks(harness(), { targets: [target] }).migrate()).toEqual({ applied: [] });
      expect(await harness().countAttempts()).toBe(0);
      await expectWorking(harness(), 'after the drop');
    });

    it('uninstall() leaves nothing of ours in the catalog; migrate() then recreates it all', async () => {
      const before = await catalogObjects(harness(), fixture.dialect);
      const { target } = noteTarget();
      const tasks = await migratedTasks(harness(), { targets: [target] });
      const installed = await catalogObjects(harness(), fixture.dialect);
      expect(installed.length).toBeGreaterThan(before.length);
      await tasks.enqueue(harness().pool, target.write, { text: 'gone with the table' });

      const { removed } = await tasks.uninstall();

      expect(removed[0]).toMatch(/^table .*async_task_attempts/);
      expect(await catalogObjects(harness(), fixture.dialect)).toEqual(before);
      expect(await tasks.uninstall()).toEqual({ removed: [] });
      expect(await caught(tasks.runDue())).toBeInstanceOf(SchemaOutdatedError);
      // enqueue does not check the version, but names the missing table and both likely causes.
      const missing = await caught(() =>
        tasks.enqueue(harness().pool, target.write, { text: 'no table' }),
      );
      expect(missing).toBeInstanceOf(SchemaOutdatedError);
      expect((missing as Error).message).toMatch(
        /does not exist; run `await tasks\.migrate\(\)`.*on another database than the one migrate\(\) ran on/,
      );

      expect(await tasks.migrate()).toEqual({ applied: allVersions(harness()) });
      expect(await catalogObjects(harness(), fixture.dialect)).toEqual(installed);
      await expectWorking(harness(), 'after reinstalling');
    });
  });
}

/** The native client's fixture of each dialect: enough for the bookkeeping upgrade paths. */
const nativeFixtures = fixtures.filter((fixture) =>
  ['postgres/pg', 'mysql/mysql2', 'sqlite/better-sqlite3'].includes(fixture.label),
);

/** async-task 0.1's bookkeeping table, exactly as 0.1 created it, with `versions` recorded. */
async function createLegacyBookkeeping(
  harness: Harness,
  fixture: DialectFixture,
  versions: readonly number[],
): Promise<void> {
  const legacy = quotedTable(harness, fixture.dialect).replace(
    /async_task_attempts(["`])$/,
    'async_task_attempts_migrations$1',
  );
  const ddl = {
    postgres: `CREATE TABLE ${legacy} (version integer PRIMARY KEY, name text NOT NULL,
      breaking boolean NOT NULL DEFAULT false, applied_at timestamptz NOT NULL DEFAULT now())`,
    mysql: `CREATE TABLE ${legacy} (version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL,
      breaking TINYINT(1) NOT NULL DEFAULT 0, started_at DATETIME(3) NOT NULL,
      applied_at DATETIME(3) NULL) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    sqlite: `CREATE TABLE ${legacy} (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
      breaking INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
      applied_at INTEGER NOT NULL) STRICT`,
  }[fixture.dialect];
  await rawQuery(harness, ddl);
  for (const version of versions) {
    const insert = {
      postgres: `INSERT INTO ${legacy} (version, name) VALUES (${version}, 'm${version}')`,
      mysql: `INSERT INTO ${legacy} (version, name, started_at, applied_at)
        VALUES (${version}, 'm${version}', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))`,
      sqlite: `INSERT INTO ${legacy} (version, name, applied_at) VALUES (${version}, 'm${version}', 0)`,
    }[fixture.dialect];
    await rawQuery(harness, insert);
  }
}

/**
 * The table as async-task 0.1 left it at `version`: migrations 1 to `version` applied (their
 * statements as the user's migration files hold them), no version marker on the table, and the
 * versions in 0.1's bookkeeping table.
 */
async function legacyInstall(
  harness: Harness,
  fixture: DialectFixture,
  version: number,
): Promise<void> {
  const table = {
    schema: harness.table.includes('.') ? harness.table.split('.')[0]! : null,
    name: 'async_task_attempts',
  };
  const scripts = harness.driver.dialect.migrationScripts(table);
  for (const script of scripts.filter((s) => s.version <= version)) {
    for (const statement of script.up) await rawQuery(harness, statement);
  }
  const quoted = quotedTable(harness, fixture.dialect);
  const unmark = {
    postgres: `COMMENT ON TABLE ${quoted} IS NULL`,
    mysql: `ALTER TABLE ${quoted} COMMENT = ''`,
    sqlite: `DROP TRIGGER "async_task_attempts_schema_version"`,
  }[fixture.dialect];
  await rawQuery(harness, unmark);
  await createLegacyBookkeeping(
    harness,
    fixture,
    Array.from({ length: version }, (_, i) => i + 1),
  );
}

for (const fixture of nativeFixtures) {
  describe(`${fixture.label}: async-task 0.1's bookkeeping`, () => {
    const harness = useHarness(fixture);

    it('is adopted at the latest version: nothing applied, the bookkeeping table dropped', async () => {
      const latest = harness().driver.dialect.latestVersion;
      await legacyInstall(harness(), fixture, latest);
      const { target } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });
      const refused = await caught(tasks.runDue());
      expect(refused).toBeInstanceOf(SchemaOutdatedError);
      expect((refused as Error).message).toMatch(/no async-task schema version.*migrate\(\)/);

      expect(await tasks.migrate()).toEqual({ applied: [] });

      const objects = await catalogObjects(harness(), fixture.dialect);
      expect(objects.filter((object) => object.includes('_migrations'))).toEqual([]);
      await expectWorking(harness(), 'adopted');
      expect(await tasks.migrate()).toEqual({ applied: [] });
    });

    it('is adopted at an older version: the rest is applied', async () => {
      await legacyInstall(harness(), fixture, 1);
      const { target } = noteTarget();
      const tasks = newTasks(harness(), { targets: [target] });

      expect(await tasks.migrate()).toEqual({ applied: allVersions(harness()).slice(1) });
      await expectWorking(harness(), 'upgraded');
    });

    it('a table async-task did not create is refused, and left alone', async () => {
      await rawQuery(
        harness(),
        `CREATE TABLE ${quotedTable(harness(), fixture.dialect)} (id INTEGER)`,
      );
      const tasks = newTasks(harness(), { targets: [] });

      const refused = await caught(tasks.migrate());

      expect(refused).toBeInstanceOf(SchemaOutdatedError);
      expect((refused as Error).message).toMatch(
        /carries no async-task schema version.*did not create it/,
      );
      // Or its version was lost (a restore without comments): the way back, which the worker's
      // advice (run migrate) led to a dead end before.
      expect((refused as Error).message).toMatch(
        /if it is async-task's table and only its version was lost.*'async-task schema <n>'/,
      );
      expect(
        await rawQuery(harness(), `SELECT id FROM ${quotedTable(harness(), fixture.dialect)}`),
      ).toEqual([]);
    });
    it('uninstall() refuses a table async-task did not create, and drops nothing', async () => {
      // Before, uninstall() (and `async-task uninstall --yes`) dropped it with its rows: a
      // mistyped \`table\` cost the user a table of theirs.
      const quoted = quotedTable(harness(), fixture.dialect);
      await rawQuery(harness(), `CREATE TABLE ${quoted} (id INTEGER)`);
      await rawQuery(harness(), `INSERT INTO ${quoted} (id) VALUES (7)`);
      const before = await catalogObjects(harness(), fixture.dialect);
      const tasks = newTasks(harness(), { targets: [] });

      const refused = await caught(tasks.uninstall());

      expect(refused).toBeInstanceOf(SchemaOutdatedError);
      expect((refused as Error).message).toMatch(
        /carries no async-task schema version.*did not create it; uninstall leaves it alone/,
      );
      expect(await rawQuery(harness(), `SELECT id FROM ${quoted}`)).toEqual([{ id: 7 }]);
      expect(await catalogObjects(harness(), fixture.dialect)).toEqual(before);
    });

    it("migrate() and uninstall() refuse a table of the user's named like one beside ours, and change nothing", async () => {
      // Before, a migrate() onto a new table name first dropped \`<name>_workers\` (and
      // _starts, and MySQL's _flow) whatever they held, to make room for its own.
      const workers = quotedTable(harness(), fixture.dialect).replace(
        /async_task_attempts(["`])$/,
        'async_task_attempts_workers$1',
      );
      await rawQuery(harness(), `CREATE TABLE ${workers} (name VARCHAR(50), skill VARCHAR(50))`);
      await rawQuery(harness(), `INSERT INTO ${workers} (name, skill) VALUES ('bob', 'welding')`);
      const before = await catalogObjects(harness(), fixture.dialect);
      const tasks = newTasks(harness(), { targets: [] });

      for (const call of [() => tasks.migrate(), () => tasks.uninstall()]) {
        const refused = await caught(call());
        expect(refused).toBeInstanceOf(SchemaOutdatedError);
        expect((refused as Error).message).toMatch(
          /^table .*async_task_attempts_workers.* beside table .* was not created by async-task .*rename it, or give AsyncTask another `table`. Nothing was changed$/,
        );
        expect(await rawQuery(harness(), `SELECT name, skill FROM ${workers}`)).toEqual([
          { name: 'bob', skill: 'welding' },
        ]);
        expect(await catalogObjects(harness(), fixture.dialect)).toEqual(before);
      }

      await rawQuery(harness(), `DROP TABLE ${workers}`);
      expect(await tasks.migrate()).toEqual({ applied: allVersions(harness()) });
      await expectWorking(harness(), 'once the name was free');
    });
  });
}
