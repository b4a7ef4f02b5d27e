// The waits of a worker without notifications after a claim that fell short: every 25 ms for
// 250 ms after one that took something, then twice as long after each empty one, up to the poll
// interval.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PollPace } from '../../src/worker/poll-pace.js';

describe('poll pace', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** The waits of claims that took `taken[i]`, each claim made when the wait before it ended. */
  function waits(pace: PollPace, taken: readonly number[], capMs?: number): number[] {
    return taken.map((n) => {
      const ms = pace.after(n, capMs);
      vi.advanceTimersByTime(ms);
      return ms;
    });
  }

  it('waits the poll interval until a claim takes something', () => {
    expect(waits(new PollPace(1000), [0, 0])).toEqual([1000, 1000]);
  });

  it('looks every 25 ms for 250 ms after a claim that took something, then backs off', () => {
    const got = waits(new PollPace(1000), [3, ...Array<number>(17).fill(0)]);
    expect(got.slice(0, 10)).toEqual(Array(10).fill(25));
    expect(got.slice(10)).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('starts over at each claim that takes something', () => {
    const pace = new PollPace(1000);
    waits(pace, [1, ...Array<number>(16).fill(0)]);
    expect(waits(pace, [0, 2, 0])).toEqual([1000, 25, 25]);
  });

  it('waits the poll interval while notifications arrive, and soon again once they stop', () => {
    let listening = true;
    const pace = new PollPace(1000, () => listening);
    const got = waits(pace, [5, 0]);
    listening = false;
    expect([...got, ...waits(pace, [5, 0])]).toEqual([1000, 1000, 25, 25]);
  });

  it('waits no longer than a flow limit asks', () => {
    const pace = new PollPace(1000);
    expect([pace.after(0, 250), pace.after(1, 5), pace.after(0, 250)]).toEqual([250, 5, 25]);
  });

  it('never waits longer than a short poll interval', () => {
    expect(waits(new PollPace(4), [1, 0, 1])).toEqual([4, 4, 4]);
  });
});
