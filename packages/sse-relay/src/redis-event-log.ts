import { createHash } from 'node:crypto';
import { EPOCH_PATTERN, newEpochId } from './epoch-id.js';
import type {
  AppendOptions,
  AppendResult,
  EventLog,
  HistoryRead,
  LogHead,
  NewStoredEvent,
  StoredEvent,
} from './event-log.js';
import { eventLogKeys } from './event-log-keys.js';
import { ORIGIN_PATTERN } from './lua/append-records.js';
import {
  APPEND_SCRIPT,
  BEGIN_SCRIPT,
  GAP_SCRIPT,
  HEAD_SCRIPT,
  READ_SCRIPT,
} from './lua/scripts.js';
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
   * Default false. On a Redis Cluster set it (classic `PUBLISH` from a script is broadcast to
   * every node): the run's keys and its channel share the run id as hash tag, so the script's
   * `SPUBLISH` stays in the slot it writes.
   */
  sharded?: boolean;
  /**
   * A history lives in the epoch of the primary that wrote it: when another server answers for
   * the run (a replica promoted by a failover, a slot moved), the next append starts a new
   * epoch and resumes from older ids answer `recovered: false`. Replication is asynchronous,
   * so a promoted replica may lack the last events a client already received; without this
   * their seqs would be handed out again and a resume would skip the new ones silently.
   * The writer is the node id on a cluster (`CLUSTER MYID`, cheap), else the replication id
   * (`INFO replication`, which doubles a script's server time). Default false (one server,
   * whose restart from its persistence keeps the epoch); the apps turn it on for a cluster.
   */
  epochPerPrimary?: boolean;
  /**
   * The clock the append script spaces its TTL refreshes by (ms; default `Date.now`): a
   * history's TTL is refreshed when an eighth of it has passed, not on every append, so it
   * expires between 7/8 of the TTL and the TTL after the run's last append.
   */
  now?: () => number;
}

interface Script {
  source: string;
  sha: string;
}
const script = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});
/** The log's scripts, each after the line that turns the primary check on or off. */
const scriptSet = (primaryEpoch: boolean) => {
  const prelude = `local PRIMARY_EPOCH = ${primaryEpoch}\n`;
  return {
    APPEND: script(prelude + APPEND_SCRIPT),
    READ: script(prelude + READ_SCRIPT),
    HEAD: script(prelude + HEAD_SCRIPT),
    BEGIN: script(prelude + BEGIN_SCRIPT),
    GAP: script(prelude + GAP_SCRIPT),
  };
};
const SCRIPTS = { plain: scriptSet(false), perPrimary: scriptSet(true) };
const TYPES: readonly string[] = EMITTED_EVENT_TYPES;

const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString() : v);

/**
 * The distributed event log: per run a counter `<prefix>:run:{<runId>}:seq` (epoch, base, last
 * seq, done) and a capped stream `<prefix>:run:{<runId>}:history` (see `eventLogKeys`: the run
 * id is their hash tag, so they share a slot on a Redis Cluster) holding one entry per
 * appended batch (history-entry.ts), both written by one Lua script per append, which also
 * publishes the appended events on the run's channel in one message (one round trip;
 * `publish: false` leaves publishing to the caller). Reads expand entries back into events.
 * Events after the run's `done` are refused by the script itself, so no emitter anywhere
 * can append past the last frame.
 *
 * @example
 * const log = redisEventLog({ redis: new Redis(url), prefix: 'x' });
 * const onCluster = redisEventLog({ redis: new Cluster(nodes), prefix: 'x', sharded: true });
 */
export function redisEventLog({
  redis,
  prefix,
  publish = true,
  sharded = false,
  epochPerPrimary = false,
  now = Date.now,
}: RedisEventLogOptions): EventLog {
  const { APPEND, READ, HEAD, BEGIN, GAP } = epochPerPrimary ? SCRIPTS.perPrimary : SCRIPTS.plain;
  let malformed = 0;
  const keys = (runId: string) => {
    const { seq, history } = eventLogKeys(prefix, runId);
    return [seq, history];
  };

  const run = async (s: Script, keyList: string[], args: (string | number)[]) => {
    try {
      return await redis.evalsha(s.sha, keyList.length, ...keyList, ...args);
    } catch (error) {
      // A restarted or flushed server forgets loaded scripts; send the source once.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(s.source, keyList.length, ...keyList, ...args);
    }
  };

  const toSeq = (reply: unknown): number => {
    const n = Number(reply);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`event log: bad sequence reply ${String(reply)}`);
    return n;
  };

  /** The head items of a reply (epoch, base, seq, done); undefined when there is no epoch. */
  const decodeHead = (reply: unknown[]): LogHead | undefined => {
    const epoch = text(reply[0]);
    if (epoch === '') return undefined;
    if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch))
      throw new Error(`event log: bad epoch reply ${String(epoch)}`);
    return { epoch, base: toSeq(reply[1]), seq: toSeq(reply[2]), done: Number(reply[3]) === 1 };
  };

  const decodeRead = (reply: unknown): HistoryRead => {
    if (!Array.isArray(reply) || reply.length < 4)
      throw new Error(`event log: bad read reply ${String(reply)}`);
    const head = decodeHead(reply);
    const events: StoredEvent[] = [];
    for (let i = 4; i + 2 < reply.length; i += 3) {
      const [id, type, json] = [reply[i], reply[i + 1], reply[i + 2]].map(text);
      const seq = typeof id === 'string' ? Number(id.split('-')[0]) : Number.NaN;
      if (
        !Number.isSafeInteger(seq) ||
        seq < 1 ||
        typeof type !== 'string' ||
        !TYPES.includes(type) ||
        typeof json !== 'string' ||
        !json.startsWith('{')
      ) {
        malformed++;
        continue;
      }
      events.push({ seq, type: type as EmittedEventType, json });
    }
    return { head, events };
  };

  return {
    publishesOnAppend: publish,
    async begin(runId, ttlMs) {
      await run(BEGIN, keys(runId), [newEpochId(), Math.ceil(ttlMs)]);
    },
    async appendMany(
      runId: string,
      events: readonly NewStoredEvent[],
      { floor, historyLimit, ttlMs, doneTtlMs = ttlMs, publish: pub, token }: AppendOptions,
    ): Promise<AppendResult> {
      if (events.length === 0) return { epoch: '', seqs: [] };
      // The origin is written into the counter between separators it must not contain.
      if (token && !ORIGIN_PATTERN.test(token.origin))
        throw new Error(`event log: bad append origin ${JSON.stringify(token.origin)}`);
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
        newEpochId(),
        token?.origin ?? '',
        token?.n ?? 0,
        Math.floor(now()),
      ];
      for (const event of events) args.push(event.type, event.json);
      const reply = await run(APPEND, keys(runId), args);
      if (!Array.isArray(reply) || reply.length !== events.length + 1) {
        throw new Error(`event log: bad append reply ${String(reply)}`);
      }
      const epoch = text(reply[0]);
      if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch))
        throw new Error(`event log: bad epoch reply ${String(epoch)}`);
      return { epoch, seqs: reply.slice(1).map(toSeq) };
    },
    async read(runId, afterSeq, limit) {
      return decodeRead(await run(READ, keys(runId), [afterSeq + 1, limit, 'range']));
    },
    async last(runId) {
      return decodeRead(await run(READ, keys(runId), [0, 1, 'last']));
    },
    async head(runId) {
      const reply = await run(HEAD, keys(runId), []);
      if (!Array.isArray(reply) || reply.length !== 4)
        throw new Error(`event log: bad head reply ${String(reply)}`);
      return decodeHead(reply);
    },
    async declareGap(runId, floor, ttlMs) {
      const epoch = text(await run(GAP, keys(runId), [newEpochId(), floor, Math.ceil(ttlMs)]));
      if (typeof epoch !== 'string') throw new Error('event log: bad gap reply');
      return epoch;
    },
    metrics: () => ({ malformed }),
    // The connection belongs to the caller.
    async close() {},
  };
}
