import { createLogger } from '@x/app-kit';
import { postgres, type TestDatabase } from '@x/testkit';
import { loadApiConfig } from '../../src/config/load-config.js';
import { type RunningApi, startApi } from '../../src/start-api.js';

export const TOKEN_A = 'token-for-workspace-a-0001';
export const TOKEN_B = 'token-for-workspace-b-0002';

/**
 * The api in embedded mode (memory bus, in-process worker) on a fresh PostgreSQL database,
 * in this process: fast enough for HTTP suites and the browser test.
 */
export async function startInProcessApi(
  env: Record<string, string> = {},
  /** A database an earlier api used (a restart); `close()` then leaves it to its owner. */
  existing?: TestDatabase,
): Promise<{
  api: RunningApi;
  db: TestDatabase;
  close(): Promise<void>;
}> {
  const db = existing ?? (await postgres('api'));
  const config = loadApiConfig({
    PORT: '0',
    DATABASE_URL: db.url,
    API_TOKENS: `ws-a:${TOKEN_A},ws-b:${TOKEN_B}`,
    STREAM_TOKEN_SECRET: 's'.repeat(40),
    LOG_LEVEL: 'silent',
    // A fleet's processes must agree on the queue: a suite run with SHARD_QUEUE set (as the
    // spawned ones inherit it) runs this api on the same queue.
    ...(process.env.SHARD_QUEUE && { SHARD_QUEUE: process.env.SHARD_QUEUE }),
    ...env,
  });
  const api = await startApi(config, createLogger(config.logLevel));
  return {
    api,
    db,
    async close() {
      await api.shutdown('test');
      if (!existing) await db.close();
    },
  };
}
