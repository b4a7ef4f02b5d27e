// The schema version kept with the table, and the migration files it is written from.
import { describe, expect, it } from 'vitest';
import { mysqlDialect } from '../../src/dialects/mysql/index.js';
import { postgresDialect } from '../../src/dialects/postgres/index.js';
import { renderStatements } from '../../src/dialects/migrate.js';
import { loadMigrations } from '../../src/dialects/migration-files.js';
import { markerAt, markerText, parseMarker } from '../../src/dialects/schema-marker.js';
import { sqliteDialect } from '../../src/dialects/sqlite/index.js';

describe('schema marker', () => {
  it('round-trips through its text', () => {
    for (const marker of [
      { version: 4, breaking: 0, applying: null },
      { version: 7, breaking: 6, applying: null },
      { version: 2, breaking: 0, applying: 3 },
    ]) {
      expect(parseMarker(markerText(marker))).toEqual(marker);
    }
    expect(markerText({ version: 2, breaking: 0, applying: 3 })).toBe(
      'async-task schema 2, applying 3',
    );
  });

  it('is not read from a comment that is not one', () => {
    for (const text of [null, undefined, '', 'orders of the shop', 'async-task schema', 42]) {
      expect(parseMarker(text)).toBeNull();
    }
  });

  it('carries the highest breaking migration applied', () => {
    const migrations = [1, 2, 3, 4].map((version) => ({
      version,
      name: `m${version}`,
      breaking: version === 2 || version === 4,
      sql: '',
      down: null,
    }));
    expect(markerAt(migrations, 1).breaking).toBe(0);
    expect(markerAt(migrations, 3).breaking).toBe(2);
    expect(markerAt(migrations, 4).breaking).toBe(4);
  });
});

describe('migration files', () => {
  for (const dialect of ['postgres', 'mysql', 'sqlite']) {
    it(`${dialect}: every migration ships a down migration (NNNN_slug.down.sql)`, () => {
      const migrations = loadMigrations(
        new URL(`../../src/dialects/${dialect}/migrations/`, import.meta.url),
      );
      expect(migrations.filter((m) => m.down === null).map((m) => m.name)).toEqual([]);
    });
  }

  it('splits statements at a `;` ending a line, but not inside a $$ body', () => {
    const sql = [
      '-- a comment;',
      'CREATE TABLE t (a int);',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$',
      'BEGIN',
      '  RETURN 1;',
      'END;',
      '$$;',
      'COMMENT ON TABLE t IS NULL;',
    ].join('\n');
    expect(renderStatements(sql, {})).toEqual([
      'CREATE TABLE t (a int)',
      'CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$',
      'COMMENT ON TABLE t IS NULL',
    ]);
  });

  it('splits statements at a `;` ending a line, but not inside a MySQL BEGIN … END; body', () => {
    const sql = [
      'DROP PROCEDURE IF EXISTS p;',
      '',
      'CREATE PROCEDURE p(OUT x INT)',
      'BEGIN',
      '  -- a comment;',
      '  IF TRUE THEN',
      '    BEGIN',
      '      SET x = 1;',
      '    END;',
      '  END IF;',
      'END;',
      'ALTER TABLE t COMMENT = 1;',
    ].join('\n');
    expect(renderStatements(sql, {})).toEqual([
      'DROP PROCEDURE IF EXISTS p',
      'CREATE PROCEDURE p(OUT x INT)\nBEGIN\n  IF TRUE THEN\n    BEGIN\n      SET x = 1;\n    END;\n  END IF;\nEND',
      'ALTER TABLE t COMMENT = 1',
    ]);
  });

  it('each migration sets the version as it ends; MySQL within its one statement', () => {
    const table = { schema: 'app', name: 'jobs' };
    for (const dialect of [postgresDialect, mysqlDialect]) {
      for (const script of dialect.migrationScripts(table)) {
        expect(script.up.at(-1)).toMatch(new RegExp(`'async-task schema ${script.version}'$`));
      }
    }
    // A MySQL migration that changes the attempts table does it in one statement that also sets
    // the version; one that creates something else (0004: flow control's lock table; 0007: the
    // enqueue procedure, which only writes rows of the table) or must change the table in steps
    // (0008: a column, then its default, which MySQL cannot add with it without copying the
    // table, then its values for the attempts pending) sets it in a statement of its own after
    // that, resumed if interrupted in between: an earlier change of the table only adds (run
    // again, it fails as already done, which resuming skips) or sets a default (runs again).
    for (const script of mysqlDialect.migrationScripts(table)) {
      if (script.up.length === 1) continue;
      expect(script.up.at(-1)).toMatch(/^ALTER TABLE `app`\.`jobs` COMMENT = /);
      for (const statement of script.up.slice(0, -1)) {
        expect(statement).not.toMatch(/^(CREATE|DROP) TABLE `app`\.`jobs` /);
        const altered = /^ALTER TABLE `app`\.`jobs` ([\s\S]*)$/.exec(statement)?.[1];
        if (altered === undefined) continue;
        for (const clause of altered.split(/,\s*(?=ADD |ALTER |DROP |MODIFY |CHANGE )/)) {
          expect(clause).toMatch(/^(ADD COLUMN|ADD INDEX|ALTER COLUMN \w+ SET DEFAULT) /);
        }
      }
    }
    const sqlite = sqliteDialect.migrationScripts({ schema: null, name: 'jobs' });
    expect(sqlite.at(-1)?.up.at(-1)).toContain(
      `BEGIN SELECT 'async-task schema ${sqliteDialect.latestVersion}'; END`,
    );
  });
});
