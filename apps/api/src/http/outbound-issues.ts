import type { ParsedCreateRunBody as CreateRunBody } from '@x/protocol';
import type { ApiServices } from './api-services.js';
import type { FieldIssue } from './validation.js';

/**
 * Outbound checks one request runs at once. Each is a DNS look-up; a body of 10,000 http
 * tests to 10,000 hosts must not fire 10,000 look-ups together (the resolver's thread pool
 * has 4 threads, and every other request's look-ups would queue behind them).
 */
export const MAX_CONCURRENT_OUTBOUND_CHECKS = 16;

/**
 * The SSRF guard at the door: every outbound URL of the body, each distinct host checked once
 * (the guard's answer depends only on the host), at most
 * {@link MAX_CONCURRENT_OUTBOUND_CHECKS} at a time; one issue per refused field.
 */
export async function outboundIssues(
  body: CreateRunBody,
  services: Pick<ApiServices, 'checkOutboundUrl'>,
  concurrency = MAX_CONCURRENT_OUTBOUND_CHECKS,
): Promise<FieldIssue[]> {
  const issues: FieldIssue[] = [];
  if (body.callbackUrl) {
    const refusal = await services.checkOutboundUrl(body.callbackUrl, 'callback');
    if (refusal) issues.push({ field: 'callbackUrl', message: refusal });
  }
  if (body.executor !== 'http') return issues;
  const hostOf = body.tests.map((test) => new URL(test.url).host);
  // One URL per host stands for all of that host's tests.
  const firstUrl = new Map<string, string>();
  body.tests.forEach((test, i) => {
    if (!firstUrl.has(hostOf[i]!)) firstUrl.set(hostOf[i]!, test.url);
  });
  const pending = [...firstUrl];
  const refusals = new Map<string, string | null>();
  const worker = async () => {
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const [host, url] = next;
      refusals.set(host, await services.checkOutboundUrl(url, 'http'));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, pending.length) }, worker));
  hostOf.forEach((host, i) => {
    const refusal = refusals.get(host);
    if (refusal) issues.push({ field: `tests.${i}.url`, message: refusal });
  });
  return issues;
}
