import { defineConfig } from 'vitest/config';

export default defineConfig(({ mode }) => ({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    benchmark: { include: ['test/bench/**/*.bench.ts'] },
    // Benchmarks: one file at a time (they compare against host operations measured in the
    // same file, and the machine has two cores), and one table of every target row at the
    // end (test/bench/setup.ts, report.ts).
    ...(mode === 'benchmark' ? { fileParallelism: false, globalSetup: ['test/bench/setup.ts'] } : {}),
  },
}));
