// Global setup of vitest.chaos.config.ts: starts the figures file empty and prints every
// scenario's row as one table once all files have run.
import { rmSync } from 'node:fs';
import { formatTable, readRows } from './chaos-report.js';

export function setup(): () => void {
  const file = process.env['ASYNC_TASK_CHAOS_REPORT'];
  if (file) rmSync(file, { force: true });
  return () => {
    if (!file) return;
    const rows = readRows(file);
    rmSync(file, { force: true });
    if (rows.length === 0) return;
    const size = process.env['ASYNC_TASK_CHAOS'] === 'full' ? 'full size' : 'CI size';
    console.info(`\nasync-task chaos suite (${size})\n\n${formatTable(rows)}\n`);
    const bad = rows.filter((row) => row.lost > 0 || row.doubleSuccesses > 0);
    if (bad.length > 0) {
      console.error(`chaos: ${bad.length} scenario(s) lost tasks or succeeded twice`);
      process.exitCode = 1;
    }
  };
}
