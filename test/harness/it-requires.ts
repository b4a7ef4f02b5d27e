import { it } from 'vitest';
import type { DialectFixture, SkippableBehaviour } from './fixture.js';

type TestBody = () => Promise<void>;

/**
 * `it`, unless the fixture declares that it cannot have `behaviour`: then a named `it.skip` whose
 * title carries the fixture's reason, so the gap shows up in every report.
 */
export function itRequires(
  fixture: DialectFixture,
  behaviour: SkippableBehaviour,
): (name: string, body: TestBody, timeoutMs?: number) => void {
  const reason = fixture.skips?.[behaviour];
  if (reason === undefined) return (name, body, timeoutMs) => it(name, body, timeoutMs);
  return (name, body) => it.skip(`${name} [skipped on ${fixture.label}: ${reason}]`, body);
}
