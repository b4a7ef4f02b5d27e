// The looks of a limited claim by priority (src/dialects/limited-walk.ts): which it makes, over
// which priorities, and when it stops. The SQL each look runs is the dialects' (test/conformance/
// flow-control.test.ts, flow-priorities.test.ts, flow-hot-key.test.ts,
// test/integration/mysql-key-look.test.ts).
import { describe, expect, it } from 'vitest';
import { limitedByPriority } from '../../src/dialects/limited-walk.js';

interface Look {
  readonly priorities: readonly number[];
  readonly limit: number;
  readonly prefix: number | null;
  readonly afterFirst: boolean;
}

/**
 * A walk over priorities 0 to `count` - 1, `most` at a time, each look taking what `take` says
 * (up to its limit); every look is recorded. Rows are the first priority of their look.
 */
async function walk(
  limit: number,
  take: (look: Look) => number,
  { sawEvery = false, hasRoom = true, fair = false, count = 2, most = 1, lowest = false } = {},
): Promise<{ rows: number[]; looks: (readonly unknown[])[] }> {
  const looks: Look[] = [];
  const rows = await limitedByPriority<number>(
    {
      pass: (priorities, lookLimit, prefix, afterFirst) => {
        const look = { priorities, limit: lookLimit, prefix, afterFirst };
        looks.push(look);
        return Promise.resolve(Array<number>(Math.min(take(look), lookLimit)).fill(priorities[0]!));
      },
      ...(lowest && {
        lowest: {
          pass: (lookLimit: number, prefix: number) => {
            looks.push({ priorities: [], limit: lookLimit, prefix, afterFirst: false });
            return Promise.resolve([0]);
          },
          priority: () => Promise.resolve(0),
        },
      }),
      priorityOf: (row) => row,
      hasRoom: () => Promise.resolve(hasRoom),
      sawEvery: () => sawEvery,
      dueAbove: (after) => {
        const from = after === null ? 0 : after + 1;
        const to = Math.min(from + most, count);
        return Promise.resolve(Array.from({ length: Math.max(to - from, 0) }, (_, i) => from + i));
      },
    },
    fair,
    limit,
  );
  return {
    rows,
    looks: looks.map((look) => [look.priorities, look.limit, look.prefix, look.afterFirst]),
  };
}

describe('limitedByPriority', () => {
  it('follows a first look that fell short with one look by key, then walks the next priority', async () => {
    const { rows, looks } = await walk(100, (look) =>
      look.priorities[0] === 0 ? (look.afterFirst ? 20 : 10) : 100,
    );
    expect(looks).toEqual([
      [[0], 100, 656, false],
      [[0], 90, null, true],
      [[1], 70, 536, false],
    ]);
    expect(rows.filter((row) => row === 0)).toHaveLength(30);
    expect(rows.filter((row) => row === 1)).toHaveLength(70);
  });

  it('looks by key at every priority that has nothing in its first look', async () => {
    const { rows, looks } = await walk(100, () => 0);
    expect(looks).toEqual([
      [[0], 100, 656, false],
      [[0], 100, null, true],
      [[1], 100, 656, false],
      [[1], 100, null, true],
    ]);
    expect(rows).toEqual([]);
  });

  it('ends once it has all it asked', async () => {
    const first = await walk(100, () => 100);
    expect(first.looks).toEqual([[[0], 100, 656, false]]);
    const byKey = await walk(100, (look) => (look.afterFirst ? 90 : 10));
    expect(byKey.looks).toHaveLength(2);
    expect(byKey.rows).toHaveLength(100);
  });

  it('skips the look by key after a first look that read every due row of its priority', async () => {
    const { looks } = await walk(100, () => 5, { sawEvery: true });
    expect(looks).toEqual([
      [[0], 100, 656, false],
      [[1], 95, 636, false],
    ]);
  });

  it("ends the claim when the queue's limits leave no room after a short first look", async () => {
    const { rows, looks } = await walk(100, () => 5, { hasRoom: false });
    expect(looks).toEqual([[[0], 100, 656, false]]);
    expect(rows).toHaveLength(5);
  });

  it('fair: looks by key over every priority, again while a look takes some but not all', async () => {
    // Each look takes a share: 40, then 25 of the 60 left, then 35 of 35.
    const shares = [40, 25, 35];
    const { rows, looks } = await walk(100, () => shares.shift() ?? 0, { fair: true });
    expect(looks).toEqual([
      [[0, 1], 100, null, false],
      [[0, 1], 60, null, false],
      [[0, 1], 35, null, false],
    ]);
    expect(rows).toHaveLength(100);
  });

  it('fair: stops at a look that takes nothing', async () => {
    const shares = [30];
    const { rows, looks } = await walk(100, () => shares.shift() ?? 0, { fair: true });
    expect(looks).toEqual([
      [[0, 1], 100, null, false],
      [[0, 1], 70, null, false],
    ]);
    expect(rows).toHaveLength(30);
  });

  const range = (from: number, to: number): number[] =>
    Array.from({ length: to - from }, (_, i) => from + i);

  it('takes the next priorities several at a time, a look by key over each list that fell short', async () => {
    const { rows, looks } = await walk(100, (look) => (look.afterFirst ? 0 : 10), {
      count: 70,
      most: 32,
    });
    expect(looks).toEqual([
      [range(0, 32), 100, 656, false],
      [range(0, 32), 90, null, true],
      [range(32, 64), 90, 616, false],
      [range(32, 64), 80, null, true],
      [range(64, 70), 80, 576, false],
      [range(64, 70), 70, null, true],
    ]);
    expect(rows).toHaveLength(30);
  });

  it('after the lowest pending priority, walks on from it a list at a time', async () => {
    const { rows, looks } = await walk(100, () => 1, {
      count: 40,
      most: 32,
      sawEvery: true,
      lowest: true,
    });
    expect(looks).toEqual([
      [[], 100, 656, false],
      [range(1, 33), 99, 652, false],
      [range(33, 40), 98, 648, false],
    ]);
    expect(rows).toEqual([0, 1, 33]);
  });
});
