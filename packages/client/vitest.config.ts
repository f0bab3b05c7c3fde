import '../testkit/src/node20.js';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file starts its own api processes (and Redis, PostgreSQL): on 2 cores, one at a time.
    fileParallelism: false,
  },
});
