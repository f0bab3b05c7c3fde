import { describe, expect, it } from 'vitest';
import { firstDifference, replaceBlocks } from '../src/doc-blocks.js';

const doc = [
  '# Title',
  '',
  'Prose about a.',
  '<!-- api:@x/a:start -->',
  '```ts',
  'stale();',
  '```',
  '<!-- api:@x/a:end -->',
  'More prose.',
].join('\n');

describe('replaceBlocks', () => {
  it('replaces what is between the markers and keeps the prose', () => {
    const out = replaceBlocks(doc, new Map([['@x/a', 'fresh(): void;']]));
    expect(out.split('\n')).toEqual([
      '# Title',
      '',
      'Prose about a.',
      '<!-- api:@x/a:start -->',
      '```ts',
      'fresh(): void;',
      '```',
      '<!-- api:@x/a:end -->',
      'More prose.',
    ]);
    expect(replaceBlocks(out, new Map([['@x/a', 'fresh(): void;']]))).toBe(out);
  });

  it('fails for a package without markers, saying what to add', () => {
    expect(() =>
      replaceBlocks(
        doc,
        new Map([
          ['@x/a', ''],
          ['@x/b', ''],
        ]),
      ),
    ).toThrow(
      /no block for @x\/b: add the lines\n<!-- api:@x\/b:start -->\n<!-- api:@x\/b:end -->/,
    );
  });

  it('fails for markers of a package that is not published any more', () => {
    expect(() => replaceBlocks(doc, new Map())).toThrow(/blocks for unknown packages: @x\/a/);
  });
});

describe('firstDifference', () => {
  it('names the first differing line and shows both versions from there', () => {
    expect(firstDifference('a\nb\nc', 'a\nb\nc')).toBeUndefined();
    expect(firstDifference('a\nnew\nc', 'a\nold\nc', 2)).toBe(
      ['first difference at line 2:', '- old', '- c', '+ new', '+ c'].join('\n'),
    );
  });
});
