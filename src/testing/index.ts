/**
 * async-task/testing: helpers for your own test suite, for any test runner (vitest, jest,
 * node:test). `drain` performs what is due, `enqueued` and `expectEnqueued` look at what is
 * waiting, `runInline` performs tasks as their transactions commit, and `advanceTime` brings
 * later work forward.
 *
 * @example
 * import { drain, expectEnqueued } from 'async-task/testing';
 * await db.transaction((tx) => signUp(tx, 'a@example.com'));
 * await expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } });
 * const { runs } = await drain(tasks);
 */
export { advanceTime } from './advance-time.js';
export {
  drain,
  DrainLimitError,
  type DrainOptions,
  type DrainResult,
  type DrainRun,
} from './drain.js';
export {
  enqueued,
  type EnqueuedAttempt,
  type EnqueuedFilter,
  type PartialArgs,
  type Uninferred,
} from './enqueued.js';
export {
  EnqueuedAssertionError,
  expectEnqueued,
  type ExpectEnqueuedOptions,
} from './expect-enqueued.js';
export { runInline, type InlineRunner, type RunInlineOptions } from './run-inline.js';
