/** Abbreviations whose period does not end a sentence. */
const ABBREVIATIONS = ['e.g.', 'i.e.', 'etc.', 'vs.', 'cf.'];

/**
 * The first sentence of a JSDoc comment, on one line: within the first paragraph (before a
 * blank line, a block tag such as `@example`, or a list), up to the first `.`, `!` or `?` that
 * is followed by a space or the end and is neither inside backticks nor part of an
 * abbreviation. `{@link X}` becomes `X`; a comment that opens with a list item gives that item.
 */
export function firstSentence(jsdoc: string): string | undefined {
  const lines = jsdoc
    .replace(/^\/\*\*/, '')
    .replace(/\*\/$/, '')
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trim());
  while (lines[0] === '') lines.shift();
  // The first paragraph: it ends at a blank line, a block tag or a list (which would run on).
  const end = lines.findIndex(
    (line, i) => line === '' || line.startsWith('@') || (i > 0 && /^(?:[-*]|\d+\.)\s/.test(line)),
  );
  const text = (end === -1 ? lines : lines.slice(0, end))
    .join(' ')
    .replace(/^(?:[-*]|\d+\.)\s+/, '')
    .replace(/\{@link(?:code|plain)?\s+([^}|\s]+)(?:[|\s][^}]*)?\}/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  if (text === '') return undefined;
  let code = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '`') code = !code;
    else if (!code && '.!?'.includes(c) && (i + 1 === text.length || text[i + 1] === ' ')) {
      const sentence = text.slice(0, i + 1);
      const word = sentence.slice(sentence.search(/[A-Za-z.]*$/));
      if (!ABBREVIATIONS.includes(word.toLowerCase())) {
        return sentence;
      }
    }
  }
  return text;
}
