import type { DialectFixture } from './fixture.js';
import { postgresFixture } from './postgres.js';

/** Every fixture the conformance suite runs against. One line per dialect/client. */
export const fixtures: readonly DialectFixture[] = [postgresFixture];
