import { type Logger, silentLogger } from '@x/kernel';
import { type CallbackSecrets, createCallbackSigner } from './callback-signer.js';
import { guardedRequest } from './guarded-request.js';
import { checkOutboundUrl, type Resolver } from './outbound-guard.js';
import { OutboundUrlError } from './outbound-url-error.js';
import { ShardWorkerError } from './shard-worker-error.js';

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
  /** Retrying cannot help (the outbound guard refused the URL): give up at once. */
  permanent?: boolean;
}

/** How the callback outbox retries a failed delivery (see callback-outbox.ts). */
export interface CallbackRetryPolicy {
  /** Delivery attempts before the callback is marked `failed`. Default 5. */
  maxAttempts: number;
  /** Delay before the 2nd attempt; doubles per attempt (±20% jitter). Default 1 s. */
  baseDelayMs: number;
  /** Cap of that delay. Default 60 s: a receiver down for minutes is retried steadily. */
  maxDelayMs: number;
}

export const DEFAULT_CALLBACK_RETRY: Readonly<CallbackRetryPolicy> = {
  maxAttempts: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
};

export interface CallbackSenderOptions {
  /** Hosts (`host` or `host:port`) exempt from the private-address guard. Default none. */
  allowedHosts?: readonly string[];
  /** Whole-request deadline. Default 10 s: a slow receiver must not hold a worker slot. */
  timeoutMs?: number;
  logger?: Logger;
  /** DNS resolver; only tests replace it. */
  resolve?: Resolver;
  /** Retries of a failed delivery, applied by the callback outbox. Default {@link DEFAULT_CALLBACK_RETRY}. */
  retry?: Partial<CallbackRetryPolicy>;
  /**
   * Signing secret per workspace (`CALLBACK_SECRETS`). A workspace's callbacks are signed
   * (Standard Webhooks) when it has one, and sent unsigned with a warning otherwise. Default none.
   */
  secrets?: CallbackSecrets;
}

/** Which callback one delivery attempt is: the outbox entry and the run's workspace. */
export interface CallbackDelivery {
  /** The outbox entry's id: `webhook-id`, the same on every attempt. */
  id: string;
  /** Whose secret signs it. */
  workspaceId: string;
}

export interface CallbackMetrics {
  sent: number;
  /** Answered with a non-2xx status (redirects included: they are not followed). */
  rejected: number;
  /** Refused by the outbound-address guard. */
  refused: number;
  /** Attempts sent without a signature: the workspace has no secret. */
  unsigned: number;
  /** Timed out or failed to connect. */
  errors: number;
}

export interface CallbackSender {
  /**
   * POSTs `payload` as JSON to `url`, signed with the workspace's secret (`webhook-id`,
   * `webhook-timestamp`, `webhook-signature`), with `Idempotency-Key: <runId>` and `X-Run-Id`
   * (every attempt of one callback carries the same `webhook-id` and key, so a receiver can
   * drop repeats). Never throws: the outcome is returned, counted and logged.
   */
  send(url: string, payload: CallbackPayload, delivery: CallbackDelivery): Promise<CallbackOutcome>;
  metrics(): CallbackMetrics;
  /** Retry policy for the outbox; absent = {@link DEFAULT_CALLBACK_RETRY}. */
  readonly retry?: Readonly<CallbackRetryPolicy>;
}

/** Sends run-completion callbacks through the outbound-address guard, never following redirects. */
export function createCallbackSender({
  allowedHosts = [],
  timeoutMs = 10_000,
  logger = silentLogger,
  resolve,
  retry,
  secrets,
}: CallbackSenderOptions = {}): CallbackSender {
  const signer = createCallbackSigner(secrets);
  const policy = { ...DEFAULT_CALLBACK_RETRY, ...retry };
  for (const [name, value, min] of [
    ['retry.maxAttempts', policy.maxAttempts, 1],
    ['retry.baseDelayMs', policy.baseDelayMs, 0],
    ['retry.maxDelayMs', policy.maxDelayMs, policy.baseDelayMs],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new ShardWorkerError(
        'invalid_option',
        `callback sender: ${name} must be an integer >= ${min}, got ${value}`,
      );
  }
  const counters: CallbackMetrics = { sent: 0, rejected: 0, refused: 0, errors: 0, unsigned: 0 };
  return {
    retry: policy,
    async send(url, payload, delivery) {
      let checked: Awaited<ReturnType<typeof checkOutboundUrl>>;
      try {
        checked = await checkOutboundUrl(url, allowedHosts, resolve);
      } catch (err) {
        counters.refused++;
        const error = err instanceof Error ? err.message : String(err);
        // The detail (resolved address, DNS error) is for this log only.
        const detail = err instanceof OutboundUrlError ? err.detail : undefined;
        logger.warn(
          { runId: payload.runId, err, detail },
          'callback refused by the outbound guard',
        );
        return { ok: false, error, permanent: true };
      }
      const body = JSON.stringify(payload);
      const signature = signer.sign(delivery.workspaceId, delivery.id, body);
      if (!signature) {
        counters.unsigned++;
        logger.warn(
          { runId: payload.runId, workspaceId: delivery.workspaceId },
          'callback sent unsigned: the workspace has no CALLBACK_SECRETS entry',
        );
      }
      try {
        const { status } = await guardedRequest(checked, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': payload.runId,
            'x-run-id': payload.runId,
            ...signature,
          },
          body,
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
