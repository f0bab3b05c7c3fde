/**
 * `pnpm docs:api`: rewrites the generated blocks of docs/internal-api.md in place.
 * `--check` only reports a drift (exit code 1), for CI steps outside vitest.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_DOC, apiDocDrift, REPO_ROOT, renderApiDoc } from './generate.js';

if (process.argv.includes('--check')) {
  const drift = apiDocDrift();
  if (drift) {
    console.error(drift);
    process.exitCode = 1;
  }
} else {
  const { current, expected } = renderApiDoc();
  if (current === expected) console.log(`${API_DOC} is up to date`);
  else {
    writeFileSync(join(REPO_ROOT, API_DOC), expected);
    console.log(`${API_DOC} regenerated`);
  }
}
