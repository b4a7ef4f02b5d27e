import type { AttemptStatus } from '../core/attempt.js';
import type { AttemptStatsRow } from '../seam/executor.js';

/** Attempts of one status and queue counted in a sample of the table. */
export interface SampledCount {
  readonly status: AttemptStatus;
  readonly queue: string;
  readonly count: number;
}

/**
 * A large table's stats: `exact` counts for every status but succeeded, and `succeeded`, the
 * estimated number of succeeded attempts, split across queues in proportion to the sample's
 * succeeded attempts. The sample's own count is a floor (those attempts exist), which matters
 * when a dialect's estimate of the table lags behind it. Queues too small to show up in the
 * sample get no row.
 */
export function estimatedStats(
  exact: readonly AttemptStatsRow[],
  sample: readonly SampledCount[],
  succeeded: number,
): AttemptStatsRow[] {
  const sampled = sample.filter((row) => row.status === 'succeeded');
  const inSample = sampled.reduce((sum, row) => sum + row.count, 0);
  if (inSample === 0) return [...exact];
  const total = Math.max(succeeded, inSample);
  const rows = sampled
    .map((row) => ({
      status: 'succeeded' as const,
      queue: row.queue,
      count: Math.max(row.count, Math.round((total * row.count) / inSample)),
      approximate: true,
    }))
    .filter((row) => row.count > 0);
  return [...exact, ...rows];
}

/** How many ranges of ids {@link idSample} spreads over the table, and how many ids each spans. */
const sampleRanges = 50n;
const sampleRangeIds = 300n;

/**
 * A sample of a table by ranges of ids, for dialects without TABLESAMPLE: 50 ranges of 300 ids,
 * evenly spaced between the first and the last id, each in the middle of its stretch; `share` is
 * the fraction of the id span they cover, so a count in the sample divided by it estimates the
 * table's. Stratified: parts of the table thinned by pruning weigh what they should, and no
 * estimate of the table's size is needed. A span no larger than the sample is read whole.
 */
export function idSample(
  minId: bigint,
  maxId: bigint,
): { ranges: { lo: string; hi: string }[]; share: number } {
  const span = maxId - minId + 1n;
  if (span <= sampleRanges * sampleRangeIds) {
    return { ranges: [{ lo: String(minId), hi: String(maxId + 1n) }], share: 1 };
  }
  const stretch = span / sampleRanges;
  const ranges = Array.from({ length: Number(sampleRanges) }, (_, k) => {
    const lo = minId + BigInt(k) * stretch + (stretch - sampleRangeIds) / 2n;
    return { lo: String(lo), hi: String(lo + sampleRangeIds) };
  });
  return { ranges, share: Number(sampleRanges * sampleRangeIds) / Number(span) };
}

/** The succeeded attempts in a sample, scaled to the whole table by the sample's `share`. */
export function succeededInTable(sample: readonly SampledCount[], share: number): number {
  const inSample = sample
    .filter((row) => row.status === 'succeeded')
    .reduce((sum, row) => sum + row.count, 0);
  return inSample / share;
}

type CountRow = Readonly<Record<string, unknown>>;

/** The rows of an exact count per status and queue, as every dialect's `attemptStats` reads them. */
export function exactStats(rows: readonly CountRow[]): AttemptStatsRow[] {
  return rows.map((row) => ({
    status: row['status'] as AttemptStatus,
    queue: row['queue'] as string,
    count: Number(row['count']),
    approximate: false,
  }));
}

/**
 * The rows of an estimating count: those flagged `sampled` (true, or 1 where booleans are
 * numbers) count a sample of the table, the others are exact.
 */
export function splitSampled(rows: readonly CountRow[]): {
  exact: AttemptStatsRow[];
  sample: SampledCount[];
} {
  const exact: AttemptStatsRow[] = [];
  const sample: SampledCount[] = [];
  for (const row of rows) {
    const entry = {
      status: row['status'] as AttemptStatus,
      queue: row['queue'] as string,
      count: Number(row['count']),
    };
    if (Number(row['sampled']) === 1) sample.push(entry);
    else exact.push({ ...entry, approximate: false });
  }
  return { exact, sample };
}

/**
 * Whether a sample holds so few attempts (of any status) that the table is mostly empty space
 * (a large backlog, since pruned): `room` is how many a dense table would hold there. Scaling such
 * a sample up says nothing (it may well miss the few attempts left, and an empty table was shown,
 * marked exact), while counting the few there are exactly is cheap in rows.
 */
export function isSparseSample(sample: readonly SampledCount[], room: number): boolean {
  return sample.reduce((sum, row) => sum + row.count, 0) < room / 100;
}

/**
 * Stats of a large table for dialects that sample by ranges of ids ({@link idSample}): `count`
 * runs the estimating statement over the ranges (as JSON) and returns its rows; `exactly`, the
 * exact count, for a sparse table ({@link isSparseSample}).
 */
export async function statsByIdSample(
  minId: bigint,
  maxId: bigint,
  count: (rangesJson: string) => Promise<readonly CountRow[]>,
  exactly: () => Promise<readonly CountRow[]>,
): Promise<AttemptStatsRow[]> {
  const { ranges, share } = idSample(minId, maxId);
  const { exact, sample } = splitSampled(await count(JSON.stringify(ranges)));
  const room = ranges.reduce((sum, range) => sum + Number(BigInt(range.hi) - BigInt(range.lo)), 0);
  if (isSparseSample(sample, room)) return exactStats(await exactly());
  return estimatedStats(exact, sample, succeededInTable(sample, share));
}
