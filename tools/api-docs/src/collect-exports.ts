import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Declaration, parseModule, type Statement } from './parse-module.js';

/** One name a module exports: declared in one of the package's files, or from another package. */
export type ExportEntry =
  | { kind: 'declared'; name: string; declarations: Declaration[] }
  /** `source` is the name in the package it comes from (`export { a as b }`: `a`). */
  | { kind: 'external'; name: string; from: string; source: string };

export type ReadFile = (path: string) => string;

/**
 * Follows a declaration file's exports, in order, through `export { … } from './x.js'`,
 * `export * from` and local `export { … }` lists, to the declarations themselves. Names
 * re-exported from another package (a bare specifier such as `@x/protocol`) are not followed:
 * they become `external` entries naming that package.
 */
export function collectExports(file: string, read: ReadFile = readText): ExportEntry[] {
  return new ModuleReader(read).exports(resolve(file));
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

class ModuleReader {
  private readonly done = new Map<string, ExportEntry[]>();
  private readonly reading = new Set<string>();

  constructor(private readonly read: ReadFile) {}

  exports(file: string): ExportEntry[] {
    const cached = this.done.get(file);
    if (cached) return cached;
    if (this.reading.has(file)) throw new Error(`api-docs: circular re-export through ${file}`);
    this.reading.add(file);
    const entries = this.readModule(file, parseModule(this.read(file), file));
    this.reading.delete(file);
    this.done.set(file, entries);
    return entries;
  }

  private readModule(file: string, statements: Statement[]): ExportEntry[] {
    const entries: ExportEntry[] = [];
    const local = new Map<string, Declaration[]>();
    const imports = new Map<string, { name: string; from: string }>();
    const add = (entry: ExportEntry) => {
      const last = entries.at(-1);
      if (last?.kind === 'declared' && entry.kind === 'declared' && last.name === entry.name) {
        last.declarations.push(...entry.declarations); // overloads
      } else entries.push(entry);
    };
    for (const statement of statements) {
      if (statement.kind === 'declaration') {
        const { declaration } = statement;
        local.set(declaration.name, [...(local.get(declaration.name) ?? []), declaration]);
        if (declaration.exported) {
          add({ kind: 'declared', name: declaration.name, declarations: [declaration] });
        }
      } else if (statement.kind === 'import') {
        for (const n of statement.names) imports.set(n.as, { name: n.name, from: statement.from });
      } else if (statement.kind === 'export-all') {
        if (isBare(statement.from)) {
          add({ kind: 'external', name: '*', from: statement.from, source: '*' });
        } else for (const entry of this.exports(target(file, statement.from))) add(entry);
      } else {
        for (const n of statement.names) {
          const source = statement.from ?? imports.get(n.name)?.from;
          const name = statement.from ? n.name : (imports.get(n.name)?.name ?? n.name);
          if (source === undefined) {
            const declarations = local.get(n.name);
            if (!declarations) throw new Error(`api-docs: ${file} exports unknown name ${n.name}`);
            add({ kind: 'declared', name: n.as, declarations });
          } else add(this.reexported(file, source, name, n.as));
        }
      }
    }
    return entries;
  }

  private reexported(file: string, from: string, name: string, as: string): ExportEntry {
    if (isBare(from)) return { kind: 'external', name: as, from, source: name };
    const entry = this.exports(target(file, from)).find((e) => e.name === name);
    if (!entry) throw new Error(`api-docs: ${file} re-exports ${name}, which ${from} lacks`);
    return { ...entry, name: as };
  }
}

function isBare(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('/');
}

/** `./x.js` → the `x.d.ts` next to `file` (tsc's output maps one-to-one). */
function target(file: string, specifier: string): string {
  const path = resolve(dirname(file), specifier);
  if (/\.m?js$/.test(path)) return path.replace(/\.(m?)js$/, '.d.$1ts');
  return path.endsWith('.d.ts') ? path : `${path}.d.ts`;
}
