// LinkedSet (worker/linked-set.ts), which holds the lease keeper's attempts and the runs waiting
// on user code: a set linked through its members' own fields, so it must behave as one: no
// duplicates, deletes from anywhere, a size that matches what iteration yields.
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { HeldAttempt } from '../../src/worker/held-attempt.js';
import { LinkedSet } from '../../src/worker/linked-set.js';

const attempt = (id: string): HeldAttempt =>
  new HeldAttempt({ id, numAttempts: 1 } as unknown as AttemptRecord);
const ids = (list: LinkedSet<HeldAttempt>): string[] => [...list].map((held) => held.id).sort();

describe('LinkedSet', () => {
  it('holds each attempt once, deletes from the front, middle and back, and counts right', () => {
    const list = new LinkedSet<HeldAttempt>();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(attempt) as [
      HeldAttempt,
      HeldAttempt,
      HeldAttempt,
      HeldAttempt,
    ];
    for (const held of [a, b, c, d, b]) list.add(held);
    expect(list.size).toBe(4);
    expect(ids(list)).toEqual(['a', 'b', 'c', 'd']);

    expect(list.delete(c)).toBe(true); // middle
    expect(list.delete(d)).toBe(true); // most recently added
    expect(list.delete(a)).toBe(true); // first added
    expect(list.delete(a)).toBe(false); // not there: nothing changes
    expect(list.size).toBe(1);
    expect(ids(list)).toEqual(['b']);
    expect([list.has(a), list.has(b)]).toEqual([false, true]);

    list.add(a);
    list.delete(b);
    list.delete(a);
    expect(list.size).toBe(0);
    expect([...list]).toEqual([]);
  });

  it('can be emptied while going through a copy of it', () => {
    const list = new LinkedSet<HeldAttempt>();
    const all = Array.from({ length: 100 }, (_, i) => attempt(String(i)));
    for (const held of all) list.add(held);
    for (const held of [...list]) if (Number(held.id) % 2 === 0) list.delete(held);
    expect(list.size).toBe(50);
    expect([...list].every((held) => Number(held.id) % 2 === 1)).toBe(true);
  });
});
