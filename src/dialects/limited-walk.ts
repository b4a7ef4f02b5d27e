/**
 * How one dialect claims from a queue with flow control, in the claim's serialised step (see
 * {@link limitedByPriority}). `Row` is a claimed attempt as the dialect has it.
 */
export interface LimitedPasses<Row> {
  /**
   * Claims (leases, and records as starts when rate-limited) up to `limit` of the queue's due
   * rows of `priorities` (ascending), ranked within their keys. `prefix`: among the first that
   * many of them in claim order (the first look). `prefix` null: among all of them;
   * `afterFirst`, the look after a first one that fell short, which walks the queue's keys (one
   * index step per key with pending rows, then each free key's first due rows: a key whose
   * backlog fills the front of the queue does not hide the keys behind it), else a fair claim's
   * look, by key too, over every pending priority, which takes no key's rows past the first
   * ceil(limit / keys with room).
   */
  pass(
    priorities: readonly number[],
    limit: number,
    prefix: number | null,
    afterFirst: boolean,
  ): Promise<readonly Row[]>;
  /**
   * The first look at the lowest priority with pending rows in the table, found by the
   * statement itself (one round trip fewer than a probe first), and that priority, asked for
   * when the look took nothing; absent: the walk starts with `dueAbove`.
   */
  lowest?: {
    pass(limit: number, prefix: number): Promise<readonly Row[]>;
    priority(): Promise<number | null>;
  };
  /** The priority of a row `pass` or `lowest.pass` returned. */
  priorityOf(row: Row): number;
  /** Whether the queue's limits still leave room, after a first look that took fewer than asked. */
  hasRoom(): Promise<boolean>;
  /** Whether the last first look read every due row of its priorities (no more to see). */
  sawEvery(): boolean;
  /**
   * The lowest priorities above `after` (null: any) with a due row in the queue, ascending, as
   * many as one pass takes (at least one), or none: the walk's next step (see
   * PriorityWalk.dueAbove). A probe of the table's priorities may return some with nothing due
   * in the queue: a pass that finds nothing there.
   */
  dueAbove(after: number | null): Promise<readonly number[]>;
}

/**
 * A limited claim by priority, as dueByPriority (priority-walk.ts) takes the others. The queue's
 * due index is ordered by priority, then due time, and holds the rows scheduled for later too:
 * one walk over every priority read each of those whenever it found fewer due rows than it looked
 * for (every claim of an idle or keeping-up worker; 34 ms per claim on SQLite, 83 ms on MariaDB
 * beside 200,000 due tomorrow). Each priority is a walk from its first due row to its first later
 * one, lowest first, until `limit` rows are taken: the lowest pending priority first, then the
 * next ones with a due row, as many at once as `dueAbove` gives (one at a time, a queue whose
 * every attempt had a priority of its own drained at a sixth of its rate in one priority). A pass
 * first ranks only its first `limit × 4 + 256` due rows (a row's rank within its key is the same
 * in any prefix in claim order as in the whole backlog, so the claim is one the whole backlog
 * allows), then, when that fell short with room left, looks by key (see `pass`). Before the look
 * by key, looks twice as wide up to 20,000 rows and then one at every due row followed a short
 * one, and stopped once one took nothing: behind one key's backlog of 100,000, 2,000 attempts of
 * 100 other keys did not run in two minutes. Each pass sees the runs and starts of the passes
 * before it. Fairness looks at every pending priority at once, by key (round-robin across keys
 * spans priorities), and again while a look takes some but not all.
 */
export async function limitedByPriority<Row>(
  passes: LimitedPasses<Row>,
  fair: boolean,
  limit: number,
): Promise<Row[]> {
  if (fair) {
    const priorities: number[] = [];
    for (let more = await passes.dueAbove(null); more.length > 0;) {
      priorities.push(...more);
      more = await passes.dueAbove(more.at(-1)!);
    }
    // Each fair look takes every key's first share of the room; one that took some but fell
    // short (keys with fewer due rows than their share) is followed by another.
    const rows: Row[] = [];
    while (priorities.length > 0 && rows.length < limit) {
      const more = await passes.pass(priorities, limit - rows.length, null, false);
      if (more.length === 0) break;
      rows.push(...more);
    }
    return rows;
  }
  const rows: Row[] = [];
  const { lowest } = passes;
  // Undefined: the lowest pending priority, which lowest.pass finds itself.
  let list = lowest === undefined ? await passes.dueAbove(null) : undefined;
  while (list === undefined || list.length > 0) {
    const wanted = limit - rows.length;
    const first =
      list === undefined
        ? await lowest!.pass(wanted, wanted * 4 + 256)
        : await passes.pass(list, wanted, wanted * 4 + 256, false);
    rows.push(...first);
    if (first.length >= wanted) break;
    if (list === undefined) {
      const p = first[0] === undefined ? await lowest!.priority() : passes.priorityOf(first[0]);
      if (p === null) break;
      list = [p];
    }
    if (!passes.sawEvery()) {
      if (!(await passes.hasRoom())) return rows;
      rows.push(...(await passes.pass(list, limit - rows.length, null, true)));
    }
    if (rows.length >= limit) break;
    list = await passes.dueAbove(list.at(-1)!);
  }
  return rows;
}
