import { transportContract } from './contract-suite.js';
import { redisClusterHarness } from './redis-cluster-harness.js';

// The same contract on a real Redis Cluster with ioredis `Cluster` clients: SPUBLISH and
// SSUBSCRIBE go to the primary owning the channel's slot. (Classic PUBLISH through a
// `Cluster` client is not run: ioredis sends each keyless PUBLISH to a random node, so a
// burst from one bus reaches subscribers out of order.)
transportContract('redis cluster sharded (SPUBLISH/SSUBSCRIBE)', () => redisClusterHarness());
