import { randomInt } from 'node:crypto';

/** The characters of an epoch, as SSE ids (`<seq>-<epoch>`) carry it. */
export const EPOCH_PATTERN = /^[A-Za-z0-9]{1,16}$/;

/** Seconds of the clock's origin: seqs of a new epoch start at microseconds since then. */
export const CLOCK_ORIGIN_S = 1_700_000_000;

// A process's random tag and a counter: unique across processes without a round trip, and
// cheaper than a random draw per call (every append proposes one; only a new epoch keeps it).
const TAG = randomInt(36 ** 5, 36 ** 6).toString(36);
let next = 0;

/** A fresh epoch name, e.g. `k3j9qa0`: the log keeps it only when it creates an epoch. */
export function newEpochId(): string {
  next = (next + 1) % 36 ** 4;
  return `${TAG}${next.toString(36)}`;
}

/** The base of a new epoch from this process's clock: microseconds since the origin. */
export function clockBase(): number {
  return (Date.now() - CLOCK_ORIGIN_S * 1000) * 1000;
}
