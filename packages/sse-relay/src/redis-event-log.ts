import { createHash } from 'node:crypto';
import type { AppendOptions, EventLog, NewStoredEvent, StoredEvent } from './event-log.js';
import { APPEND_SCRIPT, HEAD_SCRIPT, READ_SCRIPT, REPAIR_SCRIPT } from './lua/scripts.js';
import { EMITTED_EVENT_TYPES, type EmittedEventType } from './run-event-types.js';

/** The slice of an ioredis client the log uses (a regular, non-subscriber connection). */
export interface EventLogRedis {
  evalsha(sha: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface RedisEventLogOptions {
  /** A regular (not subscribed) connection; the caller owns it and closes it. */
  redis: EventLogRedis;
  /** Key prefix, the same as the bus prefix (`X_PREFIX`, default `x`). */
  prefix: string;
  /**
   * Publish each appended batch from inside the append script, so one round trip assigns
   * seqs, appends and publishes. Default true. False: `RunEvents` publishes through the bus
   * after the append (two round trips), e.g. for a custom transport that is not Redis pub/sub
   * on this server.
   */
  publish?: boolean;
  /**
   * Publish with `SPUBLISH` instead of `PUBLISH`: set it exactly when the bus uses
   * `redisTransport({ sharded: true })`, or its subscribers would not hear the script.
   * Default false. (Redis Cluster is not supported by the log: its keys of one run are not
   * in one hash slot.)
   */
  sharded?: boolean;
}

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});
const APPEND = script(APPEND_SCRIPT);
const READ = script(READ_SCRIPT);
const HEAD = script(HEAD_SCRIPT);
const REPAIR = script(REPAIR_SCRIPT);
const TYPES: readonly string[] = EMITTED_EVENT_TYPES;

/**
 * The distributed event log: per run a counter `{prefix}:run:{runId}:seq` and a capped
 * stream `{prefix}:run:{runId}:history`, both written by one Lua script per append (of one
 * event or a batch), which also publishes the appended events on the run's channel (one
 * round trip; `publish: false` leaves publishing to the caller). Events after the run's
 * `done` are refused by the script itself, so no emitter anywhere can append past the last
 * frame.
 *
 * @example
 * const log = redisEventLog({ redis: new Redis(url), prefix: 'x' });
 */
export function redisEventLog({
  redis,
  prefix,
  publish = true,
  sharded = false,
}: RedisEventLogOptions): EventLog {
  let malformed = 0;
  const keys = (runId: string) => [`${prefix}:run:${runId}:seq`, `${prefix}:run:${runId}:history`];

  const run = async (s: Script, keyList: string[], args: (string | number)[]) => {
    try {
      return await redis.evalsha(s.sha, keyList.length, ...keyList, ...args);
    } catch (error) {
      // A restarted or flushed server forgets loaded scripts; send the source once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(s.source, keyList.length, ...keyList, ...args);
    }
  };

  const decode = (reply: unknown): StoredEvent[] => {
    if (!Array.isArray(reply)) {
      malformed++;
      return [];
    }
    const out: StoredEvent[] = [];
    for (let i = 0; i + 2 < reply.length; i += 3) {
      const [id, type, json] = [reply[i], reply[i + 1], reply[i + 2]].map((v) =>
        Buffer.isBuffer(v) ? v.toString() : v,
      );
      const seq = typeof id === 'string' ? Number(id.split('-')[0]) : Number.NaN;
      if (
        !Number.isSafeInteger(seq) ||
        seq < 1 ||
        typeof type !== 'string' ||
        !TYPES.includes(type)
      ) {
        malformed++;
        continue;
      }
      if (typeof json !== 'string' || !json.startsWith('{')) {
        malformed++;
        continue;
      }
      out.push({ seq, type: type as EmittedEventType, json });
    }
    return out;
  };

  const toSeq = (reply: unknown): number => {
    const n = Number(reply);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`event log: bad sequence reply ${String(reply)}`);
    return n;
  };

  async function appendMany(
    runId: string,
    events: readonly NewStoredEvent[],
    { floor, historyLimit, ttlMs, doneTtlMs = ttlMs, publish: pub }: AppendOptions,
  ): Promise<number[]> {
    if (events.length === 0) return [];
    const target = publish ? pub : undefined;
    const args: (string | number)[] = [
      floor,
      historyLimit,
      Math.ceil(ttlMs),
      Math.ceil(doneTtlMs),
      target ? (sharded ? 'SPUBLISH' : 'PUBLISH') : '',
      target?.channel ?? '',
      target?.head ?? '',
      target?.tail ?? '',
      target?.maxBytes ?? 0,
    ];
    for (const event of events) args.push(event.type, event.json);
    const reply = await run(APPEND, keys(runId), args);
    if (!Array.isArray(reply) || reply.length !== events.length) {
      throw new Error(`event log: bad append reply ${String(reply)}`);
    }
    return reply.map(toSeq);
  }

  return {
    publishesOnAppend: publish,
    async append(runId, event, opts) {
      const [seq] = await appendMany(runId, [event], opts);
      return seq ?? 0;
    },
    appendMany,
    async read(runId, afterSeq, limit) {
      return decode(await run(READ, [keys(runId)[1]!], [afterSeq + 1, limit, 'range']));
    },
    async last(runId) {
      return decode(await run(READ, [keys(runId)[1]!], [0, 1, 'last']))[0];
    },
    async head(runId) {
      return toSeq(await run(HEAD, keys(runId), []));
    },
    async repair(runId, floor, ttlMs) {
      await run(REPAIR, keys(runId), [floor, Math.ceil(ttlMs)]);
    },
    metrics: () => ({ malformed }),
    // The connection belongs to the caller.
    async close() {},
  };
}
