import type { ExportEntry } from './collect-exports.js';
import { firstSentence } from './first-sentence.js';
import type { Declaration } from './parse-module.js';
import { abbreviate, oneLine, skipLiteral, splitStatements } from './scan.js';

/** Lines longer than this get abbreviated where the detail is noise (a const's inferred type). */
export const LINE_WIDTH = 100;

/**
 * The public API of one package as a TypeScript sketch: each export on one line (interfaces
 * and classes with their members, see renderBlock), preceded by the first sentence of its
 * JSDoc as a `//` comment. Names another package declares are listed once, as
 * `// from @x/other: a, b`.
 */
export function renderEntries(entries: readonly ExportEntry[]): string {
  // Each item is a declaration's lines, or the package a run of names comes from; a package's
  // names are gathered on one list, shown where its first name was.
  const items: (string[] | { from: string })[] = [];
  const externals = new Map<string, string[]>();
  for (const entry of entries) {
    if (entry.kind === 'declared') items.push(renderDeclared(entry.name, entry.declarations));
    else {
      const name = entry.source === entry.name ? entry.name : `${entry.source} as ${entry.name}`;
      const names = externals.get(entry.from);
      if (names) names.push(name);
      else {
        externals.set(entry.from, [name]);
        items.push({ from: entry.from });
      }
    }
  }
  const lines: string[] = [];
  for (const item of items) {
    if (!Array.isArray(item)) {
      lines.push(...wrapList(`// from ${item.from}:`, externals.get(item.from)!));
      continue;
    }
    // A multi-line block (an interface, a class) gets a blank line before it.
    const multiLine = item.some((line) => line.startsWith('  '));
    if (multiLine && lines.length > 0) lines.push('');
    lines.push(...item);
  }
  return lines.join('\n');
}

function wrapList(head: string, names: readonly string[]): string[] {
  const lines: string[] = [];
  let line = head;
  for (const [i, name] of names.entries()) {
    const item = `${name}${i < names.length - 1 ? ',' : ''}`;
    if (line.length + 1 + item.length > LINE_WIDTH && !line.endsWith(':')) {
      lines.push(line);
      line = `//   ${item}`;
    } else line += ` ${item}`;
  }
  lines.push(line);
  return lines;
}

function renderDeclared(name: string, declarations: readonly Declaration[]): string[] {
  const doc = declarations.find((d) => d.doc !== undefined)?.doc;
  const sentence = doc === undefined ? undefined : firstSentence(doc);
  const lines = sentence === undefined ? [] : [`// ${sentence}`];
  for (const declaration of declarations) lines.push(...renderDeclaration(name, declaration));
  return lines;
}

function renderDeclaration(name: string, declaration: Declaration): string[] {
  const line = rename(stripModifiers(oneLine(declaration.text)), declaration, name);
  switch (declaration.kind) {
    case 'interface':
    case 'class':
      return renderBlock(line, declaration.kind === 'class');
    case 'const':
    case 'let':
    case 'var':
      // An object-typed const is a table (error code → status) or a map of schemas: a block.
      if (line.length > LINE_WIDTH && objectBody(line)) {
        return renderBlock(line, false, LINE_WIDTH / 2);
      }
      return [abbreviate(line, LINE_WIDTH)];
    case 'function':
      // tsc keeps a destructured parameter's pattern; callers only see its type.
      return [line.replace(/([(,]\s*)\{[\w$,\s]*\}(\??:)/g, '$1opts$2')];
    case 'type':
      return line.length > LINE_WIDTH && objectBody(line) ? renderBlock(line, false) : [line];
    default:
      return [line];
  }
}

/** `export declare abstract class X` → `abstract class X`: every line in the block is exported. */
function stripModifiers(line: string): string {
  return line.replace(/^export\s+/, '').replace(/^declare\s+/, '');
}

/** Shows a name re-exported under another name (`export { a as b }`) as the name users see. */
function rename(line: string, declaration: Declaration, name: string): string {
  if (name === declaration.name) return line;
  const keyword = new RegExp(`\\b(${declaration.kind}\\s+)${declaration.name}\\b`);
  return line.replace(keyword, `$1${name}`);
}

/**
 * `interface X<T> extends Y { a: string; b(): void }` → on one line when it fits; otherwise the
 * header, the members, `}`. Methods get a line each; plain properties are packed several to a
 * line (a metrics or options bag would take a screen otherwise). A class's private members are
 * left out (tsc writes them as `private x;` and `#private;`). `memberWidth` abbreviates each
 * member (for a const's inferred type).
 */
function renderBlock(line: string, isClass: boolean, memberWidth = Number.POSITIVE_INFINITY) {
  const body = objectBody(line);
  if (!body) return [line];
  const members = splitStatements(line.slice(body.open + 1, body.close))
    .map((member) => abbreviate(oneLine(member.text).replace(/;$/, ''), memberWidth))
    .filter((member) => !isClass || !/^(?:private\s|#private)/.test(member))
    .map((member) => `${member};`);
  const header = line.slice(0, body.open).trimEnd();
  const tail = line.slice(body.close + 1);
  const flat = `${header} { ${members.join(' ').replace(/;$/, '')} }${tail}`;
  if (members.length === 0) return [`${header} {}${tail}`];
  if (flat.length <= LINE_WIDTH) return [flat];
  return [`${header} {`, ...packMembers(members), `}${tail}`];
}

/** A method, constructor, accessor or call signature: anything whose name is followed by `(`. */
const METHOD = /^(?:(?:readonly|static|abstract|protected|public|get|set|new)\s+)*[\w$]*\??\s*[(<]/;

function packMembers(members: readonly string[]): string[] {
  const lines: string[] = [];
  let line = '';
  for (const member of members) {
    if (METHOD.test(member)) {
      if (line !== '') lines.push(line);
      lines.push(`  ${member}`);
      line = '';
    } else if (line !== '' && line.length + 1 + member.length <= LINE_WIDTH) line += ` ${member}`;
    else {
      if (line !== '') lines.push(line);
      line = `  ${member}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/**
 * The outermost `{…}` that ends the line (an interface or class body, or a type alias's object
 * literal), or undefined when the line does not end with one (a union, a mapped type indexed
 * afterwards).
 */
function objectBody(line: string): { open: number; close: number } | undefined {
  const end = line.replace(/;$/, '').length - 1;
  let depth = 0;
  let open = -1;
  let i = 0;
  while (i < line.length) {
    const next = skipLiteral(line, i);
    if (next > i) {
      i = next;
      continue;
    }
    if (line[i] === '{' && depth++ === 0) open = i;
    else if (line[i] === '}' && --depth === 0 && i === end) {
      // A type alias's body must be its whole right-hand side, not the tail of a union.
      if (/^type\s/.test(line) && !line.slice(0, open).trimEnd().endsWith('=')) return undefined;
      return { open, close: i };
    }
    i++;
  }
  return undefined;
}
