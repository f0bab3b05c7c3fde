export { DURABLE_REFERENCE_SQL } from './durable-reference-sql.js';
export { freePort } from './free-port.js';
export { CLUSTER_SLOTS, keySlot } from './key-slot.js';
export { MissingServerError } from './missing-server-error.js';
export { postgres, type TestDatabase } from './postgres.js';
export {
  type ClusterNodeRef,
  type RedisClusterOptions,
  startRedisCluster,
  type TestRedisCluster,
} from './redis-cluster.js';
export type { ClusterRole, TestClusterNode } from './redis-cluster-node.js';
export { type StartRedisOptions, startRedis, type TestRedis } from './redis-server.js';
export { type NodeProcess, type SpawnNodeOptions, spawnNode } from './spawn-node.js';
export { openSseFrames, type SseFrames } from './sse-frames.js';
export { uniqueName } from './unique-name.js';
export { type WaitForOptions, waitFor } from './wait-for.js';
