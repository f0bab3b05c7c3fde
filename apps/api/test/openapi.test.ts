import { compileErrors, validate } from '@readme/openapi-parser';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessApi, TOKEN_A } from './support/in-process-api.js';

let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
let doc: { paths: Record<string, Record<string, unknown>>; servers: { url: string }[] };

beforeAll(async () => {
  ctx = await startInProcessApi();
  // No Authorization header: the document is public.
  const res = await fetch(`${ctx.api.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as typeof doc;
});
afterAll(() => ctx?.close());

interface Layer {
  rawPath?: unknown;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every `METHOD /path` the Express app serves, read from its router stack (mounted routers too). */
function servedRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => `${m.toUpperCase()} ${prefix}${layer.route!.path}`);
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return servedRoutes(layer.handle.stack, prefix + mount);
    }
    return [];
  });
}

/** `/runs/{id}` → `/runs/:id`, prefixed with the document's server URL. */
function documentedRoutes(): string[] {
  const base = doc.servers[0]!.url;
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k))
      .map((m) => `${m.toUpperCase()} ${base}${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

describe('GET /api/v1/openapi.json', () => {
  it('passes the OpenAPI 3.1 validator of @readme/openapi-parser', async () => {
    expect(doc).toMatchObject({ openapi: '3.1.0' });
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('documents every route the api router serves, and serves every documented path', () => {
    const app = ctx.api.server.listeners('request')[0] as Express;
    const stack = (app as unknown as { router: { stack: Layer[] } }).router.stack;
    const served = servedRoutes(stack).filter((r) => r.split(' ')[1]!.startsWith('/api/v1/'));
    // The walk found the api's routes at all (a changed Express internals would find none).
    expect(served).toContain('POST /api/v1/runs');
    expect(new Set(documentedRoutes())).toEqual(new Set(served));
  });

  it('describes the create body with the schema the route validates with', async () => {
    const schemas = (doc as unknown as { components: { schemas: Record<string, unknown> } })
      .components.schemas;
    // A field the schema does not know is refused by the route; the document says so too.
    expect(JSON.stringify(schemas.CreateRunBody)).toContain('"additionalProperties":false');
    const res = await fetch(`${ctx.api.url}/api/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ executor: 'demo', tests: [{ name: 'a', durationMs: 1 }], x: 1 }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { details: { issues: [{ field: 'x', message: 'unknown field' }] } },
    });
  });
});
