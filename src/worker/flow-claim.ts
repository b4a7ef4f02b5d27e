import type { QueueFlow } from '../core/flow.js';
import type {
  AttemptClaimParams,
  AttemptClaimResult,
  Executor,
  RateWindow,
} from '../seam/executor.js';
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
): Promise<FlowClaimResult> {
  if (flows.size === 0) return executor.attemptClaim(params);
  const limited =
    params.queues === null
      ? [...flows.values()]
      : params.queues.flatMap((queue) => flows.get(queue) ?? []);
  if (limited.length === 0) return executor.attemptClaim(params);
  const records: AttemptRecord[] = [];
  try {
    return await claimEach(executor, flows, params, limited, records, turn);
  } catch (error) {
    // Each statement commits on its own: the attempts earlier ones took are this worker's now.
    if (records.length === 0) throw error;
    return { records, now: new Date(), failed: error };
  }
}

/**
 * A claim whose statements after the first may fail: what the earlier ones took, and the error
 * (`failed`), to be reported once those attempts are held. Dropped, they stayed `running`, out of
 * reach of heartbeats and stop(), until their leases ran out (each rescue counting a run).
 */
export interface FlowClaimResult extends AttemptClaimResult {
  readonly failed?: unknown;
  /** See FlowClaimer.claim. */
  readonly waitMs?: number;
}

async function claimEach(
  executor: Executor,
  flows: ReadonlyMap<string, QueueFlow>,
  params: AttemptClaimParams,
  limited: readonly QueueFlow[],
  records: AttemptRecord[],
  turn: ClaimTurn | undefined,
): Promise<AttemptClaimResult> {
  let now: Date | undefined;
  const { queues, limit, ...common } = params;
  const first = Math.floor(Math.random() * limited.length);
  for (let i = 0; i < limited.length && records.length < limit; i += 1) {
    const flow = limited[(first + i) % limited.length]!;
    if (turn?.quiet.has(flow.queue)) continue;
    const asked = Math.min(limit - records.length, turn?.asks.get(flow.queue) ?? Infinity);
    const started = performance.now();
    const claimed = await executor.attemptClaimLimited({ ...common, limit: asked, flow });
    if (claimed.records.length < asked) turn?.short.push(flow);
    if (claimed.exhausted === true) {
      turn?.empty.push({ queue: flow.queue, ms: performance.now() - started });
    } else if (claimed.records.length < asked) {
      turn?.atLimit.push({ queue: flow.queue, ms: performance.now() - started });
      turn?.asks.set(flow.queue, Math.max(leastAsk, 2 * claimed.records.length));
    } else {
      turn?.asks.delete(flow.queue);
    }
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  const unlimited = queues === null ? null : queues.filter((queue) => !flows.has(queue));
  if (records.length < limit && (unlimited === null || unlimited.length > 0) && !turn?.skipOpen) {
    const started = performance.now();
    const claimed = await executor.attemptClaim({
      ...common,
      limit: limit - records.length,
      queues: unlimited,
      exceptQueues: unlimited === null ? [...flows.keys()] : [],
    });
    if (turn) {
      const short = claimed.records.length < limit - records.length;
      turn.openEmptyMs = short ? performance.now() - started : null;
    }
    if (claimed.records.length > 0) now ??= claimed.now;
    records.push(...claimed.records);
  }
  return { records, now: now ?? new Date() };
}

/** See ClaimTurn.asks. */
const leastAsk = 16;

/** What one of a worker's claims leaves out, and what it learns (see FlowClaimer). */
interface ClaimTurn {
  /** Leave out the claim of the queues without limits. */
  readonly skipOpen: boolean;
  /** Limited queues to leave out. */
  readonly quiet: ReadonlySet<string>;
  /**
   * The most to ask of limited queues whose last claim came up short at a limit: twice what it
   * took (at least `leastAsk`), until a claim takes all it asked or finds nothing due. A limited
   * claim's first look reads four times what it asks (see limited-walk.ts): a worker that holds
   * 200 asked a queue of ten keys for 200 on every claim, and read 1,000 due attempts for ten.
   */
  readonly asks: Map<string, number>;
  /**
   * If the claim of the queues without limits ran: how long it took when it took fewer than it
   * asked, or null.
   */
  openEmptyMs?: number | null;
  /** Limited queues whose claim took fewer than it asked. */
  readonly short: QueueFlow[];
  /** Limited queues whose claim saw nothing due (AttemptClaimResult.exhausted), and its time. */
  readonly empty: { readonly queue: string; readonly ms: number }[];
  /**
   * Limited queues whose claim took fewer than it asked, though attempts were due: at a limit,
   * every key busy, or a full rate window (which then also keeps it out: FlowClaimer's fullUntil).
   */
  readonly atLimit: { readonly queue: string; readonly ms: number }[];
}

/**
 * A worker's claims: {@link claimWithFlows}, but once the queues without limits came up empty,
 * their claim is left out for a while (see {@link quietFor}), unless an enqueue into one of them
 * is heard of (a notification, this process's own enqueue, one of its retries coming due). That
 * claim walks the due rows of every queue in due order, leaving the limited ones' out, so behind
 * a backlog of limited queues it read the whole backlog to find nothing, on every claim: a worker
 * draining a limited queue claimed it at a fraction of the rate. A limited queue whose claim saw
 * nothing due at all (where the dialect says so: MySQL, whose limited claims have no
 * queue-leading index and step over the other queues' due rows, and PostgreSQL, where each one
 * takes the queue's lock and counts its running attempts) is left out the same way. A task that
 * no notification announces (another process's on MySQL or SQLite, one scheduled for later)
 * waits at most that much longer, never more than the poll interval an idle worker waits.
 * `runDue` passes never skip.
 *
 * A limited queue whose claim took fewer than it asked though attempts were due (at its
 * concurrency, every key busy) is left out the same way, until an outcome of one of its runs here
 * is written (a slot or a key may then be free), an enqueue into it is heard of, or the time is
 * up (another worker's run ended). Before, each run's end started a claim before its outcome was
 * written, which found the same limits: with ten keys of one running each, half the claims took
 * nothing, and on MySQL each of those read every due attempt of the queue.
 *
 * A worker's claim also says how long until a rate-limited queue it came up short in has room
 * in its window again (`waitMs`), so that the worker claims again then instead of after its poll
 * interval: with `{ limit: 5, periodMs: 100 }` and a poll interval of a second, a full window made
 * it wait the second, and the queue ran at a tenth of its rate. Asked only of a queue this worker
 * claimed from within its last two periods (one with nothing due costs no statement more). A
 * window that freed between the claim and the question (`freedLately`) means claim again at once,
 * but only once in a row: a queue short of due attempts would otherwise be claimed in a loop for
 * a period. Until then the queue is left out of the worker's claims (a run ending or an outcome
 * written frees nothing in a rate window), for at least a fiftieth of its period (at most
 * 100 ms): each start leaves a sliding window on its own, and a worker that claimed whenever its
 * runs ended would take the one or two starts freed since its last claim, every time. An enqueue
 * heard of into a `perKey` queue brings it back (its key may have room). A rate-limited queue
 * short at its other limits (its window not full) is left out as any limited queue is: it was
 * claimed again at every run's end, and five keys of one run each (`perKey`, 200 a second, never
 * reached) drained at 600 tasks/s with a claim that took nothing for every one that took some,
 * keeping PostgreSQL's core busy (now 781/s at 70 %).
 */
export class FlowClaimer {
  /** The least time a claim that came up empty is left out. */
  static readonly quietMs = 100;
  /**
   * How many times its own duration a claim that came up empty is left out, when that is longer
   * than quietMs: a walk over a backlog of 200,000 limited attempts takes 30-70 ms on MariaDB, and
   * four such (idle limited queues and the unlimited ones) ten times a second left a third of the
   * time to the queue with work. So stepping over costs at most about a tenth of the time.
   */
  static readonly quietFactor = 10;
  readonly #flows: ReadonlyMap<string, QueueFlow>;
  readonly #fixed: Omit<AttemptClaimParams, 'limit' | 'queues' | 'horizon'>;
  #openQuietUntil = 0;
  /** Limited queues left out until then (performance.now()): their last claim saw nothing due. */
  readonly #quietUntil = new Map<string, number>();
  /**
   * Limited queues with runs ended here whose outcomes are not all written: the first and the last
   * such outcome, numbered as Completer.settled counts them.
   */
  readonly #unwritten = new Map<string, { first: number; last: number }>();
  /** Writes of outcomes of limited queues, counted; and the count at each queue's last one. */
  #writes = 0;
  readonly #lastWrite = new Map<string, number>();
  readonly #asks = new Map<string, number>();
  /** performance.now() of this worker's last claim that took attempts of a rate-limited queue. */
  readonly #ratedClaimedAt = new Map<string, number>();
  /** The last wait given was 0 for a window freed lately: the next such is not waited for. */
  #retriedFreed = false;
  /** Rate-limited queues left out until then (performance.now()): their window was full. */
  readonly #fullUntil = new Map<string, number>();

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
    for (const full of this.#fullUntil.keys()) {
      if ((queue === '' || queue === full) && this.#flows.get(full)?.rateLimit?.perKey) {
        this.#fullUntil.delete(full);
      }
    }
    if (queue === '' || !this.#flows.has(queue)) this.#openQuietUntil = 0;
  }

  /** A run of `queue` ended here; its outcome is the `outcome`-th given to the completer. */
  ended(queue: string, outcome: number): void {
    if (!this.#flows.has(queue)) return;
    const unwritten = this.#unwritten.get(queue);
    if (unwritten === undefined) this.#unwritten.set(queue, { first: outcome, last: outcome });
    else unwritten.last = outcome;
  }

  /**
   * The first `settled` outcomes given to the completer are written: a limited queue left out
   * with one of them is claimed again. Those after its first are counted from its last.
   */
  written(settled: number): void {
    for (const [queue, unwritten] of this.#unwritten) {
      if (unwritten.first > settled) continue;
      this.#quietUntil.delete(queue);
      this.#writes += 1;
      this.#lastWrite.set(queue, this.#writes);
      if (unwritten.last <= settled) this.#unwritten.delete(queue);
      else unwritten.first = unwritten.last;
    }
  }

  /** How long a claim that took `ms` to come up empty is left out, with that poll interval. */
  static quietFor(ms: number, pollIntervalMs: number): number {
    const most = Math.max(FlowClaimer.quietMs, pollIntervalMs);
    return Math.min(Math.max(FlowClaimer.quietMs, FlowClaimer.quietFactor * ms), most);
  }

  /**
   * A claim; `pollIntervalMs`: a worker's (null: a runDue pass), whose empty claims may wait their
   * turn, and which says how long to wait for a full rate-limit window (`waitMs`: at least 1).
   */
  async claim(
    executor: Executor,
    varying: Pick<AttemptClaimParams, 'limit' | 'queues' | 'horizon'>,
    pollIntervalMs: number | null,
  ): Promise<FlowClaimResult> {
    const mayWait = pollIntervalMs !== null;
    const params = { ...this.#fixed, ...varying };
    if (this.#flows.size === 0) return executor.attemptClaim(params);
    const now = performance.now();
    const quiet = new Set<string>();
    // Until the first full window left out has room: how long a worker with nothing else waits.
    let fullForMs: number | undefined;
    if (mayWait) {
      for (const [queue, until] of this.#quietUntil) {
        if (now < until) quiet.add(queue);
        else this.#quietUntil.delete(queue);
      }
      for (const [queue, until] of this.#fullUntil) {
        if (now >= until) {
          this.#fullUntil.delete(queue);
          continue;
        }
        quiet.add(queue);
        fullForMs = Math.min(fullForMs ?? Infinity, until - now);
      }
    }
    const turn: ClaimTurn = {
      skipOpen: mayWait && now < this.#openQuietUntil,
      quiet,
      short: [],
      empty: [],
      // A runDue pass ends at its first short claim: nothing to learn for the next.
      asks: mayWait ? this.#asks : new Map<string, number>(),
      atLimit: [],
    };
    const writes = this.#writes;
    const claimed = await claimWithFlows(executor, this.#flows, params, turn);
    if (!mayWait || claimed.failed !== undefined) return claimed;
    if (turn.openEmptyMs !== undefined) {
      this.#openQuietUntil =
        turn.openEmptyMs === null
          ? 0
          : now + FlowClaimer.quietFor(turn.openEmptyMs, pollIntervalMs);
    }
    for (const { queue, ms } of turn.empty) {
      this.#quietUntil.set(queue, now + FlowClaimer.quietFor(ms, pollIntervalMs));
    }
    for (const { queue, ms } of turn.atLimit) {
      // An outcome of it written during the claim may have freed what the claim found taken.
      if ((this.#lastWrite.get(queue) ?? 0) > writes) continue;
      this.#quietUntil.set(queue, now + FlowClaimer.quietFor(ms, pollIntervalMs));
    }
    for (const record of claimed.records) {
      if (this.#flows.get(record.queue)?.rateLimit) this.#ratedClaimedAt.set(record.queue, now);
    }
    let waitMs = fullForMs;
    let freed = false;
    for (const flow of turn.short) {
      const claimedAt = this.#ratedClaimedAt.get(flow.queue);
      if (flow.rateLimit === null || claimedAt === undefined) continue;
      // Two periods: the claim that comes when the window frees is a period after the one that
      // filled it, give or take the round trips.
      if (now - claimedAt > 2 * flow.rateLimit.periodMs) continue;
      let window: RateWindow;
      try {
        window = await executor.flowRateWindow(flow);
      } catch (error) {
        if (claimed.records.length === 0) throw error;
        return { ...claimed, failed: error };
      }
      freed ||= window.freedLately;
      if (window.fullForMs === null && !window.freedLately) continue;
      // Short at its window, not (only) at a limit: the window says when, not its runs' ends.
      this.#quietUntil.delete(flow.queue);
      if (window.fullForMs === null) continue;
      const fullMs = Math.max(window.fullForMs, Math.min(flow.rateLimit.periodMs / 50, 100));
      if (!window.freedLately) this.#fullUntil.set(flow.queue, now + fullMs);
      waitMs = Math.min(waitMs ?? Infinity, fullMs);
    }
    if (freed && !this.#retriedFreed) waitMs = 0;
    this.#retriedFreed = freed && waitMs === 0;
    // Not below 1 ms: a timer, so that the claim after it sees a later clock.
    return waitMs === undefined ? claimed : { ...claimed, waitMs: Math.max(1, waitMs) };
  }
}
