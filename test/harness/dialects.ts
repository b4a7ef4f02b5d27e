import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import type { DialectFixture, SkippableBehaviour } from './fixture.js';
import { itRequires } from './it-requires.js';
import {
  mysqlDrizzleFixture,
  postgresDrizzleFixture,
  postgresJsDrizzleFixture,
  sqliteDrizzleFixture,
} from './drizzle.js';
import { mysqlKnexFixture, postgresKnexFixture, sqliteKnexFixture } from './knex.js';
import { mysqlKyselyFixture, postgresKyselyFixture, sqliteKyselyFixture } from './kysely.js';
import { mysqlFixture } from './mysql.js';
import { postgresFixture } from './postgres.js';
import { postgresJsFixture } from './postgres-js.js';
import { mysqlPrismaFixture, postgresPrismaFixture, sqlitePrismaFixture } from './prisma.js';
import { sqliteFixture } from './sqlite.js';
import { mysqlTypeormFixture, postgresTypeormFixture, sqliteTypeormFixture } from './typeorm.js';

/** Every fixture the conformance suite runs against. One line per dialect/client. */
const all: readonly DialectFixture[] = [
  postgresFixture,
  sqliteFixture,
  mysqlFixture,
  postgresKyselyFixture,
  mysqlKyselyFixture,
  sqliteKyselyFixture,
  postgresKnexFixture,
  sqliteKnexFixture,
  mysqlKnexFixture,
  postgresJsFixture,
  postgresPrismaFixture,
  mysqlPrismaFixture,
  sqlitePrismaFixture,
  postgresDrizzleFixture,
  postgresJsDrizzleFixture,
  mysqlDrizzleFixture,
  sqliteDrizzleFixture,
  postgresTypeormFixture,
  mysqlTypeormFixture,
  sqliteTypeormFixture,
];

/**
 * The fixtures to run: all of them, or those whose label contains one of the comma-separated
 * words of `ASYNC_TASK_FIXTURES` (`ASYNC_TASK_FIXTURES=drizzle npx vitest run test/conformance`).
 */
export const fixtures: readonly DialectFixture[] = selected(process.env['ASYNC_TASK_FIXTURES']);

function selected(filter: string | undefined): readonly DialectFixture[] {
  const words = (filter ?? '')
    .split(',')
    .map((word) => word.trim())
    .filter(Boolean);
  if (words.length === 0) return all;
  const chosen = all.filter((fixture) => words.some((word) => fixture.label.includes(word)));
  if (chosen.length === 0) {
    throw new Error(`ASYNC_TASK_FIXTURES=${filter} matches no fixture label`);
  }
  return chosen;
}

/**
 * `file › "title"`, for a skip's reason: the test where the skipped test's driver part runs on
 * every fixture. Throws while the suite is collected when `file` (under test/) holds no test of
 * that title, so a reason cannot name a test that is gone.
 */
export function coveredBy(file: string, title: string): string {
  const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
  if (!text.includes(title)) throw new Error(`coveredBy: ${file} has no test titled "${title}"`);
  return `${file} › "${title}"`;
}

/** One native driver per dialect. */
export const nativeFixtureLabels: readonly string[] = [
  'postgres/pg',
  'mysql/mysql2',
  'sqlite/better-sqlite3',
];

/**
 * `it` on the fixtures named in `labels` (and there only if the fixture has `requires`), for a slow
 * test whose subject sits above the driver (the driver's part is the executor conformance
 * suite's); elsewhere a skip whose title says why and where it runs.
 */
export function itOnlyOn(
  fixture: DialectFixture,
  labels: readonly string[],
  why: string,
  requires?: SkippableBehaviour,
): (name: string, body: () => Promise<void>, timeoutMs?: number) => void {
  if (labels.includes(fixture.label)) {
    return requires === undefined
      ? (name, body, timeoutMs) => it(name, body, timeoutMs)
      : itRequires(fixture, requires);
  }
  return (name, body) =>
    it.skip(`${name} [skipped on ${fixture.label}: ${why}; it runs on ${labels.join(', ')}]`, body);
}

/** {@link itOnlyOn} the native fixtures: one native driver per dialect. */
export function itOnNativeDrivers(
  fixture: DialectFixture,
  why: string,
  requires?: SkippableBehaviour,
): (name: string, body: () => Promise<void>, timeoutMs?: number) => void {
  return itOnlyOn(fixture, nativeFixtureLabels, why, requires);
}
