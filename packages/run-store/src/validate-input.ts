import {
  isRunStatus,
  isTag,
  MAX_METADATA_BYTES,
  MAX_TAGS,
  RESULT_STATUSES,
  type RunStatus,
} from '@x/protocol';
import type { CreateRunParams } from './sql/create-run.js';
import type { RunFilter } from './sql/read-runs.js';
import type { NewResult, ShardStats } from './types/run.js';
import type { CreateRunInput, ListRunsQuery } from './types/run-queries.js';
import { invalid, isUuid, optionalText, requireCount, requireText } from './validate.js';

/** Limits that keep one run (and one statement) a sane size. */
export const LIMITS = {
  shards: 1_000,
  testsPerRun: 100_000,
  testId: 500,
  name: 1_000,
  error: 10_000,
  url: 2_048,
  resultsPerBatch: 10_000,
} as const;

export function validateCreateRun(input: CreateRunInput): CreateRunParams {
  if (typeof input !== 'object' || input === null) throw invalid('input', 'must be an object');
  if (input.id !== undefined && !isUuid(input.id)) throw invalid('id', 'must be a UUID');
  const workspaceId = requireText('workspaceId', input.workspaceId, 200);
  const executor = requireText('executor', input.executor, 100);
  const name = optionalText('name', input.name, LIMITS.name);
  const callbackUrl = optionalText('callbackUrl', input.callbackUrl, LIMITS.url);
  if (
    !Array.isArray(input.shards) ||
    input.shards.length === 0 ||
    input.shards.length > LIMITS.shards
  ) {
    throw invalid('shards', `must be an array of 1 to ${LIMITS.shards} shards`);
  }
  const seen = new Set<string>();
  // Each shard as the statement's jsonb element, `{"t": test ids, "p": payload}`: the payload
  // is stringified once, by the check that it is JSON, not again for the statement.
  const shardJsons = input.shards.map((shard, i) => {
    const testIds: unknown = shard?.testIds;
    const payload: unknown = shard?.payload;
    const payloadJson = payload === undefined ? 'null' : jsonOf(payload);
    if (payloadJson === undefined) throw invalid(`shards[${i}].payload`, 'must be a JSON value');
    if (!Array.isArray(testIds)) throw invalid(`shards[${i}].testIds`, 'must be an array');
    for (const id of testIds) {
      requireText(`shards[${i}].testIds[]`, id, LIMITS.testId);
      if (seen.has(id))
        throw invalid(`shards[${i}].testIds`, `repeats test id ${JSON.stringify(id)}`);
      seen.add(id);
    }
    return `{"t":${JSON.stringify(testIds)},"p":${payloadJson}}`;
  });
  if (seen.size > LIMITS.testsPerRun)
    throw invalid('shards', `must hold at most ${LIMITS.testsPerRun} tests`);
  return {
    id: input.id ?? null,
    workspaceId,
    executor,
    name,
    callbackUrl,
    tags: validateTags('tags', input.tags ?? [], MAX_TAGS),
    metadataJson: validateMetadata(input.metadata),
    shardCount: shardJsons.length,
    shardsJson: `[${shardJsons.join(',')}]`,
    total: seen.size,
  };
}

/** Distinct tags, each `[a-z0-9._:-]{1,64}`, at most `max`. */
export function validateTags(field: string, tags: unknown, max: number): string[] {
  if (!Array.isArray(tags)) throw invalid(field, 'must be an array of tags');
  if (tags.length > max) throw invalid(field, `must list at most ${max} tags`);
  for (const tag of tags) {
    if (!isTag(tag)) throw invalid(field, `has an invalid tag ${JSON.stringify(tag)}`);
  }
  if (new Set(tags).size !== tags.length) throw invalid(field, 'must not repeat a tag');
  return tags as string[];
}

/** The metadata as the JSON text the statement stores (`{}` for none). */
function validateMetadata(metadata: unknown): string {
  if (metadata === undefined || metadata === null) return '{}';
  const json =
    typeof metadata === 'object' && !Array.isArray(metadata) ? jsonOf(metadata) : undefined;
  if (json === undefined) throw invalid('metadata', 'must be a JSON object');
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES)
    throw invalid('metadata', `must be at most ${MAX_METADATA_BYTES} bytes as JSON`);
  return json;
}

/** `value` as JSON text, or undefined when it is none (a function, a cycle, a BigInt). */
function jsonOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    // A cycle or a BigInt: not storable as jsonb.
    return undefined;
  }
}

export function validateStats(stats: ShardStats): ShardStats {
  if (typeof stats !== 'object' || stats === null) throw invalid('stats', 'must be an object');
  return {
    passed: requireCount('stats.passed', stats.passed),
    failed: requireCount('stats.failed', stats.failed),
    skipped: requireCount('stats.skipped', stats.skipped),
  };
}

const resultStatuses: ReadonlySet<string> = new Set(RESULT_STATUSES);

export function validateResults(results: readonly NewResult[]): NewResult[] {
  if (!Array.isArray(results)) throw invalid('results', 'must be an array');
  if (results.length > LIMITS.resultsPerBatch) {
    throw invalid('results', `must hold at most ${LIMITS.resultsPerBatch} entries per batch`);
  }
  const seen = new Set<string>();
  return results.map((r, i) => {
    const at = `results[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(at, 'must be an object');
    const testId = requireText(`${at}.testId`, r.testId, LIMITS.testId);
    const attempt = requireCount(`${at}.attempt`, r.attempt);
    const key = `${attempt}\u0000${testId}`;
    if (seen.has(key))
      throw invalid(at, `repeats test ${JSON.stringify(testId)} attempt ${attempt}`);
    seen.add(key);
    if (typeof r.status !== 'string' || !resultStatuses.has(r.status)) {
      throw invalid(`${at}.status`, `must be one of ${RESULT_STATUSES.join(', ')}`);
    }
    return {
      testId,
      name: requireText(`${at}.name`, r.name, LIMITS.name),
      status: r.status,
      durationMs: requireCount(`${at}.durationMs`, r.durationMs),
      error: optionalText(`${at}.error`, r.error, LIMITS.error),
      attempt,
    };
  });
}

export function validateStatuses(field: string, value: readonly unknown[]): RunStatus[] {
  if (!Array.isArray(value)) throw invalid(field, 'must be an array of statuses');
  return value.map((s) => {
    if (!isRunStatus(s)) throw invalid(field, `has unknown status ${JSON.stringify(s)}`);
    return s;
  });
}

/** The filters of `listRuns`, checked: statuses, tags, a valid time range. */
export function validateRunFilter(q: ListRunsQuery): RunFilter {
  const status = q.status;
  const statuses =
    status === undefined
      ? []
      : validateStatuses('status', Array.isArray(status) ? status : [status]);
  // A tag named twice filters the same as once.
  const tags = validateTags(
    'tags',
    Array.isArray(q.tags) ? [...new Set(q.tags)] : (q.tags ?? []),
    MAX_TAGS,
  );
  const instant = (field: string, value: unknown) => {
    if (value === undefined) return undefined;
    if (!(value instanceof Date) || Number.isNaN(+value))
      throw invalid(field, 'must be a valid Date');
    return value;
  };
  return {
    statuses: [...new Set(statuses)],
    tags,
    createdAfter: instant('createdAfter', q.createdAfter),
    createdBefore: instant('createdBefore', q.createdBefore),
  };
}
