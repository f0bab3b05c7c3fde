import type { Logger } from '@x/kernel';
import {
  createRetentionSweeper,
  type RetentionStore,
  type RetentionSweeper,
} from '@x/shard-worker';
import type { MetricsFn } from './package-metrics.js';

/** Retention as the apps read it from the environment. */
export interface RetentionSettings {
  /** Finished runs older than this are deleted; 0 keeps everything. */
  readonly days: number;
  /** Pause between sweeps. */
  readonly intervalMs: number;
}

/**
 * The retention sweeper of a replica, started; undefined when retention is off (`days: 0`).
 * Both modes use it: embedded mode is the one replica of its fleet.
 */
export function startRetention(
  store: RetentionStore,
  settings: RetentionSettings | undefined,
  logger: Logger,
): RetentionSweeper | undefined {
  if (!settings || settings.days === 0) return undefined;
  const sweeper = createRetentionSweeper({
    store,
    retentionDays: settings.days,
    intervalMs: settings.intervalMs,
    logger,
  });
  sweeper.start();
  return sweeper;
}

/**
 * The sweeper's `/metrics` source (`x_retention_stat`: rows deleted per table, sweep
 * duration), or none when retention is off.
 */
export function retentionMetrics(
  sweeper: RetentionSweeper | undefined,
): (readonly [string, MetricsFn])[] {
  return sweeper ? [['retention', () => sweeper.metrics()]] : [];
}
