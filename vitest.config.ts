import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that take a minute or more though they are short (each test starts processes or drains
 * thousands of tasks), longest first. Without a record of past runs (a clean clone, as in CI)
 * vitest starts the largest files first, which left these three at a time as the suite's last
 * two minutes, with nothing beside them.
 */
const longFirst = [
  'test/conformance/worker-processes.test.ts',
  'test/cli/postgres.test.ts',
  'test/cli/mysql.test.ts',
  'test/cli/sqlite.test.ts',
  'test/conformance/worker-leases.test.ts',
  'test/conformance/worker-shutdown.test.ts',
  'test/conformance/rate-limit-wait.test.ts',
  'test/conformance/worker-polling.test.ts',
  'test/cli/commands.test.ts',
];

class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = longFirst.indexOf(relative(file.project.config.root, file.moduleId));
      return index === -1 ? longFirst.length : index;
    };
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Prisma clients the Prisma fixtures import, generated when their schemas change; the
    // tree compiled once for the child processes tests start (test/harness/child-command.ts).
    globalSetup: ['scripts/prisma-generate.mjs', 'scripts/compile-test-children.mjs'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most of the suite waits (on leases, polls, child processes), so three files at a time on
    // two cores halves its length; each test has its own schema, database or file.
    maxWorkers: 3,
    sequence: { sequencer: LongFirst },
  },
});
