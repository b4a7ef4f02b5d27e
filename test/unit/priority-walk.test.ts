// The walk of a claim over priorities (src/dialects/priority-walk.ts): which passes it makes. The
// SQL of each step is the dialects' (test/integration/claim-due-priorities.test.ts,
// sqlite-claim-plan.test.ts, postgres-plans.test.ts).
import { describe, expect, it } from 'vitest';
import { dueByPriority } from '../../src/dialects/priority-walk.js';

/**
 * A table of `due` rows per priority (rows are their priority); `lowest` reads the lowest pending
 * priority, `pending[0]`, and `dueAbove` gives the next (at most `most`) with something due,
 * stepping over the others, as the dialects' probes do. Every step is recorded.
 */
async function walk(
  limit: number,
  pending: readonly number[],
  due: ReadonlyMap<number, number>,
  most = 1,
): Promise<{ rows: number[]; steps: string[] }> {
  const steps: string[] = [];
  const take = (priority: number, n: number) =>
    Array<number>(Math.min(n, due.get(priority) ?? 0)).fill(priority);
  const rows = await dueByPriority<number>(
    {
      lowest: (n) => {
        steps.push('lowest');
        return Promise.resolve(pending[0] === undefined ? [] : take(pending[0], n));
      },
      of: (priorities, n) => {
        steps.push(`of ${priorities.join(',')}`);
        const taken: number[] = [];
        for (const p of priorities) taken.push(...take(p, n - taken.length));
        return Promise.resolve(taken);
      },
      dueAbove: (after) => {
        steps.push(`dueAbove ${after}`);
        const bound = after ?? pending[0]!;
        const next = pending.filter((p) => p > bound && (due.get(p) ?? 0) > 0);
        return Promise.resolve(next.slice(0, most));
      },
      priorityOf: (row) => row,
    },
    limit,
  );
  return { rows, steps };
}

describe('dueByPriority', () => {
  it('takes a full claim from the lowest priority in one statement', async () => {
    const { rows, steps } = await walk(10, [0, 1], new Map([[0, 50]]));
    expect(rows).toEqual(Array<number>(10).fill(0));
    expect(steps).toEqual(['lowest']);
  });

  it('passes only the priorities with a due row, past thousands with none', async () => {
    const pending = Array.from({ length: 5000 }, (_, i) => i);
    const { rows, steps } = await walk(
      10,
      pending,
      new Map([
        [2000, 3],
        [4000, 20],
      ]),
    );
    expect(rows).toEqual([...Array<number>(3).fill(2000), ...Array<number>(7).fill(4000)]);
    expect(steps).toEqual(['lowest', 'dueAbove null', 'of 2000', 'dueAbove 2000', 'of 4000']);
  });

  it('goes on above the priority its first statement took from', async () => {
    const { rows, steps } = await walk(
      10,
      [0, 1, 2],
      new Map([
        [0, 4],
        [2, 4],
      ]),
    );
    expect(rows).toEqual([0, 0, 0, 0, 2, 2, 2, 2]);
    expect(steps).toEqual(['lowest', 'dueAbove 0', 'of 2', 'dueAbove 2']);
  });

  it('takes several priorities per statement where the probe gives several', async () => {
    const pending = Array.from({ length: 100 }, (_, i) => i);
    const { rows, steps } = await walk(10, pending, new Map(pending.map((p) => [p, 1])), 4);
    expect(rows).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(steps).toEqual([
      'lowest',
      'dueAbove 0',
      'of 1,2,3,4',
      'dueAbove 4',
      'of 5,6,7,8',
      'dueAbove 8',
      'of 9,10,11,12',
    ]);
  });

  it('an empty table costs a statement and a probe', async () => {
    const { rows, steps } = await walk(10, [], new Map());
    expect(rows).toEqual([]);
    expect(steps).toEqual(['lowest', 'dueAbove null']);
  });
});
