import { partitionOf, runIdOfJob } from './queue-partitions.js';
import { positiveInteger, queueSettings, type RedisBackedQueueOptions } from './queue-settings.js';
import { createRedisQueueCounters, type RedisQueueCounters } from './redis-queue-counters.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys, redisQueueKeys } from './redis-queue-keys.js';
import { ADD_LUA, REMOVE_LUA } from './redis-queue-lua.js';
import { luaScript, runScript } from './redis-script.js';
import { redisShardConsumer } from './redis-shard-consumer.js';
import { type ShardConsumer, type ShardQueue, shardJobId } from './shard-queue.js';
import type { ShardJobData } from './test-schemas.js';

const ADD = luaScript(ADD_LUA, 2);
const REMOVE = luaScript(REMOVE_LUA, 3);
/** Jobs per add script call: Lua's `unpack` takes a few thousand values at most. */
const ADD_CHUNK = 500;

export interface RedisShardQueueOptions extends RedisBackedQueueOptions {
  /** How long one blocking read waits for a job. Default 5 s. */
  blockMs?: number;
}

/** The Redis shard queue, with its keys per partition and its counters. */
export interface RedisShardQueue extends ShardQueue {
  readonly keys: readonly RedisQueueKeys[];
  readonly counters: Readonly<RedisQueueCounters>;
}

/**
 * Shard jobs on Redis with our own Lua scripts: a stream and its consumer group per
 * partition (delivery and leases), a hash of where each job is (dedupe, `missing`,
 * `removeWaiting`), a delayed ZSET for retries' backoff and a bounded failed ZSET. The same
 * guarantees as the BullMQ queue (the contract suite) with a fraction of the commands: see
 * the package README, "Redis shard queue".
 */
export function redisShardQueue(opts: RedisShardQueueOptions): RedisShardQueue {
  const settings = queueSettings(opts);
  const { connection, prefix, partitions } = settings;
  const blockMs = positiveInteger('blockMs', opts.blockMs ?? 5_000, 1);
  const keys = redisQueueKeys(prefix, partitions, { tagged: settings.tagged });
  const keysOf = (runId: string) => keys[partitionOf(runId, partitions)]!;
  const counters = createRedisQueueCounters();
  const consumers = new Set<ShardConsumer>();

  return {
    kind: 'redis',
    keys,
    counters,
    async add(jobs, { attempts, backoffMs }) {
      positiveInteger('attempts', attempts, 1);
      positiveInteger('backoffMs', backoffMs, 0);
      // By partition, each id once: a script adds the ids its hash does not hold yet.
      const groups = new Map<RedisQueueKeys, Map<string, ShardJobData>>();
      for (const data of jobs) {
        const k = keysOf(data.runId);
        let group = groups.get(k);
        if (!group) {
          group = new Map();
          groups.set(k, group);
        }
        const id = shardJobId(data.runId, data.shardIndex);
        if (!group.has(id)) group.set(id, data);
      }
      const calls: Promise<unknown>[] = [];
      for (const [k, group] of groups) {
        const entries = [...group];
        for (let i = 0; i < entries.length; i += ADD_CHUNK) {
          const args: (string | number)[] = [attempts, backoffMs];
          for (const [id, data] of entries.slice(i, i + ADD_CHUNK))
            args.push(id, JSON.stringify(data));
          calls.push(runScript(connection, ADD, [k.stream, k.jobs], args));
        }
      }
      await Promise.all(calls);
    },
    async missing(jobIds) {
      if (jobIds.length === 0) return [];
      const groups = new Map<RedisQueueKeys, string[]>();
      for (const id of jobIds) {
        const k = keysOf(runIdOfJob(id));
        const group = groups.get(k);
        if (group) group.push(id);
        else groups.set(k, [id]);
      }
      const held = new Set<string>();
      await Promise.all(
        [...groups].map(async ([k, ids]) => {
          const found = await connection.hmget(k.jobs, ...ids);
          ids.forEach((id, i) => {
            if (found[i] != null) held.add(id);
          });
        }),
      );
      return jobIds.filter((id) => !held.has(id));
    },
    async removeWaiting(runId, shardCount) {
      if (shardCount < 1) return 0;
      const k = keysOf(runId);
      const ids = Array.from({ length: shardCount }, (_, i) => shardJobId(runId, i));
      let removed = 0;
      for (let i = 0; i < ids.length; i += ADD_CHUNK) {
        const reply = await runScript(
          connection,
          REMOVE,
          [k.stream, k.jobs, k.delayed],
          [REDIS_QUEUE_GROUP, ...ids.slice(i, i + ADD_CHUNK)],
        );
        removed += Number(reply);
      }
      return removed;
    },
    consume(processor, options = {}) {
      const consumer = redisShardConsumer(
        {
          ...settings,
          partitions: keys,
          blockMs,
          counters,
          onClosed: (c) => consumers.delete(c),
        },
        processor,
        options,
      );
      consumers.add(consumer);
      return consumer;
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.close(0)));
    },
  };
}
