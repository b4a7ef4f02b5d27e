// The lease keeper's list of held attempts (worker/held-attempt.ts): a set linked through the
// attempts' own fields, so it must behave as one: no duplicates, deletes from anywhere, a size
// that matches what iteration yields.
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { HeldAttempt, HeldList } from '../../src/worker/held-attempt.js';

const attempt = (id: string): HeldAttempt =>
  new HeldAttempt({ id, numAttempts: 1 } as unknown as AttemptRecord);
const ids = (list: HeldList): string[] => [...list].map((held) => held.id).sort();

describe('HeldList', () => {
  it('holds each attempt once, deletes from the front, middle and back, and counts right', () => {
    const list = new HeldList();
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(attempt) as [
      HeldAttempt,
      HeldAttempt,
      HeldAttempt,
      HeldAttempt,
    ];
    for (const held of [a, b, c, d, b]) list.add(held);
    expect(list.size).toBe(4);
    expect(ids(list)).toEqual(['a', 'b', 'c', 'd']);

    list.delete(c); // middle
    list.delete(d); // most recently added
    list.delete(a); // first added
    list.delete(a); // not there: nothing changes
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
    const list = new HeldList();
    const all = Array.from({ length: 100 }, (_, i) => attempt(String(i)));
    for (const held of all) list.add(held);
    for (const held of [...list]) if (Number(held.id) % 2 === 0) list.delete(held);
    expect(list.size).toBe(50);
    expect([...list].every((held) => Number(held.id) % 2 === 1)).toBe(true);
  });
});
