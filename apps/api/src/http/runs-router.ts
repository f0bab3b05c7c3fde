import {
  bulkAbortSchema,
  createRunSchema,
  listRunsQuerySchema,
  resultsQuerySchema,
} from '@x/protocol';
import { type Request, Router } from 'express';
import type { StreamTokenSigner } from '../auth/stream-token.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import { ApiError, notFound } from './api-error.js';
import type { ApiServices } from './api-services.js';
import { bulkAbort } from './bulk-abort.js';
import { bodyFingerprint, IDEMPOTENCY_HEADER, idempotencyKeyOf } from './idempotency-key.js';
import { outboundIssues } from './outbound-issues.js';
import { workspaceOf } from './request-context.js';
import { toResultDto, toRunDto } from './run-dto.js';
import { runIdParam } from './run-id-param.js';
import { createRunOwners } from './run-owners.js';
import { fieldError, issuesToApiError, parseOrThrow } from './validation.js';

const DEFAULT_SHARDS = 4;

export function runsRouter(
  services: ApiServices,
  signer: StreamTokenSigner,
  metrics: ApiMetrics,
): Router {
  const router = Router();
  const owners = createRunOwners();

  const runIdOf = runIdParam;
  const loadRun = async (req: Request) => {
    const run = await services.store.getRun(workspaceOf(req), runIdOf(req));
    if (!run) throw notFound();
    owners.remember(run.id, run.workspaceId);
    return run;
  };

  router.post('/runs', async (req, res) => {
    const key = idempotencyKeyOf(req);
    if (req.body === undefined)
      throw fieldError('body', 'request body is required (application/json)');
    const body = parseOrThrow(createRunSchema, req.body, 'body');
    const refusal = body.callbackUrl ? services.callbackRefusal(workspaceOf(req)) : null;
    if (refusal) throw fieldError('callbackUrl', refusal);
    const issues = await outboundIssues(body, services);
    if (issues.length) throw issuesToApiError(issues, 'body');
    const input = {
      workspaceId: workspaceOf(req),
      executor: body.executor,
      name: body.name ?? null,
      callbackUrl: body.callbackUrl ?? null,
      tags: body.tags ?? [],
      metadata: body.metadata ?? null,
      tests: body.tests,
      shards: body.shards ?? Math.min(DEFAULT_SHARDS, body.tests.length),
    };
    if (key === undefined) {
      const run = await services.createRun(input);
      owners.remember(run.id, run.workspaceId);
      services.runCreated(run);
      metrics.runsCreated.inc({ executor: body.executor });
      res.status(201).json({ run: toRunDto(run) });
      return;
    }
    const created = await services.createRunOnce(input, {
      key,
      requestHash: bodyFingerprint(req.body),
    });
    metrics.idempotentCreates.inc({ result: created.outcome });
    if (created.outcome === 'key_reused') {
      throw new ApiError(
        'idempotency_key_reused',
        `${IDEMPOTENCY_HEADER} was already used with another request body`,
        { header: IDEMPOTENCY_HEADER },
      );
    }
    const { run } = created;
    owners.remember(run.id, run.workspaceId);
    if (created.outcome === 'replayed') {
      res
        .status(200)
        .set('idempotent-replayed', 'true')
        .json({ run: toRunDto(run) });
      return;
    }
    metrics.runsCreated.inc({ executor: body.executor });
    services.runCreated(run);
    res.status(201).json({ run: toRunDto(run) });
  });

  router.get('/runs', async (req, res) => {
    const q = parseOrThrow(listRunsQuerySchema, req.query, 'query');
    const page = await services.store.listRuns(workspaceOf(req), {
      limit: q.limit,
      status: q.status,
      tags: q.tag,
      ...(q.createdAfter ? { createdAfter: new Date(q.createdAfter) } : {}),
      ...(q.createdBefore ? { createdBefore: new Date(q.createdBefore) } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    res.json({ runs: page.runs.map(toRunDto), nextCursor: page.nextCursor });
  });

  // Before `/runs/:id/abort` reads `abort` as… it cannot: that route has two segments. Kept
  // here, next to the list whose filters it shares.
  router.post('/runs/abort', async (req, res) => {
    if (req.body === undefined)
      throw fieldError('body', 'request body is required (application/json)');
    const filter = parseOrThrow(bulkAbortSchema, req.body, 'body');
    const { aborted } = await bulkAbort(services, workspaceOf(req), filter);
    metrics.bulkAborts.inc();
    metrics.bulkAbortedRuns.inc(aborted);
    res.status(202).json({ aborted });
  });

  router.get('/runs/:id', async (req, res) => {
    res.json({ run: toRunDto(await loadRun(req)) });
  });

  router.get('/runs/:id/results', async (req, res) => {
    const run = await loadRun(req);
    const q = parseOrThrow(resultsQuerySchema, req.query, 'query');
    const page = await services.store.getResults(workspaceOf(req), run.id, {
      limit: q.limit,
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    if (!page) throw notFound();
    res.json({ results: page.results.map(toResultDto), nextCursor: page.nextCursor });
  });

  router.post('/runs/:id/abort', async (req, res) => {
    const runId = runIdOf(req);
    const workspace = workspaceOf(req);
    // A run this replica has seen needs no read before the write: its owner cannot change.
    // Otherwise read it, which also answers 404 for another workspace's run. A finished run
    // is refused by the abort's first-writer-wins write, not by a status read here.
    if (owners.get(runId) !== workspace) await loadRun(req);
    const outcome = await services.abortRun(runId, { requestedBy: workspace });
    if (!outcome) throw notFound();
    const { won, run } = outcome;
    if (run.status !== 'aborted') {
      metrics.abortsRequested.inc({ result: 'conflict' });
      throw new ApiError('conflict', `run already ${run.status}`, { status: run.status });
    }
    metrics.abortsRequested.inc({ result: won ? 'aborted' : 'already_aborted' });
    // The run as the write returned it (or as the first abort left it): no read after.
    res.status(202).json({ run: toRunDto(run) });
  });

  router.post('/runs/:id/stream-token', async (req, res) => {
    const run = await loadRun(req);
    const { token, expiresAt } = signer.sign(run.id, workspaceOf(req));
    res.json({ token, expiresAt: expiresAt.toISOString() });
  });

  return router;
}
