export { abortableSleep } from './abortable-sleep.js';
export { type BullmqShardQueueOptions, bullmqShardQueue } from './bullmq-shard-queue.js';
export {
  type CallbackMetrics,
  type CallbackOutcome,
  type CallbackPayload,
  type CallbackSender,
  type CallbackSenderOptions,
  createCallbackSender,
} from './callback-sender.js';
export { DemoAttemptError, demoExecutor } from './demo-executor.js';
export {
  createExecutorRegistry,
  type ExecuteInput,
  type Executor,
  type ExecutorRegistry,
  type ExecutorTest,
} from './executor.js';
export { type HttpExecutorOptions, httpExecutor } from './http-executor.js';
export { isBlockedAddress } from './ip-ranges.js';
export { type Logger, silentLogger } from './logger.js';
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
  OUTBOUND_URL_ERROR_CODES,
  OutboundUrlError,
  type OutboundUrlErrorCode,
} from './outbound-url-error.js';
export { type Partitionable, partition } from './partition.js';
export { SHARD_JOB_ERROR_CODES, ShardJobError, type ShardJobErrorCode } from './shard-job-error.js';
export {
  type AbandonedShardJob,
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
  type DemoTest,
  demoTestSchema,
  describeIssues,
  HTTP_METHODS,
  type HttpTest,
  httpTestSchema,
  type ShardJobData,
  shardJobDataSchema,
  TEST_STATUSES,
  type TestResult,
  type TestStatus,
  testResultSchema,
} from './test-schemas.js';
