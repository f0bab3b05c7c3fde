import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { collectExports } from './collect-exports.js';
import { firstDifference, replaceBlocks } from './doc-blocks.js';
import { publishedPackages } from './packages.js';
import { renderEntries } from './render.js';

/** The monorepo root (this file is `tools/api-docs/src/generate.ts`). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const API_DOC = 'docs/internal-api.md';

/** Each published package's rendered API, keyed by package name. */
export function renderPackages(root: string = REPO_ROOT): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const pkg of publishedPackages(root)) {
    let text: string;
    try {
      text = renderEntries(collectExports(pkg.types));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw err;
      throw new Error(
        `api-docs: ${pkg.name} has no declarations at ${pkg.types}; build it first: ` +
          'pnpm turbo run build --filter=@x/api-docs^...',
        { cause: err },
      );
    }
    blocks.set(pkg.name, text);
  }
  return blocks;
}

/** The document as it should read: its prose, with every package's block regenerated. */
export function renderApiDoc(root: string = REPO_ROOT): { current: string; expected: string } {
  const current = readFileSync(join(root, API_DOC), 'utf8');
  return { current, expected: replaceBlocks(current, renderPackages(root)) };
}

/** undefined when the document matches the declarations; otherwise what to do and where. */
export function apiDocDrift(root: string = REPO_ROOT): string | undefined {
  const { current, expected } = renderApiDoc(root);
  const diff = firstDifference(expected, current);
  if (diff === undefined) return undefined;
  return [
    `${API_DOC} does not match the packages' declarations; run \`pnpm docs:api\` and commit it.`,
    `(- the document, + what the declarations say) ${diff}`,
  ].join('\n');
}
