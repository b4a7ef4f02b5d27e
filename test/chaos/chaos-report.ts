// The chaos suite's figures: one row per scenario, printed as a table by each test file and, for
// `npm run chaos`, gathered across files into one table (vitest.chaos.config.ts).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

/** `npm run chaos` sets ASYNC_TASK_CHAOS=full: the sizes of issue 10; otherwise CI sizes. */
export const fullSize = process.env['ASYNC_TASK_CHAOS'] === 'full';

/** `ci` in `npm test`, `full` in `npm run chaos`. */
export function sized<T>(ci: T, full: T): T {
  return fullSize ? full : ci;
}

export interface ChaosRow {
  readonly scenario: string;
  /** What was done to the system, e.g. "12 × kill -9". */
  readonly faults: string;
  readonly tasks: number;
  /** Tasks that did not end `succeeded` with exactly their side row: must be 0. */
  readonly lost: number;
  /** Tasks whose `ctx.transaction` committed twice (two `done` reports): must be 0. */
  readonly doubleSuccesses: number;
  /** Handler runs beyond one per task. */
  readonly reruns: number;
  /** The longest time from a fault until what it interrupted was running again, in ms. */
  readonly recoveryMs: number | null;
  /** Wall time of the whole scenario, in ms. */
  readonly elapsedMs: number;
  /** What the lost tasks look like (a few), for the failure message. */
  readonly lostDetails?: readonly string[];
}

const columns: [string, (row: ChaosRow) => string][] = [
  ['scenario', (row) => row.scenario],
  ['faults injected', (row) => row.faults],
  ['tasks', (row) => row.tasks.toLocaleString('en-US')],
  ['lost', (row) => String(row.lost)],
  ['double successes', (row) => String(row.doubleSuccesses)],
  ['re-runs', (row) => row.reruns.toLocaleString('en-US')],
  [
    'recovery (max)',
    (row) => (row.recoveryMs === null ? '-' : `${(row.recoveryMs / 1000).toFixed(1)} s`),
  ],
  ['wall time', (row) => `${(row.elapsedMs / 1000).toFixed(0)} s`],
];

/** A Markdown table of `rows`. */
export function formatTable(rows: readonly ChaosRow[]): string {
  const cells = rows.map((row) => columns.map(([, cell]) => cell(row)));
  const widths = columns.map(([title], i) =>
    Math.max(title.length, ...cells.map((line) => line[i]!.length)),
  );
  const line = (values: readonly string[]): string =>
    `| ${values.map((value, i) => value.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(columns.map(([title]) => title)),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...cells.map(line),
  ].join('\n');
}

/** Keeps `row` for the table: in ASYNC_TASK_CHAOS_REPORT (JSON lines) when set. */
export function recordRow(row: ChaosRow): void {
  const file = process.env['ASYNC_TASK_CHAOS_REPORT'];
  if (file) appendFileSync(file, `${JSON.stringify(row)}\n`);
}

export function readRows(file: string): ChaosRow[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as ChaosRow);
}
