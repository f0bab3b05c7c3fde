/** One delivery read from a partition's stream, validated. */
export interface RedisDelivery {
  readonly entryId: string;
  readonly jobId: string;
  /** Failed attempts so far. */
  readonly made: number;
  /** Times the job's lease expired so far. */
  readonly stalls: number;
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly redelivered: boolean;
  /** The payload as stored (JSON written by `add`). */
  readonly payload: string;
}

/** An entry that is not a job `add` could have written: dropped and counted. */
export interface MalformedEntry {
  readonly entryId: string;
  /** The job id when the entry names one, so the job can be reported abandoned. */
  readonly jobId: string | undefined;
  readonly payload: string | undefined;
  readonly problem: string;
}

const COUNT = /^\d{1,15}$/;

/**
 * Validates a stream entry's fields (`j a s m b r d`, see `redis-queue-lua.ts`): anything
 * may have written the stream, and one bad entry must not stop the consumer's loop.
 */
export function parseDelivery(
  entryId: string,
  fields: readonly string[] | null,
): RedisDelivery | MalformedEntry {
  const f = new Map<string, string>();
  if (fields) for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  const jobId = f.get('j') || undefined;
  const payload = f.get('d');
  const bad = (problem: string): MalformedEntry => ({ entryId, jobId, payload, problem });
  if (!fields) return bad('entry deleted');
  if (!jobId) return bad('no job id');
  if (payload === undefined) return bad('no payload');
  const numbers = ['a', 's', 'm', 'b'].map((k) => f.get(k));
  if (!numbers.every((n) => n !== undefined && COUNT.test(n))) return bad('bad counters');
  const [made, stalls, maxAttempts, backoffMs] = numbers.map(Number) as [
    number,
    number,
    number,
    number,
  ];
  if (maxAttempts < 1) return bad('max attempts below 1');
  const r = f.get('r');
  if (r !== '0' && r !== '1') return bad('bad redelivered flag');
  return { entryId, jobId, made, stalls, maxAttempts, backoffMs, redelivered: r === '1', payload };
}

export function isMalformed(entry: RedisDelivery | MalformedEntry): entry is MalformedEntry {
  return 'problem' in entry;
}

/** The payload as the processor gets it: parsed JSON, or the raw text (it then fails it as invalid). */
export function payloadData(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return payload;
  }
}
