export {
  type DecodedStopJob,
  decodeStopJob,
  decodeStopJobResult,
  encodeStopJob,
  encodeStopJobResult,
} from './codec.js';
export { createStopJobsConsumer, type StopJobsConsumer } from './consumer.js';
export type { StopJobsConsumerOptions } from './consumer-options.js';
export {
  RESULT_ERROR_CODES,
  type ResultErrorCode,
  SERVICE_ERROR_CODES,
  type ServiceErrorCode,
  STOP_OUTCOMES,
  STOP_REASONS,
  type StopOutcome,
  type StopReason,
} from './kinds.js';
export { BATCH_SIZE_BUCKETS, type MetricErrorCode, type StopJobsMetrics } from './metrics.js';
export { type RequestStopOptions, requestStop } from './request-stop.js';
export {
  type DeadStopJobFields,
  deadStopJobSchema,
  type StopJobFields,
  type StopJobResultFields,
  stopJobResultSchema,
  stopJobSchema,
} from './schemas.js';
export { STOP_JOBS_ERROR_CODES, StopJobsError, type StopJobsErrorCode } from './stop-jobs-error.js';
export type { StopJob, StopService, StopServiceResult } from './stop-service.js';
export {
  DEFAULT_GROUP,
  DEFAULT_MAX_LEN,
  type StopJobsRedis,
  type StopJobsStreams,
  type StopJobsStreamsOptions,
  stopJobsStreams,
} from './stream-names.js';
