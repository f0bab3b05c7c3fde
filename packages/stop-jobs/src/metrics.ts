import {
  RESULT_ERROR_CODES,
  type ResultErrorCode,
  STOP_OUTCOMES,
  type StopOutcome,
} from './kinds.js';

export type MetricErrorCode = Exclude<ResultErrorCode, ''> | 'none';

/** The metrics key of a result's error code: `''` would make an awkward label. */
export function metricErrorCode(code: ResultErrorCode): MetricErrorCode {
  return code === '' ? 'none' : code;
}

/** Upper bounds of the batch-size histogram buckets (entries per batch). */
export const BATCH_SIZE_BUCKETS = [1, 8, 32, 128, 512] as const;

/** A plain snapshot of a consumer's counters (map them to Prometheus in the app). */
export interface StopJobsMetrics {
  /** Entries received from XREADGROUP (new ones and this consumer's own pending ones). */
  read: number;
  /** Entries taken over from idle consumers (or retried) with XAUTOCLAIM. */
  claimed: number;
  /** Results published, by outcome and by error code (`none` counts the `''` code). */
  handled: Record<StopOutcome, number>;
  errorCodes: Record<MetricErrorCode, number>;
  /** Undecodable entries answered with `invalid_envelope`. */
  invalid: number;
  /** Entries deleted from the stream (trimmed) before they were handled. */
  trimmed: number;
  /** Entries moved to the dead-letter stream. */
  deadLettered: number;
  /** Entries skipped because another consumer acknowledged them first. */
  skipped: number;
  /**
   * Entries whose result this consumer published although another consumer had
   * acknowledged them meanwhile (handling took longer than `claimMinIdleMs`).
   */
  raced: number;
  errors: {
    /** Redis command failures (each followed by a backoff). */
    redis: number;
    /** StopService calls that threw, timed out or answered outside the contract. */
    service: number;
  };
  /** XCLAIM JUSTID calls that kept a slow batch from being claimed by another consumer. */
  leaseRenewals: number;
  /** Consumer groups (re)created: at start, and after NOGROUP (stream deleted, Redis emptied). */
  groupsCreated: number;
  /** Non-empty batches handled, and their sizes. */
  batches: { count: number; sum: number; max: number; buckets: Record<string, number> };
}

export function createMetrics(): StopJobsMetrics {
  const buckets: Record<string, number> = {};
  for (const bound of BATCH_SIZE_BUCKETS) buckets[`le_${bound}`] = 0;
  buckets.le_inf = 0;
  return {
    read: 0,
    claimed: 0,
    handled: Object.fromEntries(STOP_OUTCOMES.map((o) => [o, 0])) as Record<StopOutcome, number>,
    errorCodes: Object.fromEntries(
      RESULT_ERROR_CODES.map((c) => [metricErrorCode(c), 0]),
    ) as Record<MetricErrorCode, number>,
    invalid: 0,
    trimmed: 0,
    deadLettered: 0,
    skipped: 0,
    raced: 0,
    errors: { redis: 0, service: 0 },
    leaseRenewals: 0,
    groupsCreated: 0,
    batches: { count: 0, sum: 0, max: 0, buckets },
  };
}

export function observeBatch(metrics: StopJobsMetrics, size: number): void {
  const batches = metrics.batches;
  batches.count++;
  batches.sum += size;
  if (size > batches.max) batches.max = size;
  // Cumulative buckets, like a Prometheus histogram.
  for (const bound of BATCH_SIZE_BUCKETS) if (size <= bound) batches.buckets[`le_${bound}`]!++;
  batches.buckets.le_inf!++;
}

export function snapshotMetrics(metrics: StopJobsMetrics): StopJobsMetrics {
  // By hand: callers poll this, and structuredClone costs several times more.
  const { handled, errorCodes, errors, batches } = metrics;
  return {
    ...metrics,
    handled: { ...handled },
    errorCodes: { ...errorCodes },
    errors: { ...errors },
    batches: { ...batches, buckets: { ...batches.buckets } },
  };
}
