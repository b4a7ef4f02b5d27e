import type { DialectFixture } from './fixture.js';
import { mysqlFixture } from './mysql.js';
import { postgresFixture } from './postgres.js';
import { sqliteFixture } from './sqlite.js';

/** Every fixture the conformance suite runs against. One line per dialect/client. */
export const fixtures: readonly DialectFixture[] = [postgresFixture, sqliteFixture, mysqlFixture];
