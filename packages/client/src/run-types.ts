import type {
  BulkAbortBody,
  CreateRunBody,
  DemoTest,
  HttpTest,
  ResultDto,
  RunDto,
} from '@x/protocol';

// Every wire shape is @x/protocol's, inferred from the zod schemas the api validates with and
// its OpenAPI document is generated from: client, api and document cannot drift apart.

/** A run as the API answers it (`GET /api/v1/runs/:id`); times are ISO 8601. */
export type Run = RunDto;

/** One test's result (`GET /api/v1/runs/:id/results`). */
export type Result = ResultDto;

export type { BulkAbortBody, CreateRunBody, DemoTest, HttpTest };

/** The methods an `http` test may use. */
export type HttpMethod = NonNullable<HttpTest['method']>;
