import { describe } from 'vitest';
import { sqliteCliDatabase } from './databases.js';
import { cliSuite } from './suite.js';

describe('async-task CLI on SQLite (a temporary file given as a plain .db path)', () => {
  cliSuite(sqliteCliDatabase);
});
