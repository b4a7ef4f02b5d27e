import { describe, expect, it } from 'vitest';

// async-task/dashboard's public surface, reviewed like the others (test/unit/exports.test.ts).
describe('public exports', () => {
  it('of async-task/dashboard', async () => {
    expect(Object.keys(await import('../../src/dashboard/index.js')).sort()).toEqual([
      'DashboardForbiddenError',
      'DashboardUnauthorizedError',
      'dashboard',
      'nodeListener',
    ]);
  });
});
