import {
  apiErrorBodySchema,
  bulkAbortResponseSchema,
  bulkAbortSchema,
  createRunSchema,
  idempotencyKeySchema,
  listRunsQuerySchema,
  resultSchema,
  resultsQuerySchema,
  resultsResponseSchema,
  runListResponseSchema,
  runResponseSchema,
  runSchema,
  streamTokenResponseSchema,
} from '@x/protocol';
import { z } from 'zod';

/**
 * The OpenAPI 3.1 document of `/api/v1`, generated from @x/protocol's zod schemas: the very
 * ones the routes validate requests with and the client's types are inferred from. Nothing
 * here restates a shape; only what zod cannot know (paths, statuses, headers, auth) is written.
 */

type Json = Record<string, unknown>;

/** Named schemas under `components.schemas`, each converted once and referenced by `$ref`. */
const COMPONENTS = {
  CreateRunBody: createRunSchema,
  Run: runSchema,
  Result: resultSchema,
  RunResponse: runResponseSchema,
  RunList: runListResponseSchema,
  ResultList: resultsResponseSchema,
  StreamToken: streamTokenResponseSchema,
  Error: apiErrorBodySchema,
  BulkAbortBody: bulkAbortSchema,
  BulkAbortResponse: bulkAbortResponseSchema,
} as const;
type ComponentName = keyof typeof COMPONENTS;

const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });

/** Request side (`io: 'input'`): what a client may send, before defaults and transforms. */
function components(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(COMPONENTS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io: 'input',
    uri: (id) => `#/components/schemas/${id}`,
    // Refinements (the planned-time bound, the URL check) have no JSON Schema form: the
    // document states the shape, the api still enforces them (and names the field in a 400).
    unrepresentable: 'any',
  });
  // A component is a Schema Object, not a document: no `$schema`/`$id` of its own.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, s]) => {
      const { $schema: _s, $id: _i, ...rest } = s as Json;
      return [id, rest];
    }),
  );
}

/** One query or header parameter per property of a zod object (or one schema). */
function queryParameters(schema: z.ZodObject): Json[] {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(json.properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: 'query',
      required: json.required?.includes(name) ?? false,
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

function schemaOf(schema: z.ZodType): Json {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Json;
  return rest;
}

const json = (schema: Json) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });
const ok = (description: string, name: ComponentName) => ({
  description,
  content: json(ref(name)),
});

const runId = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The run id (a UUID, any case). Another workspace’s run is a 404.',
  schema: { type: 'string', format: 'uuid' },
};

const common = {
  '401': error('missing or invalid bearer token'),
  '503': error('a dependency (database, Redis) is unavailable; retry'),
};
const withRun = { ...common, '404': error('no such run in this workspace') };
const bodyErrors = {
  '400': error('invalid input; `details.issues` names each field'),
  '413': error('body over 1 MiB'),
  '415': error('body is not application/json'),
};

function paths(): Json {
  const { description: keyDescription, ...keySchema } = schemaOf(idempotencyKeySchema);
  const replayed = {
    'Idempotent-Replayed': {
      description: '`true` when this answers an earlier request with the same key.',
      schema: { type: 'string', enum: ['true'] },
    },
  };
  return {
    '/openapi.json': {
      get: {
        operationId: 'getOpenApi',
        summary: 'This document',
        security: [],
        responses: {
          '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) },
        },
      },
    },
    '/runs': {
      post: {
        operationId: 'createRun',
        summary: 'Create and enqueue a run',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: keyDescription,
            schema: keySchema,
          },
        ],
        requestBody: { required: true, content: json(ref('CreateRunBody')) },
        responses: {
          '201': ok('the run, queued', 'RunResponse'),
          '200': {
            ...ok('the run an earlier request with this key created', 'RunResponse'),
            headers: replayed,
          },
          ...bodyErrors,
          '422': error('`idempotency_key_reused`: the key was used with another body'),
          ...common,
        },
      },
      get: {
        operationId: 'listRuns',
        summary: 'The workspace’s runs, newest first',
        parameters: queryParameters(listRunsQuerySchema),
        responses: { '200': ok('one page', 'RunList'), '400': bodyErrors['400'], ...common },
      },
    },
    '/runs/abort': {
      post: {
        operationId: 'abortRuns',
        summary:
          'Abort every live run matching a tag and/or statuses (an empty filter is refused); idempotent',
        requestBody: { required: true, content: json(ref('BulkAbortBody')) },
        responses: {
          '202': ok('how many runs this call aborted', 'BulkAbortResponse'),
          ...bodyErrors,
          ...common,
        },
      },
    },
    '/runs/{id}': {
      get: {
        operationId: 'getRun',
        summary: 'One run',
        parameters: [runId],
        responses: { '200': ok('the run', 'RunResponse'), ...withRun },
      },
    },
    '/runs/{id}/results': {
      get: {
        operationId: 'listResults',
        summary: 'Per-test results, in the order they were recorded',
        parameters: [runId, ...queryParameters(resultsQuerySchema)],
        responses: { '200': ok('one page', 'ResultList'), '400': bodyErrors['400'], ...withRun },
      },
    },
    '/runs/{id}/abort': {
      post: {
        operationId: 'abortRun',
        summary: 'Abort a run (idempotent)',
        parameters: [runId],
        responses: {
          '202': ok('the run, aborted', 'RunResponse'),
          '409': error('the run already completed or failed'),
          ...withRun,
        },
      },
    },
    '/runs/{id}/stream-token': {
      post: {
        operationId: 'createStreamToken',
        summary:
          'A short-lived token that opens this run’s event stream (EventSource sends no headers)',
        parameters: [runId],
        responses: { '200': ok('the token', 'StreamToken'), ...withRun },
      },
    },
    '/runs/{id}/events': {
      get: {
        operationId: 'streamRunEvents',
        summary: 'The run’s Server-Sent Events: a snapshot, then every event once, in order',
        security: [{ streamToken: [] }, { bearer: [] }],
        parameters: [
          runId,
          {
            name: 'lastEventId',
            in: 'query',
            required: false,
            description: 'Resume after this SSE id (or send the `Last-Event-ID` header).',
            schema: { type: 'string' },
          },
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': {
            description: 'text/event-stream; every frame’s `data:` is JSON with `type` and `runId`',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          '400': error('malformed `lastEventId`'),
          ...withRun,
        },
      },
    },
    '/events/stream-token': {
      post: {
        operationId: 'createFeedStreamToken',
        summary: 'A short-lived token that opens this workspace’s feed (`GET /events`)',
        responses: { '200': ok('the token', 'StreamToken'), ...common },
      },
    },
    '/events': {
      get: {
        operationId: 'streamWorkspaceEvents',
        summary:
          'The workspace feed (Server-Sent Events): a snapshot, then a `run` frame per run created, status change, progress (≤ 2/s a run) and done',
        security: [{ streamToken: [] }, { bearer: [] }],
        parameters: [
          {
            name: 'tag',
            in: 'query',
            required: false,
            description: 'Only runs carrying this tag (repeatable: every one).',
            schema: { type: 'string', pattern: '^[a-z0-9._:-]{1,64}$' },
          },
          {
            name: 'lastEventId',
            in: 'query',
            required: false,
            description: 'Resume after this SSE id (or send the `Last-Event-ID` header).',
            schema: { type: 'string' },
          },
          { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description:
              'text/event-stream; `data:` is `{type: "snapshot", recovered?}` first, then `{type: "run", runId, change, run}`',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          '400': error('malformed `tag` or `lastEventId`'),
          '429': error('too many open feed streams'),
          ...common,
        },
      },
    },
  };
}

/** The whole document; the app builds it once at start (the schemas never change). */
export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: '@x run backplane API',
      version: '1',
      description:
        'Long sharded runs: create, list, abort, and watch their events live. Every error is `{error: {code, message, details?}}`.',
    },
    servers: [{ url: '/api/v1' }],
    security: [{ bearer: [] }],
    paths: paths(),
    components: {
      schemas: components(),
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'A token of `API_TOKENS`; it sees only its workspace.',
        },
        streamToken: {
          type: 'apiKey',
          in: 'query',
          name: 'st',
          description:
            'A token from `POST /runs/{id}/stream-token` (this run only) or `POST /events/stream-token` (the workspace feed only).',
        },
      },
    },
  };
}
