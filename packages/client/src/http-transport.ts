import { errorFromResponse, XClientError } from './x-client-error.js';

/** The slice of `fetch` the client calls: the global one, or any compatible implementation. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RequestOptions {
  method?: 'GET' | 'POST';
  /** A list repeats its parameter (`?tag=a&tag=b`). */
  query?: Record<string, string | number | readonly string[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sends no `Authorization` header (the SSE stream authenticates with `?st=`). */
  anonymous?: boolean;
  signal?: AbortSignal | undefined;
}

/** Builds URLs under `/api/v1`, sends the bearer token, maps failures to {@link XClientError}. */
export class HttpTransport {
  private readonly apiBase: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    private readonly fetchImpl: FetchLike,
  ) {
    // Validates early: a relative or malformed base fails at createClient, not at the first call.
    const url = new URL(baseUrl);
    this.apiBase = `${url.origin}${url.pathname.replace(/\/+$/, '')}/api/v1`;
  }

  url(path: string, query: RequestOptions['query'] = {}): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (Array.isArray(value)) for (const item of value) params.append(key, item);
      else if (value !== undefined) params.set(key, String(value));
    }
    const qs = params.toString();
    return `${this.apiBase}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends the request; any answer (even 4xx/5xx) resolves, only "no answer" rejects. */
  async send(path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (!opts.anonymous) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    try {
      return await this.fetchImpl(this.url(path, opts.query), {
        method: opts.method ?? 'GET',
        headers,
        ...(body === undefined ? {} : { body }),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      // An abort is the caller's decision, not a network failure: rethrow it as fetch gave it.
      if (opts.signal?.aborted) throw err;
      throw new XClientError('network_error', `request to ${path} failed: ${messageOf(err)}`, {
        status: 0,
        cause: err,
      });
    }
  }

  /** `send`, then the JSON body of a 2xx answer, or the API's error. */
  async json<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(path, opts);
    if (!res.ok) throw await errorFromResponse(res);
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new XClientError('invalid_response', `${path} answered ${res.status} without JSON`, {
        status: res.status,
        cause: err,
      });
    }
  }
}

function messageOf(err: unknown): string {
  const cause = (err as { cause?: { message?: unknown } } | undefined)?.cause;
  const base = err instanceof Error ? err.message : String(err);
  // undici's "fetch failed" hides the reason (ECONNREFUSED, …) in `cause`.
  return typeof cause?.message === 'string' ? `${base} (${cause.message})` : base;
}
