import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstDifference, replaceBlocks } from '../src/doc-blocks.js';
import { apiDocDrift, REPO_ROOT, renderApiDoc, renderPackages } from '../src/generate.js';
import { publishedPackages } from '../src/packages.js';

/**
 * The drift check: docs/internal-api.md must show every published package's API exactly as
 * its declaration files (built by turbo's `^build` before this test) state it.
 */
describe('docs/internal-api.md', () => {
  it('matches the declarations of every published package (else: run `pnpm docs:api`)', () => {
    const drift = apiDocDrift();
    if (drift !== undefined) expect.fail(drift);
  });

  it('is checked against every published package, each built before this test', () => {
    const manifest = JSON.parse(
      readFileSync(join(REPO_ROOT, 'tools/api-docs/package.json'), 'utf8'),
    ) as { devDependencies: Record<string, string> };
    const names = publishedPackages(REPO_ROOT).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['@x/pubsub-core', '@x/run-store']));
    // turbo builds a package before this test only when it is a dependency of this one.
    const missing = names.filter((name) => manifest.devDependencies[name] !== 'workspace:*');
    expect(missing, 'add these to tools/api-docs devDependencies as "workspace:*"').toEqual([]);
    expect([...renderPackages().keys()]).toEqual(names);
  });

  it('catches a signature the code has changed, and regenerating fixes it', () => {
    const { expected } = renderApiDoc();
    const real = '  publish(payload: P): boolean;';
    expect(expected).toContain(real);
    const stale = expected.replace(real, '  publish(payload: P): void;');
    const line = expected.split('\n').indexOf(real) + 1;
    expect(firstDifference(expected, stale)).toMatch(
      new RegExp(`^first difference at line ${line}:\\n- {3}publish\\(payload: P\\): void;`),
    );
    expect(replaceBlocks(stale, renderPackages())).toBe(expected);
  });
});
