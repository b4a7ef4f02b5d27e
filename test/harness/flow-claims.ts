// Limited claims as the executor takes them, for the flow control tests.
import type { QueueFlow } from '../../src/core/flow.js';
import { claimParams } from './executor-harness.js';

/** Queue `q`'s flow: no limits but one run per key, unless overridden. */
export const flow = (overrides: Partial<QueueFlow> = {}): QueueFlow => ({
  queue: 'q',
  concurrency: null,
  keyConcurrency: 1,
  fair: false,
  rateLimit: null,
  ...overrides,
});

/** A limited claim of up to `limit` by `lockedBy`, as claimParams' plain claim. */
export const limitedClaim = (lockedBy: string, limit: number, queueFlow: QueueFlow) => {
  const { queues: _queues, ...params } = claimParams(lockedBy, { limit });
  return { ...params, flow: queueFlow };
};
