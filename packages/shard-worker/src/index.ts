// The tests' input schemas and bounds are part of the wire contract (@x/protocol).
export {
  type DemoTest,
  demoTestSchema,
  HTTP_METHODS,
  type HttpTest,
  httpTestSchema,
  httpUrlSchema,
  MAX_DEMO_TEST_MS,
  MAX_FAIL_ATTEMPTS,
  MAX_PLANNED_RUN_MS,
  MAX_SHARDS,
  MAX_TESTS,
  plannedRunMs,
  plannedRunProblem,
} from '@x/protocol';
export {
  type AbortRun,
  type AbortRunAborter,
  type AbortRunDeps,
  type AbortRunMetrics,
  type AbortRunOptions,
  type AbortRunOutcome,
  type AbortRunUseCase,
  createAbortRun,
} from './abort-run.js';
export {
  type BullmqShardQueue,
  type BullmqShardQueueOptions,
  bullmqShardQueue,
} from './bullmq-shard-queue.js';
export {
  type CallbackOutbox,
  type CallbackOutboxMetrics,
  type CallbackOutboxOptions,
  createCallbackOutbox,
  deliverClaim,
  deliverOwnCallback,
  type OutboxStore,
} from './callback-outbox.js';
export {
  type CallbackDelivery,
  type CallbackMetrics,
  type CallbackOutcome,
  type CallbackPayload,
  type CallbackRetryPolicy,
  type CallbackSender,
  type CallbackSenderOptions,
  createCallbackSender,
  DEFAULT_CALLBACK_RETRY,
} from './callback-sender.js';
export {
  type CallbackSecrets,
  type CallbackSigner,
  createCallbackSigner,
  type SignatureHeaders,
} from './callback-signer.js';
export {
  type Coordinator,
  type CoordinatorOptions,
  createCoordinator,
  type EnqueueRunInput,
} from './coordinator.js';
export {
  COORDINATOR_ERROR_CODES,
  CoordinatorError,
  type CoordinatorErrorCode,
} from './coordinator-error.js';
export { DemoAttemptError, demoExecutor } from './demo-executor.js';
export {
  createExecutorRegistry,
  type ExecuteInput,
  type Executor,
  type ExecutorRegistry,
  type ExecutorTest,
} from './executor.js';
export {
  createFairDispatcher,
  DISPATCH_MODES,
  type DispatchMode,
  type FairDispatcher,
  type FairDispatcherMetrics,
  type FairDispatcherOptions,
  roundRobin,
  type WorkspaceLimits,
} from './fair-dispatcher.js';
export { type HttpExecutorOptions, httpExecutor } from './http-executor.js';
export { isBlockedAddress } from './ip-ranges.js';
export { memoryShardQueue } from './memory-shard-queue.js';
export {
  assertPublicUrl,
  type CheckedUrl,
  checkOutboundUrl,
  pinnedLookup,
  type ResolvedAddress,
  type Resolver,
} from './outbound-guard.js';
export {
  ADDRESS_NOT_ALLOWED,
  OUTBOUND_URL_ERROR_CODES,
  OutboundUrlError,
  type OutboundUrlErrorCode,
} from './outbound-url-error.js';
export { createOutboxFeed, type OutboxFeed, type OutboxFeedOptions } from './outbox-feed.js';
export { type Partitionable, partition } from './partition.js';
export {
  MAX_QUEUE_PARTITIONS,
  type PartitionQueueName,
  partitionOf,
  partitionQueueNames,
} from './queue-partitions.js';
export type { RedisBackedQueueOptions } from './queue-settings.js';
export type { RedisQueueCounters } from './redis-queue-counters.js';
export { type RedisQueueKeys, redisQueueKeys } from './redis-queue-keys.js';
export {
  type RedisShardQueue,
  type RedisShardQueueOptions,
  redisShardQueue,
} from './redis-shard-queue.js';
export {
  createRetentionSweeper,
  RETENTION_LEASE,
  type RetentionMetrics,
  type RetentionStore,
  type RetentionSweeper,
  type RetentionSweeperOptions,
  type SweepOutcome,
} from './retention-sweeper.js';
export type { RunEventsSink, SinkEvent } from './run-events-sink.js';
export type { SiblingAborter } from './run-outcome.js';
export {
  createRunStopService,
  type RunStopServiceOptions,
  stopResultOf,
} from './run-stop-service.js';
export {
  createShardEnqueuer,
  type EnqueuerStore,
  type ShardEnqueuer,
  type ShardEnqueuerMetrics,
  type ShardEnqueuerOptions,
} from './shard-enqueuer.js';
export { SHARD_JOB_ERROR_CODES, ShardJobError, type ShardJobErrorCode } from './shard-job-error.js';
export {
  createShardProcessor,
  type ProcessorAborter,
  type ProcessorDeps,
  type ProcessorRegistry,
} from './shard-processor.js';
export {
  type AbandonedShardJob,
  DEFAULT_SHARD_JOB_OPTIONS,
  SHUTDOWN_REASON,
  type ShardConsumer,
  type ShardConsumerOptions,
  type ShardJob,
  type ShardJobOptions,
  type ShardProcessor,
  type ShardQueue,
  shardJobId,
} from './shard-queue.js';
export {
  createShardRepair,
  type RepairOutcome,
  type RepairStore,
  SHARD_REPAIR_LEASE,
  type ShardRepair,
  type ShardRepairMetrics,
  type ShardRepairOptions,
} from './shard-repair.js';
export { createShardWorker, type ShardWorker, type ShardWorkerOptions } from './shard-worker.js';
export {
  SHARD_WORKER_ERROR_CODES,
  ShardWorkerError,
  type ShardWorkerErrorCode,
} from './shard-worker-error.js';
export { stopMessage } from './stop-message.js';
export { failUnusableRun, type StoredShardPayload, storedShardJob } from './stored-shard-job.js';
export {
  describeIssues,
  type ShardJobData,
  shardJobDataSchema,
  TEST_STATUSES,
  type TestResult,
  type TestStatus,
  testResultSchema,
} from './test-schemas.js';
export {
  currentTraceCarrier,
  type TraceCarrier,
  traceCarrierSchema,
  tracedProcessor,
} from './trace-context.js';
export { emptyWorkerMetrics, type ShardWorkerMetrics } from './worker-metrics.js';
