import { transportContract } from './contract-suite.js';
import { redisHarness } from './redis-harness.js';

// Redis 7 serves SPUBLISH/SSUBSCRIBE on a standalone server too, so sharded mode runs the
// same contract here; on a Cluster the same commands stay within the channel's shard.
transportContract('redis sharded (SPUBLISH/SSUBSCRIBE)', () => redisHarness({ sharded: true }));
