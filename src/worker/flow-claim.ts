import type { QueueFlow } from '../core/flow.js';
import type { AttemptClaimParams, AttemptClaimResult, Executor } from '../seam/executor.js';
import type { AttemptRecord } from '../core/attempt.js';

/**
 * One claim of up to `params.limit` attempts across the queues a worker takes, where some queues
 * have flow control (the AsyncTask's `queues`). Without any, it is the plain claim, unchanged.
 * Otherwise each limited queue is claimed on its own (`attemptClaimLimited`, which keeps its
 * limits across every claimer and returns at most its room), then the queues without limits
 * share what is left of `limit` in one plain claim that leaves the limited ones out. Limited
 * queues go first so that a busy unlimited queue cannot starve them, starting from a random one so
 * that none starves the others.
 */
export async function claimWithFlows(
  executor: Executor,
  flows: ReadonlyMap<string, QueueFlow>,
  params: AttemptClaimParams,
  turn?: ClaimTurn,
): Promise<AttemptClaimResult> {
  if (flows.size === 0) return executor.attemptClaim(params);
  const limited =
    params.queues === null
      ? [...flows.values()]
      : params.queues.flatMap((queue) => flows.get(queue) ?? []);
  if (limited.length === 0) return executor.attemptClaim(params);
  const records: AttemptRecord[] = [];
  let now: Date | undefined;
  const { queues, limit, ...common } = params;
  const first = Math.floor(Math.random() * limited.length);
  for (let i = 0; i < limited.length && records.length < limit; i += 1) {
    const flow = limited[(first + i) % limited.length]!;
    if (turn?.quiet.has(flow.queue)) continue;
    const asked = limit - records.length;
    const claimed = await executor.attemptClaimLimited({ ...common, limit: asked, flow });
    if (claimed.records.length < asked) turn?.short.push(flow);
    if (claimed.exhausted === true) turn?.empty.push(flow.queue);
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  const unlimited = queues === null ? null : queues.filter((queue) => !flows.has(queue));
  if (records.length < limit && (unlimited === null || unlimited.length > 0) && !turn?.skipOpen) {
    const claimed = await executor.attemptClaim({
      ...common,
      limit: limit - records.length,
      queues: unlimited,
      exceptQueues: unlimited === null ? [...flows.keys()] : [],
    });
    if (turn) turn.openExhausted = claimed.records.length < limit - records.length;
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  return { records, now: now ?? new Date() };
}

/** What one of a worker's claims leaves out, and what it learns (see FlowClaimer). */
interface ClaimTurn {
  /** Leave out the claim of the queues without limits. */
  readonly skipOpen: boolean;
  /** Limited queues to leave out. */
  readonly quiet: ReadonlySet<string>;
  /** Whether the claim of the queues without limits took fewer than it asked (if it ran). */
  openExhausted?: boolean;
  /** Limited queues whose claim took fewer than it asked. */
  readonly short: QueueFlow[];
  /** Limited queues whose claim saw nothing due (AttemptClaimResult.exhausted). */
  readonly empty: string[];
}

/**
 * A worker's claims: {@link claimWithFlows}, but once the queues without limits came up empty,
 * their claim is left out for the next {@link quietMs}, unless an enqueue into one of them is
 * heard of (a notification, this process's own enqueue, one of its retries coming due). That
 * claim walks the due rows of every queue in due order, leaving the limited ones' out, so behind
 * a backlog of limited queues it read the whole backlog to find nothing, on every claim: a worker
 * draining a limited queue claimed it at a fraction of the rate. Now that walk runs at most ten
 * times a second, and a task of an unlimited queue that no notification announces (another
 * process on MySQL or SQLite) waits at most that much longer. A limited queue whose claim saw
 * nothing due at all (where the dialect says so: MySQL, whose limited claims have no
 * queue-leading index and step over the other queues' due rows) is left out the same way.
 * `runDue` passes never skip.
 *
 * A worker's claim also says how long until a rate-limited queue it came up short in has room
 * in its window again (`waitMs`), so that the worker claims again then instead of after its poll
 * interval: with `{ limit: 5, periodMs: 100 }` and a poll interval of a second, a full window made
 * it wait the second, and the queue ran at a tenth of its rate. Asked only of a queue this worker
 * claimed from within its last two periods (one with nothing due costs no statement more). A
 * window that freed between the claim and the question (`freedLately`) means claim again at once,
 * but only once in a row: a queue short of due attempts would otherwise be claimed in a loop for
 * a period.
 */
export class FlowClaimer {
  static readonly quietMs = 100;
  readonly #flows: ReadonlyMap<string, QueueFlow>;
  readonly #fixed: Omit<AttemptClaimParams, 'limit' | 'queues' | 'horizon'>;
  #openQuietUntil = 0;
  /** Limited queues left out until then (performance.now()): their last claim saw nothing due. */
  readonly #quietUntil = new Map<string, number>();
  /** performance.now() of this worker's last claim that took attempts of a rate-limited queue. */
  readonly #ratedClaimedAt = new Map<string, number>();
  /** The last wait given was 0 for a window freed lately: the next such is not waited for. */
  #retriedFreed = false;

  constructor(
    flows: ReadonlyMap<string, QueueFlow>,
    fixed: Omit<AttemptClaimParams, 'limit' | 'queues' | 'horizon'>,
  ) {
    this.#flows = flows;
    this.#fixed = fixed;
  }

  /** An enqueue into `queue` ('' for any) was heard of: the next claim takes its queue too. */
  enqueued(queue: string): void {
    if (queue === '') this.#quietUntil.clear();
    else this.#quietUntil.delete(queue);
    if (queue === '' || !this.#flows.has(queue)) this.#openQuietUntil = 0;
  }

  /**
   * A claim; `mayWait`: a worker's, whose unlimited queues' claim may wait its turn, and which
   * says how long to wait for a full rate-limit window (`waitMs`: at least 1).
   */
  async claim(
    executor: Executor,
    varying: Pick<AttemptClaimParams, 'limit' | 'queues' | 'horizon'>,
    mayWait: boolean,
  ): Promise<AttemptClaimResult & { readonly waitMs?: number }> {
    const params = { ...this.#fixed, ...varying };
    if (this.#flows.size === 0) return executor.attemptClaim(params);
    const now = performance.now();
    const quiet = new Set<string>();
    if (mayWait) {
      for (const [queue, until] of this.#quietUntil) {
        if (now < until) quiet.add(queue);
        else this.#quietUntil.delete(queue);
      }
    }
    const turn: ClaimTurn = {
      skipOpen: mayWait && now < this.#openQuietUntil,
      quiet,
      short: [],
      empty: [],
    };
    const claimed = await claimWithFlows(executor, this.#flows, params, turn);
    if (!mayWait) return claimed;
    if (turn.openExhausted !== undefined) {
      this.#openQuietUntil = turn.openExhausted ? now + FlowClaimer.quietMs : 0;
    }
    for (const queue of turn.empty) this.#quietUntil.set(queue, now + FlowClaimer.quietMs);
    for (const record of claimed.records) {
      if (this.#flows.get(record.queue)?.rateLimit) this.#ratedClaimedAt.set(record.queue, now);
    }
    let waitMs: number | undefined;
    let freed = false;
    for (const flow of turn.short) {
      const claimedAt = this.#ratedClaimedAt.get(flow.queue);
      if (flow.rateLimit === null || claimedAt === undefined) continue;
      // Two periods: the claim that comes when the window frees is a period after the one that
      // filled it, give or take the round trips.
      if (now - claimedAt > 2 * flow.rateLimit.periodMs) continue;
      const window = await executor.flowRateWindow(flow);
      freed ||= window.freedLately;
      if (window.fullForMs !== null) waitMs = Math.min(waitMs ?? Infinity, window.fullForMs);
    }
    if (freed && !this.#retriedFreed) waitMs = 0;
    this.#retriedFreed = freed && waitMs === 0;
    // Not below 1 ms: a timer, so that the claim after it sees a later clock.
    return waitMs === undefined ? claimed : { ...claimed, waitMs: Math.max(1, waitMs) };
  }
}
