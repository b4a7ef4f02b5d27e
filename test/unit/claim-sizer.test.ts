// How many attempts a worker holds: about 200 ms of work at the rate handlers finish, from twice
// `concurrency` up to 2,000, and fewer when claimed attempts are large, so the arguments held stay
// near `maxHeldArgChars`, but never fewer than `concurrency`.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AttemptRecord } from '../../src/core/attempt.js';
import { ClaimSizer } from '../../src/worker/claim-sizer.js';

function claimedWith(argChars: number, count: number, lastErrorChars = 0): AttemptRecord[] {
  const record = {
    methodArgs: 'a'.repeat(argChars),
    lastError: lastErrorChars === 0 ? null : 'e'.repeat(lastErrorChars),
  } as AttemptRecord; // the sizer reads these two fields only
  return Array.from({ length: count }, () => record);
}

/** A sizer that has measured `perMs` handlers finishing per millisecond. */
function busySizer(concurrency: number, perMs: number): ClaimSizer {
  const sizer = new ClaimSizer({ concurrency });
  for (let i = 0; i < perMs * 25; i++) sizer.finished();
  vi.advanceTimersByTime(25);
  return sizer;
}

describe('ClaimSizer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds twice concurrency before the first sample, then 200 ms of work up to 2,000', () => {
    expect(new ClaimSizer({ concurrency: 10 }).hold()).toBe(20);
    expect(busySizer(10, 5).hold()).toBe(1000);
    expect(busySizer(10, 50).hold()).toBe(ClaimSizer.maxAdaptiveHold);
  });

  it('holds fewer large attempts: their arguments and last errors stay under the limit', () => {
    const sizer = busySizer(10, 50);
    sizer.claimed(claimedWith(100_000, 20));
    expect(sizer.hold()).toBe(Math.floor(ClaimSizer.maxHeldArgChars / 100_000));
    expect(sizer.claimSize(0, 0)).toBe(Math.floor(ClaimSizer.maxHeldArgChars / 100_000));

    const retried = busySizer(10, 50);
    retried.claimed(claimedWith(50_000, 20, 50_000));
    expect(retried.hold()).toBe(Math.floor(ClaimSizer.maxHeldArgChars / 100_000));
  });

  it('small arguments change nothing', () => {
    const sizer = busySizer(10, 50);
    sizer.claimed(claimedWith(400, 1000));
    expect(sizer.hold()).toBe(ClaimSizer.maxAdaptiveHold);
    sizer.claimed([]);
    expect(sizer.hold()).toBe(ClaimSizer.maxAdaptiveHold);
  });

  it('never holds fewer than concurrency, however large the arguments', () => {
    const sizer = busySizer(500, 50);
    sizer.claimed(claimedWith(1_000_000, 2));
    expect(sizer.hold()).toBe(500);
  });

  it('one claim of large attempts is enough; smaller ones bring the hold back by halves', () => {
    const sizer = busySizer(10, 50);
    sizer.claimed(claimedWith(100_000, 5));
    const large = sizer.hold();
    sizer.claimed(claimedWith(100, 5));
    expect(sizer.hold()).toBe(Math.floor(ClaimSizer.maxHeldArgChars / 50_050));
    expect(sizer.hold()).toBeGreaterThan(large);
    for (let i = 0; i < 20; i++) sizer.claimed(claimedWith(100, 5));
    expect(sizer.hold()).toBe(ClaimSizer.maxAdaptiveHold);
  });

  it('a fixed prefetch is the user’s: no rate, no size', () => {
    const sizer = new ClaimSizer({ concurrency: 10, prefetch: 4000 });
    sizer.claimed(claimedWith(100_000, 20));
    expect(sizer.hold()).toBe(4010);
  });
});
