import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectExports } from '../src/collect-exports.js';
import { firstSentence } from '../src/first-sentence.js';
import { parseModule } from '../src/parse-module.js';
import { renderEntries } from '../src/render.js';
import { abbreviate, oneLine, splitStatements } from '../src/scan.js';

const fixture = fileURLToPath(new URL('./fixtures/pkg/index.d.ts', import.meta.url));

describe('the rendered API of a fixture package', () => {
  const rendered = renderEntries(collectExports(fixture)).split('\n');

  it('renders an interface with its members: properties packed, a method a line', () => {
    expect(rendered.slice(0, 5)).toEqual([
      "// Options of `open`, e.g. `{ url: 'x' }`.",
      'interface Options {',
      "  url?: string; retries?: number; logger?: Logger; onState?: (state: 'up' | 'down') => void;",
      '  connect(opts?: { signal?: AbortSignal }): Promise<void>;',
      '}',
    ]);
  });

  it('renders each overload of a function, a destructured parameter by its type', () => {
    expect(rendered.slice(5, 8)).toEqual([
      '// Opens a connection.',
      'function open(opts: Options): Promise<void>;',
      'function open(url: string): Promise<void>;',
    ]);
  });

  it('renders a const, a union type alias and a template literal type on one line each', () => {
    expect(rendered.slice(8, 14)).toEqual([
      '// The wire version (see open).',
      'const VERSION = 2;',
      '// A shape: a circle or a square!',
      "type Shape = { kind: 'circle'; r: number } | { kind: 'square'; side: number };",
      '// Names of the `{param}` placeholders in a template.',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source text, not a template
      'type ParamsOf<N extends string> = N extends `${string}{${infer P}}${infer Rest}` ? P | ParamsOf<Rest> : never;',
    ]);
  });

  it('follows `export *` and a local `export { }` list, and leaves unexported names out', () => {
    expect(rendered.slice(14, 18)).toEqual([
      '',
      'const shapeSchema: {',
      "  readonly circle: Schema<{…}, 'strict'>; readonly square: Schema<{…}, 'strict'>;",
      '};',
    ]);
    expect(rendered.join('\n')).not.toContain('Internal');
  });

  it('renders a class without its private members, under the name it is re-exported as', () => {
    expect(rendered.slice(18, 26)).toEqual([
      '',
      '// The store.',
      'class Repository<T> {',
      '  readonly name = "store";',
      '  constructor(db: unknown);',
      '  get(id: string): T | undefined;',
      '  static open(): Store<unknown>;',
      '}',
    ]);
    expect(rendered[26]).toBe('class StoreError extends Error { readonly code: StoreErrorCode }');
  });

  it("lists another package's names on one line instead of repeating them", () => {
    expect(rendered.slice(27)).toEqual([
      '// from @x/dep: RunStatus as Status, RUN_STATUSES as STATUSES, isTerminal as isFinal',
    ]);
  });
});

describe('collectExports', () => {
  it('fails, naming the file, when a re-exported name does not exist', () => {
    const files: Record<string, string> = {
      '/p/index.d.ts': "export { missing } from './a.js';",
      '/p/a.d.ts': 'export declare const present: number;',
    };
    expect(() => collectExports('/p/index.d.ts', (path) => files[path]!)).toThrow(
      /\/p\/index\.d\.ts re-exports missing, which \.\/a\.js lacks/,
    );
  });
});

describe('parseModule', () => {
  it('refuses an export form it cannot render instead of dropping it', () => {
    expect(() => parseModule('export default function f(): void;', 'x.d.ts')).toThrow(
      /cannot read this export in x\.d\.ts: export default function f\(\): void;/,
    );
    expect(() => parseModule("export * as ns from './ns.js';", 'x.d.ts')).toThrow(/x\.d\.ts/);
  });
});

describe('firstSentence', () => {
  it('stops at the first sentence end outside backticks and abbreviations', () => {
    expect(firstSentence('/** Calls `a.b()`. Then more. */')).toBe('Calls `a.b()`.');
    expect(firstSentence('/**\n * Waits (e.g. for a reply), i.e. blocks.\n * More.\n */')).toBe(
      'Waits (e.g. for a reply), i.e. blocks.',
    );
  });

  it('never runs past the first paragraph, a block tag or a list', () => {
    expect(firstSentence('/**\n * No period here\n *\n * Second paragraph.\n */')).toBe(
      'No period here',
    );
    expect(firstSentence('/**\n * Worst case:\n * - one hop;\n * - two hops.\n */')).toBe(
      'Worst case:',
    );
    expect(firstSentence('/**\n * - `a`: first item.\n * - `b`: second.\n */')).toBe(
      '`a`: first item.',
    );
    expect(firstSentence('/**\n * @example\n * f();\n */')).toBeUndefined();
  });
});

describe('scanner', () => {
  it('does not end a statement at a brace or semicolon inside a string, template or comment', () => {
    const chunks = splitStatements(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source text, not a template
      "export type A = `${'}'};`;\n/** doc; } */\nexport interface B {\n    a: '};';\n}\nexport declare const c: 1;",
    );
    expect(chunks.map((c) => c.text.split('\n')[0])).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source text, not a template
      "export type A = `${'}'};`;",
      'export interface B {',
      'export declare const c: 1;',
    ]);
    expect(chunks[1]!.doc).toBe('/** doc; } */');
  });

  it("puts tsc's multi-line output on one line", () => {
    expect(oneLine("readonly [\n/** first */\n'a', \n'b']")).toBe("readonly ['a', 'b']");
    expect(oneLine('f(opts?: {\n    signal?: AbortSignal;\n}): void')).toBe(
      'f(opts?: { signal?: AbortSignal }): void',
    );
  });

  it('elides the deepest groups first, keeps a flat top-level tuple, and leaves `=>` alone', () => {
    const line = 'const s: Obj<{ a: Enum<{ x: "x"; y: "y" }>; b: Num }, Strict>;';
    expect(abbreviate(line, 80)).toBe(line);
    expect(abbreviate(line, 50)).toBe('const s: Obj<{ a: Enum<{…}>; b: Num }, Strict>;');
    expect(abbreviate(line, 46)).toBe('const s: Obj<{ a: Enum<…>; b: Num }, Strict>;');
    expect(abbreviate(line, 30)).toBe('const s: Obj<{…}, Strict>;');
    expect(abbreviate(line, 10)).toBe('const s: Obj<…>;');
    expect(abbreviate("const T: readonly ['a', 'b', 'c'];", 10)).toBe(
      "const T: readonly ['a', 'b', 'c'];",
    );
    expect(abbreviate('const f: (a: A<{ b: 1 }>) => B<{ c: 2 }>;', 30)).toBe(
      'const f: (a: A<…>) => B<{…}>;',
    );
  });
});
