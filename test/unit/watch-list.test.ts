// The list of runs waiting on user code (worker/settle.ts): one sweep expires each run whose
// deadline passed exactly once, leaves the others, and copes with an expire() that ends other
// runs (user code: abort listeners) while the sweep is under way. Its one timer outlives a run by
// ten sweeps, so a busy worker does not stop and start it between runs.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { unwatch, watch, Watch } from '../../src/worker/settle.js';

class Run extends Watch {
  readonly deadline: number;
  expired = 0;
  onExpire: () => void = () => undefined;

  constructor(timeoutMs: number) {
    super();
    this.deadline = performance.now() + timeoutMs;
  }

  expire(): void {
    this.expired += 1;
    this.onExpire();
  }
}

describe('the watch list', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
  });
  afterEach(() => {
    // The sweep timer is module state: let it stop before its fake clock goes.
    vi.advanceTimersByTime(2_000);
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
  });

  it('keeps sweeping while runs come and go, and stops after ten sweeps with none', () => {
    const run = new Run(1_000);
    watch(run, 1_000);
    expect(vi.getTimerCount()).toBe(1);
    unwatch(run);
    // A busy worker's fast runs end between sweeps: the timer is not stopped and started again.
    vi.advanceTimersByTime(900);
    expect(vi.getTimerCount()).toBe(1);
    const next = new Run(1_000);
    watch(next, 1_000);
    unwatch(next);
    vi.advanceTimersByTime(900);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(200);
    expect(vi.getTimerCount()).toBe(0);

    const late = new Run(50);
    watch(late, 1_000);
    vi.advanceTimersByTime(200);
    expect(late.expired).toBe(1);
  });

  it('expires the runs past their deadline once, and only them', () => {
    const runs = [new Run(50), new Run(1_000), new Run(50), new Run(80)];
    for (const run of runs) watch(run, 1_000);
    // Ended in time: never expires.
    expect(unwatch(runs[3]!)).toBe(true);
    expect(unwatch(runs[3]!)).toBe(false);

    vi.advanceTimersByTime(200);
    expect(runs.map((run) => run.expired)).toEqual([1, 0, 1, 0]);
    // Expired ones are no longer watched; the one still in time is.
    expect(unwatch(runs[0]!)).toBe(false);
    expect(unwatch(runs[2]!)).toBe(false);
    expect(unwatch(runs[1]!)).toBe(true);

    vi.advanceTimersByTime(2_000);
    expect(runs.map((run) => run.expired)).toEqual([1, 0, 1, 0]);
  });

  it('skips a due run that an earlier expire() ended, and keeps the list whole', () => {
    const first = new Run(10);
    const second = new Run(10);
    const later = new Run(5_000);
    for (const run of [first, second, later]) watch(run, 100);
    // Whichever of the two due runs expires first ends the other, as its abort listener might.
    first.onExpire = () => void unwatch(second);
    second.onExpire = () => void unwatch(first);

    vi.advanceTimersByTime(150);
    expect(first.expired + second.expired).toBe(1);
    expect(later.expired).toBe(0);

    // Watching again after the sweep works from a consistent list.
    const next = new Run(10);
    watch(next, 100);
    vi.advanceTimersByTime(150);
    expect(next.expired).toBe(1);
    expect(unwatch(later)).toBe(true);
  });
});
