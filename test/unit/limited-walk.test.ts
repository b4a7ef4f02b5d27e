// The looks of a limited claim within one priority (src/dialects/limited-walk.ts): which prefixes
// it reads, and when it stops. The SQL each look runs is the dialects' (test/conformance/
// flow-control.test.ts, flow-priorities.test.ts, test/integration/mysql-key-look.test.ts).
import { describe, expect, it } from 'vitest';
import { limitedByPriority } from '../../src/dialects/limited-walk.js';

interface Look {
  readonly priority: number;
  readonly limit: number;
  readonly prefix: number | null;
  readonly wider: boolean;
}

/**
 * A walk over priorities 0 and 1, each look taking what `take` says (up to its limit); every look
 * is recorded. Rows are their priority.
 */
async function walk(
  widens: 'once' | 'whileTaking',
  limit: number,
  take: (look: Look) => number,
): Promise<{ rows: number[]; looks: Look[] }> {
  const looks: Look[] = [];
  const rows = await limitedByPriority<number>(
    {
      pass: (priorities, lookLimit, prefix, wider) => {
        const look = { priority: priorities[0]!, limit: lookLimit, prefix, wider };
        looks.push(look);
        return Promise.resolve(Array<number>(Math.min(take(look), lookLimit)).fill(look.priority));
      },
      priorityOf: (row) => row,
      hasRoom: () => Promise.resolve(true),
      sawEvery: () => false,
      above: (after) => Promise.resolve(after === null ? 0 : after === 0 ? 1 : null),
      widens,
    },
    false,
    limit,
  );
  return { rows, looks };
}

describe('limitedByPriority', () => {
  it('widens twice at a time up to 20,000, then reads every due row, while the looks take nothing', async () => {
    const { looks } = await walk('once', 100, () => 0);
    expect(looks.filter((look) => look.priority === 0).map((look) => look.prefix)).toEqual([
      656,
      1312,
      2624,
      5248,
      10_496,
      null,
    ]);
    // Nothing at priority 0: the next priority is walked the same way.
    expect(looks.filter((look) => look.priority === 1)).toHaveLength(6);
  });

  it('ends the claim when a wider look takes rows, before any lower priority', async () => {
    const { rows, looks } = await walk('once', 100, (look) => (look.prefix === 2624 ? 30 : 0));
    expect(looks.map((look) => [look.priority, look.limit, look.prefix, look.wider])).toEqual([
      [0, 100, 656, false],
      [0, 100, 1312, true],
      [0, 100, 2624, true],
    ]);
    expect(rows).toHaveLength(30);
  });

  it('after a first look that took rows, looks once twice as wide and ends the claim', async () => {
    const { rows, looks } = await walk('once', 100, (look) => (look.prefix === 656 ? 10 : 0));
    expect(looks.map((look) => [look.priority, look.limit, look.prefix, look.wider])).toEqual([
      [0, 100, 656, false],
      [0, 90, 1312, true],
    ]);
    expect(rows).toHaveLength(10);
  });

  it.each(['once', 'whileTaking'] as const)(
    '%s: moves to the next priority once a read of every due row falls short',
    async (widens) => {
      const { rows, looks } = await walk(widens, 100, (look) =>
        look.priority === 0 ? (look.prefix === null ? 5 : 0) : 100,
      );
      expect(looks.map((look) => [look.priority, look.prefix])).toEqual([
        [0, 656],
        [0, 1312],
        [0, 2624],
        [0, 5248],
        [0, 10_496],
        [0, null],
        [1, 636],
      ]);
      expect(rows.filter((row) => row === 0)).toHaveLength(5);
      expect(rows.filter((row) => row === 1)).toHaveLength(95);
    },
  );

  it('whileTaking: after looks that took rows, widens on until one takes none, then the next priority', async () => {
    const takes = new Map([
      [656, 10],
      [1312, 20],
      [2624, 5],
    ]);
    const { rows, looks } = await walk('whileTaking', 100, (look) =>
      look.priority === 0 ? (takes.get(look.prefix ?? 0) ?? 0) : 100,
    );
    expect(looks.map((look) => [look.priority, look.limit, look.prefix, look.wider])).toEqual([
      [0, 100, 656, false],
      [0, 90, 1312, true],
      [0, 70, 2624, true],
      [0, 65, 5248, true],
      [1, 65, 516, false],
    ]);
    expect(rows.filter((row) => row === 0)).toHaveLength(35);
    expect(rows.filter((row) => row === 1)).toHaveLength(65);
  });

  it('whileTaking: ends once it has all it asked', async () => {
    const { rows, looks } = await walk('whileTaking', 100, (look) =>
      look.prefix === 656 ? 10 : 90,
    );
    expect(looks.map((look) => look.prefix)).toEqual([656, 1312]);
    expect(rows).toHaveLength(100);
  });
});
