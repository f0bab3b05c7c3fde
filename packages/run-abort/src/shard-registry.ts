import type { Logger } from '@x/kernel';
import type { RunStatus } from '@x/protocol';
import { RunAbortedError } from './run-aborted-error.js';

/**
 * How to stop one running shard: an AbortController (its signal fires with a
 * `RunAbortedError` as `reason`), or a function such as
 * `(reason) => worker.cancelJob(jobId, reason)` so BullMQ's own processor signal fires.
 */
export type ShardCancel = AbortController | ((reason: string) => void);

export interface ShardEntry {
  readonly runId: string;
  /** 0-based shard index, or `null` for an unsharded (single-shard) run. */
  readonly shardIndex: number | null;
  /** `runId` for an unsharded run, `${runId}:s${shardIndex}` otherwise (the BullMQ job id shape). */
  readonly key: string;
  readonly cancel: ShardCancel;
}

export interface ShardRegistryOptions {
  /**
   * How many recently aborted run ids to remember. A shard that registers after its run's
   * abort already went past this process is cancelled at once instead of running until the
   * next reconcile sweep. A run id costs ~100 bytes. Default 10_000.
   */
  tombstoneLimit?: number;
  /** Receives a warning when a cancel function or a `forEachShardEntry` callback throws. */
  logger?: Logger;
}

export interface ShardRegistry {
  /**
   * Registers a running shard; returns the function that unregisters it (idempotent; call
   * it in `finally`). A shard of a run this registry already aborted is cancelled
   * immediately and not kept. Register before the shard checks its run's status in the
   * store, so no abort can fall between the status check and the registration.
   */
  register(runId: string, shardIndex: number | null, cancel: ShardCancel): () => void;
  /** Calls `fn` for each entry of the run over a snapshot (`fn` may unregister); a throwing `fn` is counted and skipped. Returns how many calls succeeded. */
  forEachShardEntry(runId: string, fn: (entry: ShardEntry) => void): number;
  /** Cancels and removes every entry of the run (sharded and unsharded alike), remembers the run as aborted, and returns how many entries it removed. */
  abortAllShardsForRun(runId: string, reason: string, status?: RunStatus): number;
  /** True if this registry aborted the run's shards (within its last `tombstoneLimit` runs), whatever the shard count then. */
  wasAborted(runId: string): boolean;
  /** Run ids with at least one registered shard. */
  runIds(): string[];
  /** Registered shards. */
  readonly size: number;
  /** Cancel functions and callbacks that threw (each isolated from the others). */
  readonly cancelErrors: number;
}

export function shardKey(runId: string, shardIndex: number | null): string {
  return shardIndex === null ? runId : `${runId}:s${shardIndex}`;
}

/**
 * The process-local registry of running shards, indexed by run so an abort finds a run's
 * shards without scanning every entry.
 *
 * @example
 * const registry = createShardRegistry();
 * const controller = new AbortController();
 * const unregister = registry.register(runId, 2, controller);
 * try { await beginShard(runId); await execute(controller.signal); } // beginShard: your status check
 * finally { unregister(); }
 */
export function createShardRegistry(opts: ShardRegistryOptions = {}): ShardRegistry {
  const tombstoneLimit = opts.tombstoneLimit ?? 10_000;
  const byRun = new Map<string, Map<string, ShardEntry>>();
  // Insertion-ordered, so the oldest tombstone is the first key.
  const tombstones = new Map<string, RunStatus>();
  let size = 0;
  let cancelErrors = 0;

  const isolate = (entry: ShardEntry, what: string, fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      cancelErrors++;
      opts.logger?.warn(
        { err, runId: entry.runId, shardIndex: entry.shardIndex },
        `run-abort: ${what} threw`,
      );
      return false;
    }
  };

  const fire = (entry: ShardEntry, reason: string, status: RunStatus) => {
    isolate(entry, 'shard cancel', () => {
      if (typeof entry.cancel === 'function') {
        entry.cancel(reason);
        return;
      }
      const code = status === 'aborted' ? 'run_aborted' : 'run_finished';
      entry.cancel.abort(RunAbortedError.signalReason(code, entry.runId, reason, status));
    });
  };

  const remember = (runId: string, status: RunStatus) => {
    tombstones.delete(runId);
    tombstones.set(runId, status);
    while (tombstones.size > tombstoneLimit) {
      const oldest = tombstones.keys().next().value;
      if (oldest === undefined) break;
      tombstones.delete(oldest);
    }
  };

  const remove = (entry: ShardEntry) => {
    const shards = byRun.get(entry.runId);
    // Identity check: a newer registration under the same key must survive the old unregister.
    if (shards?.get(entry.key) !== entry) return;
    shards.delete(entry.key);
    size--;
    if (shards.size === 0) byRun.delete(entry.runId);
  };

  return {
    register(runId, shardIndex, cancel) {
      const entry: ShardEntry = { runId, shardIndex, key: shardKey(runId, shardIndex), cancel };
      const stopped = tombstones.get(runId);
      if (stopped !== undefined) {
        fire(entry, `run was ${stopped} before this shard registered`, stopped);
        return () => {};
      }
      let shards = byRun.get(runId);
      if (!shards) {
        shards = new Map();
        byRun.set(runId, shards);
      }
      if (!shards.has(entry.key)) size++;
      shards.set(entry.key, entry);
      return () => remove(entry);
    },
    forEachShardEntry(runId, fn) {
      const snapshot = [...(byRun.get(runId)?.values() ?? [])];
      let visited = 0;
      for (const entry of snapshot)
        if (isolate(entry, 'forEachShardEntry callback', () => fn(entry))) visited++;
      return visited;
    },
    abortAllShardsForRun(runId, reason, status = 'aborted') {
      remember(runId, status);
      const shards = byRun.get(runId);
      if (!shards) return 0;
      // Remove first: a cancel that re-enters (unregister from an abort listener) sees a clean map.
      byRun.delete(runId);
      size -= shards.size;
      for (const entry of shards.values()) fire(entry, reason, status);
      return shards.size;
    },
    wasAborted: (runId) => tombstones.has(runId),
    runIds: () => [...byRun.keys()],
    get size() {
      return size;
    },
    get cancelErrors() {
      return cancelErrors;
    },
  };
}
