import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import {
  checkMaxAttempts,
  defaultBackoff,
  delayFor,
  exponentialBackoff,
} from '../../src/core/retry-policy.js';

const hour = 3_600_000;

afterEach(() => {
  vi.restoreAllMocks();
});

/** Runs `fn` with Math.random returning `value`. */
function withRandom<T>(value: number, fn: () => T): T {
  const spy = vi.spyOn(Math, 'random').mockReturnValue(value);
  try {
    return fn();
  } finally {
    spy.mockRestore();
  }
}

describe('exponentialBackoff', () => {
  it('doubles from 1 s without jitter', () => {
    const backoff = exponentialBackoff({ jitter: 0 });
    expect([1, 2, 3, 4, 5, 10].map(backoff)).toEqual([1000, 2000, 4000, 8000, 16_000, 512_000]);
  });

  it('treats 0 attempts like the first', () => {
    expect(exponentialBackoff({ jitter: 0 })(0)).toBe(1000);
  });

  it('caps at 1 h by default, also for huge attempt counts', () => {
    const backoff = exponentialBackoff({ jitter: 0 });
    expect(backoff(13)).toBe(hour);
    expect(backoff(100)).toBe(hour);
    expect(backoff(1_000_000)).toBe(hour);
    for (let n = 1; n <= 2000; n += 37) expect(defaultBackoff(n)).toBeLessThanOrEqual(hour);
  });

  it('caps at maxMs', () => {
    expect(exponentialBackoff({ jitter: 0, maxMs: 5000 })(10)).toBe(5000);
  });

  it('never goes below 1 s by default, whatever the base and jitter', () => {
    const backoff = exponentialBackoff({ baseMs: 10, jitter: 0.5 });
    for (const random of [0, 0.25, 0.5, 0.999999]) {
      expect(withRandom(random, () => backoff(1))).toBe(1000);
    }
    expect(exponentialBackoff({ baseMs: 0, jitter: 0 })(3)).toBe(1000);
    for (let n = 0; n < 500; n++) expect(defaultBackoff(1)).toBeGreaterThanOrEqual(1000);
  });

  it('honours a lower minMs', () => {
    expect(exponentialBackoff({ baseMs: 10, jitter: 0, minMs: 0 })(1)).toBe(10);
    expect(exponentialBackoff({ baseMs: 0, jitter: 0, minMs: 0 })(1)).toBe(0);
  });

  it('jitters within ±20 % by default', () => {
    const backoff = exponentialBackoff();
    expect(withRandom(0, () => backoff(4))).toBe(6400);
    expect(withRandom(0.5, () => backoff(4))).toBe(8000);
    expect(withRandom(0.999999, () => backoff(4))).toBe(9600);
    const samples = Array.from({ length: 1000 }, () => backoff(4));
    for (const sample of samples) {
      expect(sample).toBeGreaterThanOrEqual(6400);
      expect(sample).toBeLessThanOrEqual(9600);
    }
    expect(samples.some((sample) => sample < 8000)).toBe(true);
    expect(samples.some((sample) => sample > 8000)).toBe(true);
  });

  it('keeps jitter inside the cap and the floor', () => {
    const backoff = exponentialBackoff({ jitter: 0.5, maxMs: 10_000 });
    expect(withRandom(0.999999, () => backoff(20))).toBe(10_000);
    expect(withRandom(0, () => backoff(20))).toBe(5000);
    expect(withRandom(0, () => backoff(1))).toBe(1000);
  });

  it('uses the given base and factor', () => {
    const backoff = exponentialBackoff({ baseMs: 5000, factor: 3, jitter: 0 });
    expect([1, 2, 3].map(backoff)).toEqual([5000, 15_000, 45_000]);
  });

  it.each([
    ['a negative baseMs', { baseMs: -1 }],
    ['a NaN factor', { factor: Number.NaN }],
    ['an infinite maxMs', { maxMs: Number.POSITIVE_INFINITY }],
    ['jitter 1', { jitter: 1 }],
    ['a negative jitter', { jitter: -0.1 }],
    ['minMs above maxMs', { minMs: 10_000, maxMs: 5000 }],
  ])('refuses %s', (_label, options) => {
    expect(() => exponentialBackoff(options)).toThrow(ConfigError);
  });
});

describe('delayFor', () => {
  it('passes a sane delay through, rounded', () => {
    expect(delayFor(() => 1500.4, 1)).toBe(1500);
    expect(delayFor(() => 0, 1)).toBe(0);
  });

  it('falls back to 1 s for a delay that is negative or not finite', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(delayFor(() => bad, 1)).toBe(1000);
    }
  });

  it('caps a delay at one year', () => {
    expect(delayFor(() => 10 * 365 * 24 * hour, 1)).toBe(365 * 24 * hour);
  });

  it('passes the attempt count to the backoff', () => {
    expect(delayFor((n) => n * 100, 7)).toBe(700);
  });
});

describe('checkMaxAttempts', () => {
  it('accepts 1 to 1000000', () => {
    expect(checkMaxAttempts(1, 'here')).toBe(1);
    expect(checkMaxAttempts(1_000_000, 'here')).toBe(1_000_000);
  });

  it.each([0, -1, 1.5, 1_000_001, Number.NaN])('refuses %d', (value) => {
    expect(() => checkMaxAttempts(value, 'here')).toThrow(ConfigError);
  });
});
