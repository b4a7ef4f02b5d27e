import type { AttemptCompletion } from '../seam/executor.js';

/**
 * Succeeded completions apart from the rest. A batch of successes only, the common case, comes
 * back as it is, without a copy.
 */
export function splitCompletions(completions: readonly AttemptCompletion[]): {
  readonly succeeded: readonly AttemptCompletion[];
  readonly unsucceeded: readonly AttemptCompletion[];
} {
  let i = 0;
  while (i < completions.length && completions[i]!.status === 'succeeded') i++;
  if (i === completions.length) return { succeeded: completions, unsucceeded: [] };
  const succeeded = completions.slice(0, i);
  const unsucceeded: AttemptCompletion[] = [];
  for (; i < completions.length; i++) {
    const completion = completions[i]!;
    (completion.status === 'succeeded' ? succeeded : unsucceeded).push(completion);
  }
  return { succeeded, unsucceeded };
}
