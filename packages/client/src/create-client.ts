import { type FetchLike, HttpTransport } from './http-transport.js';
import { type RunsApi, runsApi } from './runs-api.js';

export interface ClientOptions {
  /**
   * Where the api listens: its origin (`https://x.example.com`, or `location.origin` in a
   * page it serves), with a path prefix if a proxy adds one. `/api/v1` is appended.
   */
  baseUrl: string | URL;
  /** A bearer token of `API_TOKENS` (or the development token). */
  token: string;
  /** The `fetch` to call. Default: the global one (Node ≥ 20, browsers). */
  fetch?: FetchLike;
}

export interface XClient {
  readonly runs: RunsApi;
}

/**
 * A client of one api deployment. Nothing is sent until a method is called.
 *
 * @example
 * const x = createClient({ baseUrl: 'http://127.0.0.1:3000', token });
 * const run = await x.runs.create({ executor: 'demo', tests: [{ name: 't', durationMs: 100 }] });
 * for await (const event of x.runs.watch(run.id)) console.log(event.type);
 */
export function createClient(opts: ClientOptions): XClient {
  if (!opts.token) throw new TypeError('createClient: token is required');
  // A wrapper, not `globalThis.fetch` itself: browsers refuse a fetch called on another `this`.
  const fetchImpl: FetchLike = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const http = new HttpTransport(String(opts.baseUrl), opts.token, fetchImpl);
  return { runs: runsApi(http) };
}
