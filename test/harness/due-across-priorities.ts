import type { TaskMethod } from '../../src/index.js';

/**
 * Items for `enqueueMany`, due now: 10 at priority 0 and 5 at priority 1 (beside attempts
 * scheduled for later at priorities -1 and 0, a claim must walk two priorities to take them all).
 */
export function dueAcrossPriorities(method: TaskMethod<{ i: number }>) {
  const at = (priority: number, count: number) =>
    Array.from({ length: count }, (_, i) => ({ method, args: { i }, options: { priority } }));
  return [...at(0, 10), ...at(1, 5)];
}
