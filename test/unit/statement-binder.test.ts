// Every executor binds its table's statements, and the worker and enqueue make one per statement
// they run: binding a table object seen before must be a lookup, not the substitutions again.
import { describe, expect, it } from 'vitest';
import type { TableName } from '../../src/seam/driver.js';
import { statementBinder } from '../../src/dialects/statements.js';

describe('statementBinder', () => {
  const templates = { get: 'SELECT * FROM {{table}} WHERE id = $1' };

  it('fills a table object once, however often it is bound', () => {
    let substituted = 0;
    const bind = statementBinder('t_', templates, (table: TableName) => {
      substituted += 1;
      return { '{{table}}': `"${table.name}"` };
    });
    const table: TableName = { schema: null, name: 'jobs' };
    const first = bind(table);
    for (let i = 0; i < 5; i++) expect(bind(table)).toBe(first);
    expect(substituted).toBe(1);
    expect(first.get.text).toBe('SELECT * FROM "jobs" WHERE id = $1');
  });

  it('binds an equal table given as another object to the same statements', () => {
    const bind = statementBinder('t_', templates, (table: TableName) => ({
      '{{table}}': `"${table.name}"`,
    }));
    const a = bind({ schema: null, name: 'jobs' });
    expect(bind({ schema: null, name: 'jobs' })).toBe(a);
    const other = bind({ schema: null, name: 'other' });
    expect(other.get.text).toBe('SELECT * FROM "other" WHERE id = $1');
    expect(other.get.name).not.toBe(a.get.name);
  });
});
