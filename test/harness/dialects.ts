import type { DialectFixture } from './fixture.js';
import { mysqlKnexFixture, postgresKnexFixture, sqliteKnexFixture } from './knex.js';
import { mysqlKyselyFixture, postgresKyselyFixture } from './kysely.js';
import { mysqlFixture } from './mysql.js';
import { postgresFixture } from './postgres.js';
import { postgresJsFixture } from './postgres-js.js';
import { sqliteFixture } from './sqlite.js';

/** Every fixture the conformance suite runs against. One line per dialect/client. */
export const fixtures: readonly DialectFixture[] = [
  postgresFixture,
  sqliteFixture,
  mysqlFixture,
  postgresKyselyFixture,
  mysqlKyselyFixture,
  postgresKnexFixture,
  sqliteKnexFixture,
  mysqlKnexFixture,
  postgresJsFixture,
];
