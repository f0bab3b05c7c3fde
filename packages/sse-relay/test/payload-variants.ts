// Run event payloads to hold the hand checks against their schemas: valid ones, and each
// field missing or replaced by an odd value.
import { EMITTED_EVENT_TYPES } from '@x/protocol';

/** A valid payload of each type, then every field replaced by each odd value in turn. */
export const VALID_PAYLOADS = {
  status: { status: 'running' },
  shard: { shardIndex: 0, state: 'started', attempt: 1 },
  result: {
    shardIndex: 2,
    testId: 't-1',
    name: 'adds',
    status: 'failed',
    durationMs: 1.5,
    error: 'boom',
    attempt: 1,
  },
  progress: { passed: 3, failed: 0, total: 10, shardsCompleted: 1, shardCount: 4 },
  log: { level: 'info', message: 'hello' },
  done: { status: 'completed', passed: 1, failed: 0, total: 1, durationMs: null },
  run: { change: 'created', run: { id: '6f1c1d1e-8a3b-4c2d-9e0f-1a2b3c4d5e6f', tags: [] } },
} as const;

export const ODD_VALUES: unknown[] = [
  undefined,
  null,
  '',
  'x',
  'info',
  'passed',
  'started',
  'running',
  0,
  -0,
  1,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  true,
  [],
  {},
  '1',
];

/** Odd ids and tags of the feed's run: a UUID's neighbours and tag lists that are not strings. */
const ODD_FEED_RUN_VALUES: unknown[] = [
  '6F1C1D1E-8A3B-4C2D-9E0F-1A2B3C4D5E6F',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '6f1c1d1e-8a3b-0c2d-9e0f-1a2b3c4d5e6f',
  '6f1c1d1e-8a3b-4c2d-7e0f-1a2b3c4d5e6f',
  '6f1c1d1e8a3b4c2d9e0f1a2b3c4d5e6f',
  ' 6f1c1d1e-8a3b-4c2d-9e0f-1a2b3c4d5e6f',
  ['a', 1],
  ['a', null],
  ['a', 'b'],
  'completed',
  'RUNNING',
];

/** Payload variants: each field of each valid payload missing or odd, plus odd containers. */
export function payloadVariants(): { type: keyof typeof VALID_PAYLOADS; data: unknown }[] {
  const out: { type: keyof typeof VALID_PAYLOADS; data: unknown }[] = [];
  for (const type of EMITTED_EVENT_TYPES) {
    const valid: Record<string, unknown> = VALID_PAYLOADS[type];
    out.push({ type, data: valid }, { type, data: { ...valid, extra: [1] } });
    for (const key of Object.keys(valid)) {
      const { [key]: _, ...without } = valid;
      out.push({ type, data: without });
      for (const odd of ODD_VALUES) out.push({ type, data: { ...valid, [key]: odd } });
    }
    // The feed's run is an object of its own: each of its fields missing or odd too.
    if (type === 'run') {
      const run: Record<string, unknown> = { ...VALID_PAYLOADS.run.run, status: 'running' };
      for (const key of Object.keys(run)) {
        const { [key]: _, ...without } = run;
        out.push({ type, data: { ...valid, run: without } });
        for (const odd of [...ODD_VALUES, ...ODD_FEED_RUN_VALUES])
          out.push({ type, data: { ...valid, run: { ...run, [key]: odd } } });
      }
    }
    out.push({ type, data: Object.assign(Object.create(null), valid) });
    out.push({ type, data: Object.assign(Object.create(valid), {}) });
    out.push({ type, data: new (class Payload {})() });
    out.push({ type, data: [] });
  }
  return out;
}
