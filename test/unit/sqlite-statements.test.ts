// The SQLite dialect sends plain `?` with its parameters in placeholder order, so no driver has to
// rewrite numbered `?N` placeholders: checked on every statement it binds.
import { describe, expect, it } from 'vitest';
import { bindStatements } from '../../src/dialects/sqlite/executor.js';
import { paramsFor, plainPlaceholders } from '../../src/dialects/statements.js';

describe('SQLite statements', () => {
  it('turn numbered placeholders into plain ones with an order', () => {
    expect(plainPlaceholders('SELECT ?2 WHERE ?1 IS NULL OR x = ?1')).toEqual({
      text: 'SELECT ? WHERE ? IS NULL OR x = ?',
      order: [1, 0, 0],
    });
    expect(plainPlaceholders('SELECT ?1, ?2')).toEqual({ text: 'SELECT ?, ?' });
  });

  it('pass parameters in placeholder order, or as they are when that is their order', () => {
    const params = ['a', 'b'];
    expect(
      paramsFor({ name: 'n', text: '? ? ?', returnsRows: true, order: [1, 0, 0] }, params),
    ).toEqual(['b', 'a', 'a']);
    expect(paramsFor({ name: 'n', text: '? ?', returnsRows: true }, params)).toBe(params);
  });

  it('are all plain `?`, each name unique to its text', () => {
    const statements = Object.values(bindStatements({ schema: null, name: 'tasks' }));
    for (const statement of statements) expect(statement.text).not.toMatch(/\?\d/);
    const names = new Map(statements.map((s) => [s.name, s.text]));
    expect(names.size).toBe(statements.length);
    const claim = bindStatements({ schema: null, name: 'tasks' }).attemptClaim;
    expect(claim.order).toEqual([0, 6, 2, 6, 5, 6, 3, 3, 4, 4, 1, 6]);
  });
});
