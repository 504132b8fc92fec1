import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests that fork or signal spawn throw-away processes; the workers themselves never fork.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Fork stress and load tests compete for two cores; run files one after another.
    fileParallelism: false,
  },
});
