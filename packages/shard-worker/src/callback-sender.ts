import { guardedRequest } from './guarded-request.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import { checkOutboundUrl, type Resolver } from './outbound-guard.js';

/** The JSON body of the completion callback. */
export interface CallbackPayload {
  runId: string;
  status: string;
  passed: number;
  failed: number;
  total: number;
  error: string | null;
}

export interface CallbackOutcome {
  ok: boolean;
  status?: number;
  error?: string;
}

export interface CallbackSenderOptions {
  /** Hosts (`host` or `host:port`) exempt from the private-address guard. Default none. */
  allowedHosts?: readonly string[];
  /** Whole-request deadline. Default 10 s: a slow receiver must not hold a worker slot. */
  timeoutMs?: number;
  logger?: Logger;
  /** DNS resolver; only tests replace it. */
  resolve?: Resolver;
}

export interface CallbackMetrics {
  sent: number;
  /** Answered with a non-2xx status (redirects included: they are not followed). */
  rejected: number;
  /** Refused by the outbound-address guard. */
  refused: number;
  /** Timed out or failed to connect. */
  errors: number;
}

export interface CallbackSender {
  /** POSTs `payload` as JSON to `url`. Never throws: the outcome is returned, counted and logged. */
  send(url: string, payload: CallbackPayload): Promise<CallbackOutcome>;
  metrics(): CallbackMetrics;
}

/** Sends run-completion callbacks through the outbound-address guard, never following redirects. */
export function createCallbackSender({
  allowedHosts = [],
  timeoutMs = 10_000,
  logger = silentLogger,
  resolve,
}: CallbackSenderOptions = {}): CallbackSender {
  const counters: CallbackMetrics = { sent: 0, rejected: 0, refused: 0, errors: 0 };
  return {
    async send(url, payload) {
      let checked: Awaited<ReturnType<typeof checkOutboundUrl>>;
      try {
        checked = await checkOutboundUrl(url, allowedHosts, resolve);
      } catch (err) {
        counters.refused++;
        const error = err instanceof Error ? err.message : String(err);
        logger.warn({ runId: payload.runId, err }, 'callback refused by the outbound guard');
        return { ok: false, error };
      }
      try {
        const { status } = await guardedRequest(checked, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          timeoutMs,
        });
        if (status >= 200 && status < 300) {
          counters.sent++;
          return { ok: true, status };
        }
        counters.rejected++;
        logger.warn({ runId: payload.runId, status }, 'callback answered with a non-2xx status');
        return { ok: false, status, error: `callback answered ${status}` };
      } catch (err) {
        counters.errors++;
        logger.warn({ runId: payload.runId, err }, 'callback request failed');
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    },
    metrics: () => ({ ...counters }),
  };
}
