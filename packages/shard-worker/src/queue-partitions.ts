import calculateSlot from 'cluster-key-slot';
import { ShardWorkerError } from './shard-worker-error.js';

/** Most partitions a deployment may split its shard queue into (`QUEUE_PARTITIONS`). */
export const MAX_QUEUE_PARTITIONS = 64;

const SLOTS = 16_384;

/** Where one partition's BullMQ queue lives: BullMQ's `prefix` and queue `name`. */
export interface PartitionQueueName {
  readonly prefix: string;
  readonly name: string;
}

/**
 * The partition of a run: FNV-1a (32 bit) of its id, modulo `partitions`. Every shard of a run
 * lands in the same partition, so abort and repair look in one queue; uniform over random
 * UUIDs, and stable across processes and releases (no seed).
 */
export function partitionOf(runId: string, partitions: number): number {
  if (partitions === 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) {
    hash ^= runId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/**
 * The queue of every partition. A BullMQ queue keeps all its keys in one hash slot only when
 * they share a hash tag, so on a cluster each partition's BullMQ prefix is the tag
 * `{<prefix>:q<i>}` (keys `{x:q0}:runs:wait`, …) and the queue stays named `runs`. The tag's
 * suffix is chosen so that partition `i` of `n` hashes into the middle of the `i`-th of `n`
 * equal slot ranges: with `n` primaries holding the default even ranges (`redis-cli --cluster
 * create`), each primary serves one partition, whatever the prefix. A prefix that is a hash
 * tag already (`{x}`) is kept: the operator asked for one slot, partitions only split the
 * queue (`runs-q<i>`). One partition on one server keeps today's names: prefix `x`, queue
 * `runs`, so an upgrade needs no migration.
 */
export function partitionQueueNames(
  prefix: string,
  partitions: number,
  opts: { tagged: boolean },
): PartitionQueueName[] {
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_QUEUE_PARTITIONS) {
    throw new ShardWorkerError(
      'invalid_option',
      `queue partitions must be an integer in 1..${MAX_QUEUE_PARTITIONS}, got ${partitions}`,
    );
  }
  if (partitions === 1 && !opts.tagged) return [{ prefix, name: 'runs' }];
  if (prefix.startsWith('{')) {
    return Array.from({ length: partitions }, (_, i) => ({
      prefix,
      name: partitions === 1 ? 'runs' : `runs-q${i}`,
    }));
  }
  return Array.from({ length: partitions }, (_, i) => ({
    prefix: `{${spreadTag(prefix, i, partitions)}}`,
    name: 'runs',
  }));
}

/** `<prefix>:q<i>`, or `<prefix>:q<i>.<k>` for the first `k` whose slot is in range. */
function spreadTag(prefix: string, i: number, partitions: number): string {
  const center = ((i + 0.5) * SLOTS) / partitions;
  const halfWidth = SLOTS / partitions / 4;
  // One try in 2n lands; 100,000 tries cannot all miss for n ≤ 64 in practice, but bound it.
  for (let k = 0; k < 100_000; k++) {
    const tag = k === 0 ? `${prefix}:q${i}` : `${prefix}:q${i}.${k}`;
    if (Math.abs(calculateSlot(tag) - center) < halfWidth) return tag;
  }
  return `${prefix}:q${i}`;
}

/** The run id of a shard job id `${runId}-${shardIndex}` (the run id itself has dashes). */
export function runIdOfJob(jobId: string): string {
  const at = jobId.lastIndexOf('-');
  return at === -1 ? jobId : jobId.slice(0, at);
}
