import '../../packages/testkit/src/node20.js';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/bundle-client.global.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
