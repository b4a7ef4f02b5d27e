// A skip's reason names where the skipped test's driver part runs; coveredBy checks that the test
// it names exists, so a reason cannot outlive the test it points a reader to.
import { describe, expect, it } from 'vitest';
import { coveredBy } from '../harness/dialects.js';

describe('coveredBy', () => {
  it('names a test that exists as file › "title"', () => {
    expect(coveredBy('conformance/executor-claim.test.ts', 'attemptRescueExpired returns')).toBe(
      'conformance/executor-claim.test.ts › "attemptRescueExpired returns"',
    );
  });

  it('throws for a title the file does not hold, or a file that is not there', () => {
    expect(() => coveredBy('conformance/executor-claim.test.ts', 'no such test')).toThrow(
      /has no test titled "no such test"/,
    );
    expect(() => coveredBy('conformance/nothing.test.ts', 'a test')).toThrow(/ENOENT/);
  });
});
