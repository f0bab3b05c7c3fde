import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A package whose API the document shows. */
export interface PublishedPackage {
  name: string;
  /** Its entry declaration file, from `exports["."].types` (or `types`), e.g. `dist/index.d.ts`. */
  types: string;
}

interface Manifest {
  name: string;
  private?: boolean;
  types?: string;
  exports?: { '.'?: { types?: string } };
}

/** Every non-private package under `packages/`, in directory order. */
export function publishedPackages(root: string): PublishedPackage[] {
  const dir = join(root, 'packages');
  return readdirSync(dir)
    .sort()
    .filter((name) => existsSync(join(dir, name, 'package.json')))
    .map((name) => {
      const manifest = JSON.parse(
        readFileSync(join(dir, name, 'package.json'), 'utf8'),
      ) as Manifest;
      const types = manifest.exports?.['.']?.types ?? manifest.types ?? './dist/index.d.ts';
      return { manifest, types: join(dir, name, types) };
    })
    .filter(({ manifest }) => manifest.private !== true)
    .map(({ manifest, types }) => ({ name: manifest.name, types }));
}
