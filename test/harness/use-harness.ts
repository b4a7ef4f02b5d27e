import { afterEach, beforeEach } from 'vitest';
import type { DialectFixture, Harness, HarnessOptions } from './fixture.js';

/**
 * A fresh harness (its own table) for every test of the enclosing `describe`, closed after it.
 * Returns a getter, since the harness only exists once `beforeEach` has run.
 */
export function useHarness(fixture: DialectFixture, options?: HarnessOptions): () => Harness {
  let current: Harness | undefined;
  beforeEach(async () => {
    current = await fixture.setup(options);
  });
  afterEach(async () => {
    const closing = current;
    current = undefined;
    await closing?.close();
  });
  return () => {
    if (!current) throw new Error('useHarness: the harness exists only inside a test');
    return current;
  };
}
