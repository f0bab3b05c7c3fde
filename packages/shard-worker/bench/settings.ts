/** The shard-worker bench's shape, shared by every side so they measure the same work. */
export const RUNS = 500;
export const SHARDS = 4;
export const CONCURRENCY = 16;
/** Runs enqueued together, then the next batch. */
export const BATCH = 50;
const TIMEOUT_MS = 180_000;

export async function until(check: () => boolean | Promise<boolean>, what: string) {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
