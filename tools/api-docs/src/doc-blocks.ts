/** The markers around a package's generated block in the document. */
export function markers(pkg: string): { start: string; end: string } {
  return { start: `<!-- api:${pkg}:start -->`, end: `<!-- api:${pkg}:end -->` };
}

const ANY_START = /<!-- api:(\S+):start -->/g;

/**
 * Replaces the text between each package's markers with its block, as a fenced `ts` code
 * block; the prose around the markers is kept as written. Throws when a package has no
 * markers, or the document has markers for a package that is not given (renamed or gone).
 */
export function replaceBlocks(markdown: string, blocks: ReadonlyMap<string, string>): string {
  const unknown = [...markdown.matchAll(ANY_START)]
    .map((m) => m[1]!)
    .filter((pkg) => !blocks.has(pkg));
  if (unknown.length > 0) {
    throw new Error(
      `api-docs: the document has blocks for unknown packages: ${unknown.join(', ')}`,
    );
  }
  let out = markdown;
  for (const [pkg, body] of blocks) {
    const { start, end } = markers(pkg);
    const from = out.indexOf(start);
    const to = out.indexOf(end, from);
    if (from === -1 || to === -1) {
      throw new Error(`api-docs: the document has no block for ${pkg}: add the lines
${start}
${end}
under its heading, then run \`pnpm docs:api\``);
    }
    out = `${out.slice(0, from + start.length)}\n\`\`\`ts\n${body}\n\`\`\`\n${out.slice(to)}`;
  }
  return out;
}

/**
 * Where two texts first differ, as a short report: the line number and a few lines of each
 * from there. undefined when they are equal.
 */
export function firstDifference(expected: string, actual: string, context = 4): string | undefined {
  if (expected === actual) return undefined;
  const want = expected.split('\n');
  const have = actual.split('\n');
  let line = 0;
  while (line < want.length && line < have.length && want[line] === have[line]) line++;
  const show = (lines: string[], sign: string) =>
    lines.slice(line, line + context).map((text) => `${sign} ${text}`);
  return [`first difference at line ${line + 1}:`, ...show(have, '-'), ...show(want, '+')].join(
    '\n',
  );
}
