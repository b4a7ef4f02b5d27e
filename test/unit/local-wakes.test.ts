// The echoes of a local enqueue: when they wake the worker, that they follow the latest enqueue,
// and that they end (no timer left running).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalWakes } from '../../src/worker/local-wakes.js';

describe('local wakes', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** The times (ms after the start) at which `wake` was called, with each call's queue. */
  function recorder(pollIntervalMs: number): { wakes: LocalWakes; calls: [number, string][] } {
    const start = performance.now();
    const calls: [number, string][] = [];
    const wakes = new LocalWakes(
      (queue) => calls.push([Math.round(performance.now() - start), queue]),
      pollIntervalMs,
    );
    return { wakes, calls };
  }

  it('wakes at once, then at each echo after the enqueue, then stops', () => {
    const { wakes, calls } = recorder(1000);
    wakes.enqueued('mail');
    vi.advanceTimersByTime(5_000);
    // The 1,000 ms echo is not shorter than the poll interval: the poll covers it.
    expect(calls).toEqual([
      [0, 'mail'],
      [5, 'mail'],
      [20, 'mail'],
      [60, 'mail'],
      [150, 'mail'],
      [400, 'mail'],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('follows the latest enqueue, waking each queue enqueued to since the echoes began', () => {
    const { wakes, calls } = recorder(60_000);
    wakes.enqueued('mail');
    vi.advanceTimersByTime(30);
    wakes.enqueued('sms');
    vi.advanceTimersByTime(5_000);
    const echoes = calls.filter(([at]) => at > 30).map(([at]) => at);
    // One timer at a time: after 30 ms, the echoes are those of the second enqueue.
    expect(echoes).toEqual([35, 35, 50, 50, 90, 90, 180, 180, 430, 430, 1030, 1030]);
    expect(calls.filter(([at]) => at === 1030).map(([, queue]) => queue)).toEqual(['mail', 'sms']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() stops the echoes; no echoes when the poll interval is the shortest', () => {
    const closed = recorder(60_000);
    closed.wakes.enqueued('mail');
    closed.wakes.close();
    vi.advanceTimersByTime(5_000);
    expect(closed.calls).toEqual([[0, 'mail']]);

    const fast = recorder(5);
    fast.wakes.enqueued('mail');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5_000);
    expect(fast.calls).toEqual([[0, 'mail']]);
  });
});
