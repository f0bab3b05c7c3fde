import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

it('bundles for the browser from the published build, with nothing left external', async () => {
  // platform 'browser' resolves no `node:` module and no Node built-in: one such import, here
  // or in a dependency, fails the build.
  const result = await build({
    entryPoints: [`${dist}index.js`],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const inputs = Object.keys(result.metafile.inputs);
  expect(inputs.some((p) => p.includes('eventsource-parser'))).toBe(true);
  // The event union comes from @x/protocol as types only: its zod schemas stay out.
  expect(inputs.filter((p) => p.includes('zod'))).toEqual([]);
  const code = result.outputFiles[0]!.text;
  expect(code).not.toMatch(/\bprocess\.|\bBuffer\b|["']node:/);
});

it('the build has no Node-only reference in any file', () => {
  const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.js'),
  );
  expect(files.length).toBeGreaterThan(5);
  for (const file of files) {
    const text = readFileSync(`${dist}${file}`, 'utf8');
    expect(text, file).not.toMatch(/\bprocess\.|\bBuffer\b|["']node:/);
  }
});
