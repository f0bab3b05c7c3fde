import * as z from 'zod';
import { defineChannel } from '../src/index.js';

/** What the benchmark sends: a sequence number and the send time (µs, CLOCK_MONOTONIC). */
export const benchChannel = defineChannel({
  name: 'bench:{id}',
  version: 1,
  schema: z.object({ seq: z.number(), t: z.number(), pad: z.string() }),
});

/** Microseconds on the system-wide monotonic clock, comparable across processes. */
export const nowUs = (): number => Number(process.hrtime.bigint() / 1_000n);

/** ~100 bytes of payload, about the size of a run event. */
export const PAD = 'x'.repeat(64);

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

/** The benchmark's child processes are configured by the parent through these variables. */
export function benchEnv(): {
  MODE: string;
  REDIS_URL: string;
  CHANNEL_ID: string;
  PREFIX: string;
} {
  const get = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`bench child: ${name} is not set`);
    return value;
  };
  return {
    MODE: get('MODE'),
    REDIS_URL: get('REDIS_URL'),
    CHANNEL_ID: get('CHANNEL_ID'),
    PREFIX: get('PREFIX'),
  };
}
