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
  readonly #dates = new Map<number, Date>();

  /** The Date of a time (epoch milliseconds, as a number or numeric text): one per distinct time. */
  readonly date = (value: unknown): Date => {
    const ms = Number(value);
    let date = this.#dates.get(ms);
    if (date === undefined) {
      date = new Date(ms);
      this.#dates.set(ms, date);
    }
    return date;
  };

  /** One string per distinct target, method, queue or worker name. */
  readonly name = (value: string): string => {
    const names = ClaimedValues.#names;
    const known = names.get(value);
    if (known !== undefined) return known;
    if (names.size >= ClaimedValues.#maxNames) names.clear();
    names.set(value, value);
    return value;
  };
}
