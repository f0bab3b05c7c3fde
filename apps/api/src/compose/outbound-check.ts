import { checkOutboundUrl, OutboundUrlError, type Resolver } from '@x/shard-worker';
import type { Logger } from 'pino';

/**
 * The SSRF guard the executors and the callback sender use, asked at the door so a bad URL
 * is a 400 naming the field, not a failed test later. The workers check again when they
 * connect (DNS can change in between; they pin the address they checked).
 *
 * A name that resolves to a private address and a name that does not resolve get the same
 * answer here and at execution (`address not allowed`): a caller must not be able to tell
 * which internal names exist. What the guard saw goes to the log, for operators.
 */
export function outboundChecker(opts: {
  httpAllowedHosts: readonly string[];
  callbackAllowedHosts: readonly string[];
  logger: Logger;
  /** DNS resolver; only tests replace it. */
  resolve?: Resolver;
}) {
  const { httpAllowedHosts, callbackAllowedHosts, logger, resolve } = opts;
  return async (url: string, kind: 'http' | 'callback'): Promise<string | null> => {
    try {
      const allowed = kind === 'http' ? httpAllowedHosts : callbackAllowedHosts;
      await checkOutboundUrl(url, allowed, resolve);
      return null;
    } catch (err) {
      if (!(err instanceof OutboundUrlError)) throw err;
      // The host only: a URL's path or query may carry a caller's secret.
      const host = URL.canParse(url) ? new URL(url).host : undefined;
      logger.info({ kind, host, code: err.code, detail: err.detail }, 'outbound URL refused');
      return err.message;
    }
  };
}
