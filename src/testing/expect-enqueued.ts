import { inspect } from 'node:util';
import type { AsyncTask } from '../async-task.js';
import type { Encryptor } from '../core/encryptor.js';
import { ConfigError } from '../core/errors.js';
import type { OptionNames } from '../core/options.js';
import type { TaskMethod } from '../core/target.js';
import {
  attemptsOf,
  checkFilter,
  matches,
  resolve,
  type EnqueuedAttempt,
  type EnqueuedFilter,
  type Uninferred,
} from './enqueued.js';
import { mismatches, projected } from './partial-match.js';

export interface ExpectEnqueuedOptions<Args> extends EnqueuedFilter<Args> {
  /** Exactly this many pending attempts must match. @defaultValue at least one */
  readonly count?: number;
}

/**
 * An `expectEnqueued` that did not hold. A plain `Error` with `expected` and `actual`, which
 * vitest and jest show as a diff; the message says the same in words for any runner (node:test).
 * Arguments of attempts stored with an encryptor are never quoted in it.
 */
export class EnqueuedAssertionError extends Error {
  /** What was asserted: the partial arguments, or `{ count }`. */
  readonly expected: unknown;
  /** The nearest pending attempt's arguments, cut down to the keys asserted, or `{ count }`. */
  readonly actual: unknown;

  constructor(message: string, expected: unknown, actual: unknown) {
    super(message);
    this.name = 'EnqueuedAssertionError';
    this.expected = expected;
    this.actual = actual;
  }
}

/** Attempts listed in a failure message, at most. */
const listed = 10;

/**
 * Asserts that `method` has pending attempts matching `args` (a partial match, see
 * {@link EnqueuedFilter}) and `where`: at least one, or exactly `count`. Returns the matching
 * attempts. On failure throws an {@link EnqueuedAssertionError} whose message lists what is
 * pending for that method, nearest first, with what differs, and matching attempts that are no
 * longer pending (already run by a drain or a worker).
 *
 * @example
 * await expectEnqueued(tasks, Mailer.send, { args: { to: 'a@example.com' } });
 * await expectEnqueued(tasks, Mailer.send, { count: 0 }); // nothing pending for Mailer.send
 */
const expectNames: OptionNames = new Set(['args', 'where', 'count']);

export async function expectEnqueued<
  Args,
  Tx,
  HandlerTx,
  Encryptors extends Record<string, Encryptor>,
>(
  tasks: AsyncTask<Tx, HandlerTx, Encryptors>,
  method: TaskMethod<Args>,
  options: ExpectEnqueuedOptions<Uninferred<Args>> = {},
): Promise<EnqueuedAttempt<Args>[]> {
  const runtime = tasks.runtime;
  const ref = resolve(runtime, method, 'expectEnqueued');
  checkFilter(options, 'expectEnqueued', expectNames);
  const { count } = options;
  if (count !== undefined && (!Number.isInteger(count) || count < 0)) {
    throw new ConfigError(`expectEnqueued: count must be an integer of 0 or more, got ${count}`);
  }
  const all = await attemptsOf<Args>(runtime, ref, null);
  const pending = all.filter((attempt) => attempt.status === 'pending');
  const matching = pending.filter((attempt) => matches(attempt, options));
  if (count === undefined ? matching.length > 0 : matching.length === count) return matching;

  const name = `${ref.target}.${ref.methodName}`;
  const hasArgs = 'args' in options;
  const wanted = `${count === undefined ? 'at least 1' : `exactly ${count}`} pending ${name} attempt${(count ?? 1) === 1 ? '' : 's'}${hasArgs ? ` with args matching ${show(options.args)}` : ''}${options.where ? ' (and where)' : ''}`;
  const lines = [`expectEnqueued: expected ${wanted}; found ${matching.length}.`];
  const ranked = pending
    .filter((attempt) => !matching.includes(attempt))
    .map((attempt) => ({ attempt, diff: hasArgs ? mismatches(options.args, attempt.args) : [] }))
    .sort((a, b) => a.diff.length - b.diff.length);
  if (matching.length > 0) {
    lines.push('', `Matching (${matching.length}):`);
    for (const attempt of matching.slice(0, listed)) lines.push(`  ${describe(attempt)}`);
  }
  if (ranked.length > 0) {
    lines.push('', `Pending ${name} attempts that do not match (${ranked.length}), nearest first:`);
    for (const { attempt, diff } of ranked.slice(0, listed)) {
      lines.push(`  ${describe(attempt)}`);
      if (attempt.encryptor !== null) continue;
      for (const m of diff) {
        lines.push(`      ${m.path}: expected ${show(m.expected)}, got ${show(m.actual)}`);
      }
      if (diff.length === 0 && options.where) lines.push('      where returned false');
    }
  } else if (matching.length === 0) {
    lines.push('', `No ${name} attempt is pending.`);
  }
  const done = all.filter((attempt) => attempt.status !== 'pending' && matches(attempt, options));
  if (done.length > 0) {
    lines.push('', `Matching but no longer pending (${done.length}; a drain or worker ran them):`);
    for (const attempt of done.slice(0, listed)) lines.push(`  ${describe(attempt)}`);
  }
  const nearest = ranked[0]?.attempt;
  const [expected, actual] =
    count !== undefined && matching.length > 0
      ? [{ count }, { count: matching.length }]
      : hasArgs
        ? [
            options.args,
            nearest && nearest.encryptor === null
              ? projected(options.args, nearest.args)
              : undefined,
          ]
        : [{ count: count ?? 1 }, { count: matching.length }];
  throw new EnqueuedAssertionError(lines.join('\n'), expected, actual);
}

function describe(attempt: EnqueuedAttempt<unknown>): string {
  const args = attempt.encryptor === null ? show(attempt.args) : '[encrypted]';
  const extras = [
    attempt.status === 'pending' ? null : attempt.status,
    attempt.queue === 'default' ? null : `queue ${attempt.queue}`,
    attempt.numAttempts === 0
      ? null
      : `${attempt.numAttempts} run${attempt.numAttempts === 1 ? '' : 's'}`,
  ].filter((extra) => extra !== null);
  return `#${attempt.id} args ${args}${extras.length > 0 ? ` (${extras.join(', ')})` : ''}`;
}

function show(value: unknown): string {
  return inspect(value, { depth: 6, breakLength: Infinity, compact: true, sorted: true });
}
