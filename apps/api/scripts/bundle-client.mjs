// Bundles @x/client for the dashboard: one ES module, served as /client.js under the page's
// strict CSP (script-src 'self'). Run by `pnpm build` (after tsc) and before the api's tests.
//
// It bundles the client's TypeScript source, not its package: @x/client's tests start this
// api (a devDependency), so the api depending on @x/client would make a cycle in the build
// graph. apps/api/turbo.json lists the client's source among this build's inputs instead.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const entry = fileURLToPath(new URL('../../../packages/client/src/index.ts', import.meta.url));
export const CLIENT_BUNDLE = fileURLToPath(new URL('../dist/public/client.js', import.meta.url));

export async function bundleClient() {
  mkdirSync(fileURLToPath(new URL('../dist/public/', import.meta.url)), { recursive: true });
  await build({
    entryPoints: [entry],
    outfile: CLIENT_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await bundleClient();
