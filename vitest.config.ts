import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Prisma clients the Prisma fixtures import, generated when their schemas change.
    globalSetup: ['scripts/prisma-generate.mjs'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most of the suite waits (on leases, polls, child processes), so three files at a time on
    // two cores halves its length; each test has its own schema, database or file.
    maxWorkers: 3,
  },
});
