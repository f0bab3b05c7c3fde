/**
 * A small scanner for the declaration text tsc emits. It knows just enough TypeScript to find
 * where a statement or member ends: strings, template literal types (with `${}` nesting) and
 * comments are skipped whole, so a brace or semicolon inside them never counts.
 */

/** A top-level statement (or an interface/class member) and the JSDoc right before it. */
export interface Chunk {
  doc: string | undefined;
  text: string;
}

/** Index just past the string, template literal or comment starting at `i`; `i` if none does. */
export function skipLiteral(src: string, i: number): number {
  const c = src[i];
  if (c === "'" || c === '"') {
    let j = i + 1;
    while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  if (c === '`') return skipTemplate(src, i + 1);
  if (c === '/' && src[i + 1] === '/') {
    const eol = src.indexOf('\n', i);
    return eol === -1 ? src.length : eol;
  }
  if (c === '/' && src[i + 1] === '*') {
    const end = src.indexOf('*/', i + 2);
    return end === -1 ? src.length : end + 2;
  }
  return i;
}

function skipTemplate(src: string, i: number): number {
  let j = i;
  while (j < src.length) {
    if (src[j] === '\\') j += 2;
    else if (src[j] === '`') return j + 1;
    else if (src[j] === '$' && src[j + 1] === '{') j = skipToClosingBrace(src, j + 2);
    else j++;
  }
  return j;
}

/** From inside a `{`, the index just past its matching `}`. */
function skipToClosingBrace(src: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < src.length) {
    const next = skipLiteral(src, j);
    if (next > j) {
      j = next;
      continue;
    }
    if (src[j] === '{') depth++;
    else if (src[j] === '}' && depth-- === 0) return j + 1;
    j++;
  }
  return j;
}

/** A statement whose body `{…}` ends it with no `;` after (tsc writes none). */
const BLOCK_DECLARATION =
  /^(?:export\s+)?(?:declare\s+)?(?:abstract\s+)?(?:interface|class|enum|namespace|module)\s+[A-Za-z_$]/;

/**
 * Splits declaration text into statements: each ends at a `;` outside brackets, or at the
 * closing `}` of an interface, class, enum or namespace. Works for a file and for the body of
 * an interface or class (members end with `;` there). Line comments (the source-map comment)
 * are dropped; a JSDoc comment is attached to the statement that follows it.
 */
export function splitStatements(src: string): Chunk[] {
  const chunks: Chunk[] = [];
  let doc: string | undefined;
  let i = 0;
  while (i < src.length) {
    if (/\s/.test(src[i]!)) {
      i++;
      continue;
    }
    const comment = skipLiteral(src, i);
    if (comment > i && src[i] === '/') {
      if (src.startsWith('/**', i)) doc = src.slice(i, comment);
      i = comment;
      continue;
    }
    const end = statementEnd(src, i);
    chunks.push({ doc, text: src.slice(i, end) });
    doc = undefined;
    i = end;
  }
  return chunks;
}

function statementEnd(src: string, start: number): number {
  const block = BLOCK_DECLARATION.test(src.slice(start, start + 200));
  let depth = 0;
  let i = start;
  while (i < src.length) {
    const next = skipLiteral(src, i);
    if (next > i) {
      i = next;
      continue;
    }
    const c = src[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (c === '}' && depth === 0 && block) return i + 1;
    } else if (c === ';' && depth === 0) return i + 1;
    i++;
  }
  return src.length;
}

/**
 * The text on one line: comments removed, whitespace runs collapsed, and tsc's multi-line
 * punctuation tidied (`{ a: string; }` → `{ a: string }`, `[ 'x', ]` → `['x']`). Strings are
 * kept verbatim.
 */
export function oneLine(text: string): string {
  let out = '';
  let space = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = skipLiteral(text, i);
    if (next > i && c === '/') {
      space = true;
      i = next;
      continue;
    }
    if (/\s/.test(c)) {
      space = true;
      i++;
      continue;
    }
    const token = next > i ? text.slice(i, next) : c;
    if (c === '}' || c === ']' || c === ')') {
      out = out.trimEnd();
      if (out.endsWith(',') || (c === '}' && out.endsWith(';'))) out = out.slice(0, -1);
      if (c === '}' && !out.endsWith('{')) out += ' ';
    } else if (space && out !== '' && !/[([]$/.test(out)) out += ' ';
    out += token;
    space = false;
    i = next > i ? next : i + 1;
  }
  return out;
}

/**
 * Shortens a long line by eliding bracketed groups, deepest first (`z.ZodObject<{…}>`, then
 * `z.ZodObject<…>`), until it fits in `width` or only the outermost groups are left. A
 * top-level group with nothing nested in it (`readonly ['a', 'b']`) is never elided.
 */
export function abbreviate(line: string, width: number): string {
  if (line.length <= width) return line;
  const groups = bracketGroups(line);
  const maxDepth = Math.max(0, ...groups.map((g) => g.depth));
  let shortest = line;
  for (let depth = maxDepth; depth >= 1; depth--) {
    shortest = elide(line, groups, depth);
    if (shortest.length <= width) return shortest;
  }
  return shortest;
}

interface Group {
  open: number;
  close: number;
  depth: number;
}

function bracketGroups(line: string): Group[] {
  const groups: Group[] = [];
  const stack: number[] = [];
  let i = 0;
  while (i < line.length) {
    const next = skipLiteral(line, i);
    if (next > i) {
      i = next;
      continue;
    }
    const c = line[i]!;
    if ('<([{'.includes(c)) stack.push(i);
    else if (')]}'.includes(c) || (c === '>' && line[i - 1] !== '=')) {
      const open = stack.pop();
      if (open !== undefined) groups.push({ open, close: i, depth: stack.length + 1 });
    }
    i++;
  }
  return groups;
}

/** A top-level group with nothing nested (a tuple of literals, a table) is data: kept whole. */
function elide(line: string, groups: Group[], depth: number): string {
  const isLeaf = (g: Group) =>
    !groups.some((inner) => inner.open > g.open && inner.close < g.close);
  const cut = groups
    .filter((g) => g.depth === depth && g.close > g.open + 1 && !(depth === 1 && isLeaf(g)))
    .sort((a, b) => a.open - b.open);
  let out = '';
  let from = 0;
  for (const g of cut) {
    out += `${line.slice(from, g.open + 1)}…`;
    from = g.close;
  }
  return out + line.slice(from);
}
