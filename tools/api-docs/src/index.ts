export { collectExports, type ExportEntry, type ReadFile } from './collect-exports.js';
export { firstDifference, markers, replaceBlocks } from './doc-blocks.js';
export { firstSentence } from './first-sentence.js';
export { API_DOC, apiDocDrift, REPO_ROOT, renderApiDoc, renderPackages } from './generate.js';
export { type PublishedPackage, publishedPackages } from './packages.js';
export {
  type Declaration,
  type DeclarationKind,
  parseModule,
  type Statement,
} from './parse-module.js';
export { LINE_WIDTH, renderEntries } from './render.js';
export { abbreviate, type Chunk, oneLine, splitStatements } from './scan.js';
