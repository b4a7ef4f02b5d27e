import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The Prisma clients the Prisma fixtures import, generated when their schemas change.
    globalSetup: ['scripts/prisma-generate.mjs'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
