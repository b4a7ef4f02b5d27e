// The completion batch split: successes keep their own statement with the parameters they always
// had (an all-success batch goes through untouched), the rest go to the run-history statement.
import { describe, expect, it } from 'vitest';
import { splitCompletions } from '../../src/dialects/completions.js';
import type { AttemptCompletion } from '../../src/seam/executor.js';

const done = (id: string): AttemptCompletion => ({
  id,
  numAttempts: 1,
  status: 'succeeded',
  delayMs: 0,
  error: null,
});
const retried = (id: string): AttemptCompletion => ({
  id,
  numAttempts: 1,
  status: 'pending',
  delayMs: 1000,
  error: 'Error: boom',
  startedAtMs: 1,
  endedAtMs: 2,
});

describe('splitCompletions', () => {
  it('hands an all-success batch back as it is, without a copy', () => {
    const batch = [done('1'), done('2')];
    const { succeeded, unsucceeded } = splitCompletions(batch);
    expect(succeeded).toBe(batch);
    expect(unsucceeded).toEqual([]);
  });

  it('splits a mixed batch, each side in its own order', () => {
    const { succeeded, unsucceeded } = splitCompletions([
      done('1'),
      retried('2'),
      done('3'),
      { ...retried('4'), status: 'failed' },
      { ...retried('5'), status: 'expired' },
    ]);
    expect(succeeded.map((c) => c.id)).toEqual(['1', '3']);
    expect(unsucceeded.map((c) => c.id)).toEqual(['2', '4', '5']);
  });
});
