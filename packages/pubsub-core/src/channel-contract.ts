import type * as z from 'zod';
import { PubSubError } from './pubsub-error.js';

/** Names of the `{param}` placeholders in a channel name template. */
export type ParamsOf<N extends string> = N extends `${string}{${infer P}}${infer Rest}`
  ? P | ParamsOf<Rest>
  : never;

/** Parameter values: non-empty, only `[A-Za-z0-9_.-]`, at most 200 chars. */
export const CHANNEL_PARAM_PATTERN = /^[A-Za-z0-9_.-]{1,200}$/;
const TEMPLATE_PATTERN = /^(?:[A-Za-z0-9_.:-]|\{[A-Za-z_][A-Za-z0-9_]*\})+$/;
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type ParseResult<P> = { ok: true; value: P } | { ok: false; detail: string };

/** A typed, versioned channel: bind it to a bus with `bus.channel(contract, params)`. */
export interface ChannelContract<P, K extends string = never> {
  /** The name template, e.g. `run:{runId}:events` (the bus adds its prefix). */
  readonly name: string;
  /** Wire version; receivers drop envelopes with another `v` (counted as `version`). */
  readonly version: number;
  readonly schema: z.ZodType<P>;
  /** Per-channel size limit overriding the bus's `maxMessageBytes`, if set. */
  readonly maxBytes: number | undefined;
  /** Placeholder names, in order. */
  readonly params: readonly K[];
  /** The placeholder filled in braces, as a Redis Cluster hash tag; undefined: none. */
  readonly hashTag: K | undefined;
  /** The name with parameters filled in (no prefix); throws `invalid_params` on a bad value. */
  resolve(params?: Partial<Record<K, string>>): string;
  /** Validates a payload against the schema; never throws. */
  parse(payload: unknown): ParseResult<P>;
}

export interface ChannelDefinition<S extends z.ZodType, N extends string> {
  /** Name template; `{param}` placeholders are filled and validated by `bus.channel()`. */
  name: N;
  /** Positive integer; bump it when the payload changes incompatibly. */
  version: number;
  /** zod schema of the payload; receivers validate every remote payload against it. */
  schema: S;
  /** Size limit for this channel's messages. Default: the bus's `maxMessageBytes` (64 KiB). */
  maxBytes?: number;
  /**
   * A placeholder whose value is filled in braces, `run:{runId}:events` with `hashTag: 'runId'`
   * resolving to `run:{r-1}:events`: a Redis Cluster hash tag, so the channel hashes to the
   * slot of keys tagged the same way (a script that writes them may publish on it). Default
   * none: the name as written. (A bus prefix that is a hash tag itself, `{x}`, wins: it comes first.)
   */
  hashTag?: NoInfer<ParamsOf<N>>;
  /**
   * A hand-written check for the common, valid payload of a hot channel, tried before
   * `schema`: it returns the payload exactly as `schema` would output it, or `undefined` to
   * let `schema` decide. It must never accept what `schema` refuses (test it against the
   * schema); refusals always come from `schema`, with its message. Exists because a schema
   * parse is a measurable share of a latency-critical message's handling (run-abort: ~30 µs
   * of ~100 µs per message when the process is cold). Default none: `schema` alone.
   */
  accept?: (payload: unknown) => z.output<S> | undefined;
}

/**
 * Declares a channel once, shared by publishers and subscribers.
 *
 * @example
 * const runEvents = defineChannel({
 *   name: 'run:{runId}:events',
 *   version: 1,
 *   schema: z.object({ type: z.string(), seq: z.number() }),
 * });
 * bus.channel(runEvents, { runId }).publish({ type: 'status', seq: 1 });
 */
export function defineChannel<S extends z.ZodType, N extends string>(
  def: ChannelDefinition<S, N>,
): ChannelContract<z.output<S>, ParamsOf<N>> {
  const { name, version, schema, maxBytes, hashTag, accept } = def;
  if (typeof name !== 'string' || !TEMPLATE_PATTERN.test(name)) {
    throw new PubSubError(
      'invalid_channel',
      `channel name ${JSON.stringify(name)} may only contain [A-Za-z0-9_.:-] and {param} placeholders`,
    );
  }
  if (!Number.isInteger(version) || version < 1) {
    throw new PubSubError('invalid_channel', `channel ${name}: version must be a positive integer`);
  }
  if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 64)) {
    throw new PubSubError('invalid_channel', `channel ${name}: maxBytes must be an integer >= 64`);
  }
  type K = ParamsOf<N>;
  const params = [...name.matchAll(PLACEHOLDER)].map((m) => m[1] as K);
  if (hashTag !== undefined && !params.includes(hashTag as K)) {
    throw new PubSubError(
      'invalid_channel',
      `channel ${name}: hashTag ${JSON.stringify(hashTag)} is not one of its placeholders`,
    );
  }
  return {
    name,
    version,
    schema: schema as z.ZodType<z.output<S>>,
    maxBytes,
    params,
    hashTag: hashTag as K | undefined,
    resolve(values) {
      if (params.length === 0) return name;
      return name.replace(PLACEHOLDER, (_, key: string) => {
        const value = (values as Record<string, unknown> | undefined)?.[key];
        if (typeof value !== 'string' || !CHANNEL_PARAM_PATTERN.test(value)) {
          throw new PubSubError(
            'invalid_params',
            `channel ${name}: parameter ${key} must be 1-200 chars of [A-Za-z0-9_.-], got ${JSON.stringify(value)}`,
          );
        }
        return key === hashTag ? `{${value}}` : value;
      });
    },
    parse(payload) {
      if (accept) {
        // A check that throws is a bug in it, not in the payload: the schema still decides.
        let fast: z.output<S> | undefined;
        try {
          fast = accept(payload);
        } catch {
          fast = undefined;
        }
        if (fast !== undefined) return { ok: true, value: fast };
      }
      const result = schema.safeParse(payload);
      if (result.success) return { ok: true, value: result.data as z.output<S> };
      const issue = result.error.issues[0];
      const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
      return { ok: false, detail: `${where}: ${issue?.message ?? 'invalid payload'}` };
    },
  };
}
