export { callbackSecretsEnv } from './callback-secrets-env.js';
export { CONFIG_ERROR_CODES, ConfigError, type ConfigErrorCode } from './config-error.js';
export {
  type DispatchSettings,
  defaultDispatchWindow,
  dispatchSettings,
} from './dispatch-settings.js';
export {
  buildDistributedCore,
  type DistributedCore,
  type DistributedCoreOptions,
  type EventBufferLimits,
  type ShardQueueKind,
} from './distributed-core.js';
export {
  hostListEnv,
  integerEnv,
  LOG_LEVELS,
  type LogLevel,
  optionalEnv,
  sharedEnvFields,
  urlWithProtocol,
} from './env-fields.js';
export { createLogger } from './logger.js';
export { createOutboundParts, type OutboundPartsOptions } from './outbound-parts.js';
export { flattenCounters, type MetricsFn, registerPackageMetrics } from './package-metrics.js';
export { loadConfigOrExit, type ParseEnvOptions, parseEnv } from './parse-env.js';
export {
  exitOnSignals,
  runMain,
  SHUTDOWN_SIGNALS,
  type ShutdownSignal,
} from './process-lifecycle.js';
export {
  createPubSubTransport,
  createRedisClient,
  PUBSUB_BACKOFF,
  type PubSubTransportOptions,
  type RedisClientOptions,
  type RedisCommandClient,
} from './redis-clients.js';
export { clusterNodesEnv, parseClusterNodes } from './redis-cluster-nodes.js';
export type {
  ClusterStartupNode,
  RedisTarget,
} from './redis-target.js';
export { redisTargetFromEnv, redisTargetVariable } from './redis-target-from-env.js';
export { type RetentionSettings, retentionMetrics, startRetention } from './retention.js';
export { type SideListener, type SideRoute, startSideListener } from './side-listener.js';
export { storeWorkspaceFeed } from './workspace-feed.js';
export { type WorkspaceLimitEntry, workspaceLimitsEnv } from './workspace-limits-env.js';
