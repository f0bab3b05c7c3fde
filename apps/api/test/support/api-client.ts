export interface ApiReply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** JSON requests against one api base URL with one bearer token. */
export function apiClient(base: string, token?: string) {
  const request = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiReply<T>> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  return {
    request,
    get: <T = Record<string, unknown>>(path: string) => request<T>('GET', path),
    post: <T = Record<string, unknown>>(path: string, body?: unknown) =>
      request<T>('POST', path, body),
  };
}

export interface RunBody {
  id: string;
  name: string | null;
  status: string;
  total: number;
  passed: number;
  failed: number;
  shardCount: number;
  shardsCompleted: number;
  error: string | null;
}

export const demoTests = (n: number, durationMs: number, failEvery = 0) =>
  Array.from({ length: n }, (_, i) => ({
    name: `t${i}`,
    durationMs,
    ...(failEvery && i % failEvery === 0 ? { outcome: 'fail' } : {}),
  }));
