/**
 * What the records of one claim share, made once for all of them. A claimed attempt is
 * held from its claim to its written outcome, long enough at tens of thousands a second for the
 * garbage collector to copy it once or twice: four Dates (about 100 bytes each) per attempt were
 * a third of what a drain's worker promoted (`--trace-gc-nvp`). Rows enqueued in one transaction
 * share their created_at and scheduled_at, and a claim returns them side by side; names repeat
 * from claim to claim. The records keep these Dates to themselves: `toAttempt` copies them
 * before user code sees one.
 */
export class ClaimedValues {
  /** Kept across claims; cleared whole past this many, which no real set of names reaches. */
  static readonly #names = new Map<string, string>();
  static readonly #maxNames = 10_000;
  readonly lockedBy: string;
  /** The lease's end and the row's update time: the same for every row of the claim. */
  readonly lockedUntil: Date;
  readonly updatedAt: Date;
  #lastMs = Number.NaN;
  #lastDate: Date | undefined;

  constructor(lockedBy: string, nowMs: number, lockedUntilMs: number) {
    this.lockedBy = lockedBy;
    this.updatedAt = new Date(nowMs);
    this.lockedUntil = new Date(lockedUntilMs);
  }

  /** The Date of `ms`, the same one as the previous call's when the time is the same. */
  date(ms: number): Date {
    if (ms !== this.#lastMs || this.#lastDate === undefined) {
      this.#lastMs = ms;
      this.#lastDate = new Date(ms);
    }
    return this.#lastDate;
  }

  /** One string per distinct target, method or queue name. */
  name(value: string): string {
    const names = ClaimedValues.#names;
    const known = names.get(value);
    if (known !== undefined) return known;
    if (names.size >= ClaimedValues.#maxNames) names.clear();
    names.set(value, value);
    return value;
  }
}
