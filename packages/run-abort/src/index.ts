export type { RunAborterMetrics } from './abort-metrics.js';
export type { AbortStore } from './abort-store.js';
export { RECONCILE_TRIGGERS, type ReconcileTrigger } from './reconcile-loop.js';
export {
  MAX_REASON_LENGTH,
  type RunAbortMessage,
  runAbortChannel,
  runIdSchema,
} from './run-abort-channel.js';
export { RUN_ABORTED_CODES, type RunAbortedCode, RunAbortedError } from './run-aborted-error.js';
export {
  type AbortResult,
  createRunAborter,
  type RunAborter,
  type RunAborterOptions,
} from './run-aborter.js';
export {
  createShardRegistry,
  type ShardCancel,
  type ShardEntry,
  type ShardRegistry,
  type ShardRegistryOptions,
  shardKey,
} from './shard-registry.js';
