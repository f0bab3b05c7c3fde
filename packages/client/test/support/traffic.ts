import type { FetchLike } from '../../src/index.js';

export interface Exchange {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** 0 when no answer came (the request failed). */
  status: number;
}

/**
 * The global fetch, recording every request the client sends and the status it got: the real
 * network underneath, only observed.
 */
export function recordingFetch(): { fetch: FetchLike; log: Exchange[] } {
  const log: Exchange[] = [];
  const fetchImpl: FetchLike = async (input, init) => {
    const url = new URL(input);
    const entry: Exchange = {
      method: init.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(init.headers),
      status: 0,
    };
    log.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    return res;
  };
  return { fetch: fetchImpl, log };
}

/** Every item of an async iterable, with `onItem` called as each arrives. */
export async function collect<T>(
  items: AsyncIterable<T>,
  onItem: (item: T, index: number) => void | Promise<void> = () => {},
): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) {
    all.push(item);
    await onItem(item, all.length - 1);
  }
  return all;
}
