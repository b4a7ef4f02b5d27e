import { describe } from 'vitest';
import { mysqlCliDatabase } from './databases.js';
import { cliSuite } from './suite.js';

describe('async-task CLI on MariaDB/MySQL (a fresh database named in mysql://…)', () => {
  cliSuite(mysqlCliDatabase);
});
