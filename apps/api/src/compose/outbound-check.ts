import { checkOutboundUrl, OutboundUrlError } from '@x/shard-worker';

/**
 * The SSRF guard the executors and the callback sender use, asked at the door so a bad URL
 * is a 400 naming the field, not a failed test later. The workers check again when they
 * connect (DNS can change in between; they pin the address they checked). A name that does
 * not resolve here is let through: it may resolve where the workers run, and if it then
 * points somewhere private the worker refuses it.
 */
export function outboundChecker(
  httpAllowedHosts: readonly string[],
  callbackAllowedHosts: readonly string[],
) {
  return async (url: string, kind: 'http' | 'callback'): Promise<string | null> => {
    try {
      await checkOutboundUrl(url, kind === 'http' ? httpAllowedHosts : callbackAllowedHosts);
      return null;
    } catch (err) {
      if (err instanceof OutboundUrlError) return err.code === 'dns_failure' ? null : err.message;
      throw err;
    }
  };
}
