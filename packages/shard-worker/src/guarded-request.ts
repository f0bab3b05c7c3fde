import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type CheckedUrl, pinnedLookup } from './outbound-guard.js';

export interface GuardedRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request deadline (connect, send, headers, body). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Response bytes read before the rest is discarded; we only need the status. Default 64 KiB. */
  maxBodyBytes?: number;
}

export interface GuardedResponse {
  status: number;
  /** Set on 3xx: the redirect target, which is never followed. */
  location: string | undefined;
}

/**
 * One HTTP request to a URL that passed `checkOutboundUrl`, connecting only to the checked
 * addresses (no second DNS lookup) and never following redirects.
 */
export function guardedRequest(
  checked: CheckedUrl,
  {
    method = 'GET',
    headers,
    body,
    timeoutMs,
    signal,
    maxBodyBytes = 64 * 1024,
  }: GuardedRequestOptions,
): Promise<GuardedResponse> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const send = checked.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<GuardedResponse>((resolve, reject) => {
    if (combined.aborted) {
      reject(abortError(combined, timeout, timeoutMs));
      return;
    }
    const req = send(checked.url, {
      method,
      headers:
        body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      lookup: pinnedLookup(checked.addresses),
      signal: combined,
      // A fresh socket per request: pooled sockets would skip our lookup on reuse anyway,
      // and an idle pool would keep tests and shutdowns waiting.
      agent: false,
    });
    req.once('error', (err) => {
      reject(combined.aborted ? abortError(combined, timeout, timeoutMs) : err);
    });
    req.once('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > maxBodyBytes) res.destroy();
      });
      const done = () =>
        resolve({ status: res.statusCode ?? 0, location: res.headers.location ?? undefined });
      res.once('end', done);
      res.once('close', done);
      res.once('error', done);
    });
    req.end(body);
  });
}

function abortError(combined: AbortSignal, timeout: AbortSignal, timeoutMs: number): Error {
  if (timeout.aborted && combined.reason === timeout.reason) {
    return new Error(`request timed out after ${timeoutMs} ms`);
  }
  const reason: unknown = combined.reason;
  return reason instanceof Error ? reason : new DOMException(String(reason), 'AbortError');
}
