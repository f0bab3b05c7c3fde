import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import { rowToRun } from './row-mapping.js';
import { RunStoreError } from './run-store-error.js';
import type { Database } from './schema.js';
import { createRunSql, deleteIdempotencyKeysSql, keyedRunSql } from './sql/create-run.js';
import {
  IDEMPOTENCY_KEY_EXPIRY_MS,
  IDEMPOTENCY_KEY_MIN_AGE_MS,
  type IdempotentCreate,
} from './types/idempotent-create.js';
import { invalid, requireText } from './validate.js';
import { validateCreateRun } from './validate-input.js';

/**
 * Attempts of create-then-read: the read after a lost claim finds no key only if the key's
 * run was deleted (retention) or the key expired in between; then the key is free again.
 */
const ATTEMPTS = 3;

export function idempotentCreate(db: Kysely<Database>): IdempotentCreate {
  return {
    createRunOnce: (input, idempotency) =>
      guarded('createRunOnce', async () => {
        const params = validateCreateRun(input);
        const key = requireText('idempotency.key', idempotency?.key, 255);
        const requestHash = requireText('idempotency.requestHash', idempotency?.requestHash, 200);
        const runId = params.id ?? randomUUID();
        for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
          const row = await createRunSql(db, params, {
            runId,
            key,
            requestHash,
            expireAfterMs: IDEMPOTENCY_KEY_EXPIRY_MS,
          });
          if (row) return { outcome: 'created', run: rowToRun(row) };
          const keyed = await keyedRunSql(db, params.workspaceId, key);
          if (!keyed) continue;
          if (keyed.request_hash !== requestHash) return { outcome: 'key_reused', runId: keyed.id };
          const { request_hash: _, ...run } = keyed;
          return { outcome: 'replayed', run: rowToRun(run) };
        }
        throw new RunStoreError(
          'internal',
          `createRunOnce: key ${JSON.stringify(key)} neither claimed nor found in ${ATTEMPTS} attempts`,
        );
      }),

    deleteIdempotencyKeys: (olderThanMs = IDEMPOTENCY_KEY_EXPIRY_MS) =>
      guarded('deleteIdempotencyKeys', async () => {
        if (!Number.isInteger(olderThanMs) || olderThanMs < IDEMPOTENCY_KEY_MIN_AGE_MS)
          throw invalid('olderThanMs', `must be an integer >= ${IDEMPOTENCY_KEY_MIN_AGE_MS}`);
        return deleteIdempotencyKeysSql(db, olderThanMs);
      }),
  };
}
