import { expect, it } from 'vitest';
import { shardJobPassesFast } from '../src/shard-job-fast-check.js';
import { shardJobDataSchema } from '../src/test-schemas.js';

const TRACE = { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, tracestate: 'k=v' };
const VALID = {
  runId: '6f1c1d1e-8a3b-4c2d-9e0f-1a2b3c4d5e6f',
  workspaceId: 'ws',
  shardIndex: 1,
  shardCount: 2,
  executor: 'demo',
  callbackUrl: 'https://ci.example/hook',
  tests: [
    { testId: 't0', test: { name: 'a', durationMs: 1 } },
    { testId: 't1', test: null },
  ],
};
const ODD: unknown[] = [
  undefined,
  null,
  '',
  'x',
  'x'.repeat(100),
  'x'.repeat(101),
  'x'.repeat(200),
  'x'.repeat(201),
  'x'.repeat(2048),
  'x'.repeat(2049),
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
  [{}],
  {},
  '1',
  `00-${'A'.repeat(32)}-${'b'.repeat(16)}-01`,
  TRACE.traceparent,
];

/** Each field of `base` missing or odd, an extra field, and odd containers. */
function variants(base: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [base, { ...base, extra: 1 }];
  for (const key of Object.keys(base)) {
    const { [key]: _, ...without } = base;
    out.push(without);
    for (const odd of ODD) out.push({ ...base, [key]: odd });
  }
  return out;
}

function jobs(): unknown[] {
  const out: unknown[] = [...variants(VALID), ...variants({ ...VALID, trace: TRACE })];
  for (const test of variants(VALID.tests[0]!)) out.push({ ...VALID, tests: [test] });
  for (const trace of variants(TRACE)) out.push({ ...VALID, trace });
  out.push({ ...VALID, tests: [] }, { ...VALID, trace: { traceparent: TRACE.traceparent } });
  out.push(Object.assign(Object.create(null), VALID), Object.create(VALID), [], null, 'job');
  out.push({ ...VALID, tests: [Object.assign(Object.create({ x: 1 }), VALID.tests[0])] });
  out.push(JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(VALID).slice(1)}`));
  return out;
}

it('passes only jobs the schema accepts, as the schema returns them, and the usual ones', () => {
  let passed = 0;
  for (const job of jobs()) {
    if (!shardJobPassesFast(job)) continue;
    passed++;
    const parsed = shardJobDataSchema.safeParse(job);
    expect(parsed.success, JSON.stringify(job)).toBe(true);
    expect(parsed.data).toEqual(job);
  }
  expect(shardJobPassesFast(VALID)).toBe(true);
  expect(shardJobPassesFast({ ...VALID, callbackUrl: null, trace: TRACE })).toBe(true);
  expect(shardJobPassesFast(JSON.parse(JSON.stringify(VALID)))).toBe(true);
  expect(passed).toBeGreaterThan(10);
});
