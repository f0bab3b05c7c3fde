import { createLogger } from '@x/app-kit';
import { createRunSchema } from '@x/protocol';
import type { ResolvedAddress } from '@x/shard-worker';
import { expect, it } from 'vitest';
import { outboundChecker } from '../src/compose/outbound-check.js';
import { MAX_CONCURRENT_OUTBOUND_CHECKS, outboundIssues } from '../src/http/outbound-issues.js';

it('looks up the hosts of one request at most 16 at a time, each host once, and still names every refused test', async () => {
  let inFlight = 0;
  let peak = 0;
  const looked: string[] = [];
  // The guard's own resolver seam: every look-up the request triggers passes here.
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    looked.push(hostname);
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 2));
    inFlight--;
    return [{ address: hostname.startsWith('inside') ? '10.0.0.7' : '93.184.216.34', family: 4 }];
  };
  const check = outboundChecker({
    httpAllowedHosts: [],
    callbackAllowedHosts: [],
    logger: createLogger('silent'),
    resolve,
  });
  // 2,000 tests on 1,000 hosts (each twice), every 100th host internal.
  const tests = Array.from({ length: 2_000 }, (_, i) => {
    const host = i % 1_000;
    return {
      name: `t${i}`,
      url: `http://${host % 100 === 0 ? 'inside' : 'public'}-${host}.example/x`,
    };
  });
  const body = createRunSchema.parse({ executor: 'http', tests });
  const issues = await outboundIssues(body, { checkOutboundUrl: check });

  expect(MAX_CONCURRENT_OUTBOUND_CHECKS).toBe(16);
  expect(peak).toBeLessThanOrEqual(16);
  expect(peak).toBeGreaterThan(1); // still concurrent, not one by one
  expect(looked).toHaveLength(1_000);
  expect(new Set(looked).size).toBe(1_000);
  const refused = tests.flatMap((t, i) => (t.url.includes('inside') ? [`tests.${i}.url`] : []));
  expect(issues.map((i) => i.field)).toEqual(refused);
  expect(new Set(issues.map((i) => i.message))).toEqual(new Set(['address not allowed']));
});
