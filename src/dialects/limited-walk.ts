/**
 * How one dialect claims from a queue with flow control, in the claim's serialised step (see
 * {@link limitedByPriority}). `Row` is a claimed attempt as the dialect has it.
 */
export interface LimitedPasses<Row> {
  /**
   * Claims (leases, and records as starts when rate-limited) up to `limit` of the queue's due
   * rows of `priorities`, ranked within their keys, among the first `prefix` of them in due order
   * (null: all of them). `wider`: a look past a first one that fell short (see `widens`).
   */
  pass(
    priorities: readonly number[],
    limit: number,
    prefix: number | null,
    wider: boolean,
  ): Promise<readonly Row[]>;
  /**
   * How a first look that fell short is followed: by looks twice as wide each, up to 20,000 rows,
   * before one at every due row, which reads the whole due backlog (of every queue on MySQL, which
   * has no index that leads with the queue: 300-1,000 ms per read at 200,000; of the queue on
   * SQLite), on every claim of a keyed queue that asks for more than its free keys can give. While
   * no look has taken rows (busy keys crowding them), they widen until one does. After one has:
   * `once`, one look more and the claim ends (its keys may be all the queue has); `whileTaking`,
   * they widen on until one takes nothing (then the next priority) or the claim has all it
   * asked. On MariaDB at 200,000, a 1,000-key queue drained at 8,300-8,600/s with `once`
   * (2,650-2,700 reading every due row; steps of 4 6,400-6,600, of 8 4,600-5,400; up to 10,000
   * rows 5,800-5,900), a claim among 10 keys with 3 free took 66 ms instead of 620, and one with
   * every key busy 730-840 ms instead of 590-670. On SQLite, reading every due row after a short
   * first look, ten keys of one run each drained 100,000 at under 170/s; with `whileTaking`,
   * 2,371/s, and 1,000 keys at 20,000 held their rate (31,010-31,154/s against 30,122-30,345).
   */
  readonly widens: 'once' | 'whileTaking';
  /**
   * `pass` over the lowest priority with pending rows in the table, found by the statement itself
   * (one round trip fewer than a probe first); absent: the walk probes for it.
   */
  passLowest?(limit: number, prefix: number): Promise<readonly Row[]>;
  /** The priority of a row `pass` or `passLowest` returned. */
  priorityOf(row: Row): number;
  /** Whether the queue's limits still leave room, after a pass that took fewer than asked. */
  hasRoom(): Promise<boolean>;
  /** Whether the last pass's look read every due row of its priority (no more to see). */
  sawEvery(): boolean;
  /** The lowest priority with pending rows in the queue above `after` (null: any), or null. */
  above(after: number | null): Promise<number | null>;
}

/** How many times wider each look after a short one is (see `widens`). */
const widening = 2;
/** The widest look before one of every due row (see `widens`). */
const widestLook = 20_000;

/** The look after a short one of `look` rows: twice as wide, or every due row (null). */
function wider(look: number): number | null {
  return look * widening > widestLook ? null : look * widening;
}

/**
 * A limited claim, one priority at a time, as dueByPriority (priority-walk.ts) takes the others.
 * The queue's due index is ordered by priority, then due time, and holds the rows scheduled for
 * later too: one walk over every priority read each of those whenever it found fewer due rows
 * than it looked for (every claim of an idle or keeping-up worker; 34 ms per claim on SQLite,
 * 83 ms on MariaDB beside 200,000 due tomorrow). Each priority
 * is a walk from its first due row to its first later one, lowest first, until `limit` rows are
 * taken. Within one, a pass first ranks only its first `limit × 4 + 256` due rows (a row's rank
 * within its key is the same in any due-order prefix as in the whole backlog, so the claim is one
 * the whole backlog allows), then (see `widens`) wider prefixes, and all of them only when
 * those fall short with room left (busy keys crowding the prefix must not starve the rest). Each
 * pass sees the runs and starts of the passes before it. Fairness ranks the due rows of every
 * pending priority at once, in one pass: round-robin across keys spans priorities.
 */
export async function limitedByPriority<Row>(
  passes: LimitedPasses<Row>,
  fair: boolean,
  limit: number,
): Promise<Row[]> {
  if (fair) {
    const priorities: number[] = [];
    for (let p = await passes.above(null); p !== null; p = await passes.above(p)) {
      priorities.push(p);
    }
    return priorities.length === 0 ? [] : [...(await passes.pass(priorities, limit, null, false))];
  }
  const rows: Row[] = [];
  const lowest = passes.passLowest?.bind(passes);
  let p = lowest === undefined ? await passes.above(null) : undefined;
  while (p !== null) {
    const wanted = limit - rows.length;
    const first =
      p === undefined
        ? await lowest!(wanted, wanted * 4 + 256)
        : await passes.pass([p], wanted, wanted * 4 + 256, false);
    const tookBefore = rows.length;
    rows.push(...first);
    if (first.length >= wanted) break;
    p ??= first[0] === undefined ? await passes.above(null) : passes.priorityOf(first[0]);
    if (p === null) break;
    for (
      let look = wider(wanted * 4 + 256);
      rows.length < limit && !passes.sawEvery();
      look = look === null ? null : wider(look)
    ) {
      if (!(await passes.hasRoom())) return rows;
      const before = rows.length;
      const taken = await passes.pass([p], limit - rows.length, look, true);
      rows.push(...taken);
      if (look === null) break;
      // `once`: a wider look ends the claim once this priority gave rows (the next claim looks
      // again from the front; rows of lower priorities wait for these). `whileTaking`: one that
      // took none after some did ends this priority's looks.
      if (passes.widens === 'once' && (taken.length > 0 || first.length > 0)) return rows;
      if (passes.widens === 'whileTaking' && taken.length === 0 && before > tookBefore) break;
    }
    if (rows.length >= limit) break;
    p = await passes.above(p);
  }
  return rows;
}
