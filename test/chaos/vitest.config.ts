// `npm run chaos`: the fault-injection suite at full size (issue 10), one file at a time so the
// figures are not skewed by each other, and one table of every scenario at the end. `npm test`
// runs the same files at CI sizes; ASYNC_TASK_CHAOS=ci npm run chaos prints the table for those.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const report = join(tmpdir(), `async-task-chaos-${process.pid}.jsonl`);
process.env['ASYNC_TASK_CHAOS_REPORT'] = report;
// Read by the global setup's table too (test.env only reaches the test files).
process.env['ASYNC_TASK_CHAOS'] ??= 'full';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['scripts/compile-test-children.mjs', 'test/chaos/chaos-table.ts'],
    env: {
      ASYNC_TASK_CHAOS: process.env['ASYNC_TASK_CHAOS'] ?? 'full',
      ASYNC_TASK_CHAOS_REPORT: report,
    },
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
