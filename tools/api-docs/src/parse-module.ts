import { type Chunk, oneLine, splitStatements } from './scan.js';

export const DECLARATION_KINDS = [
  'function',
  'const',
  'let',
  'var',
  'class',
  'interface',
  'type',
  'enum',
  'namespace',
] as const;
export type DeclarationKind = (typeof DECLARATION_KINDS)[number];

/** One declaration statement (a function overload is one each). */
export interface Declaration {
  kind: DeclarationKind;
  name: string;
  exported: boolean;
  doc: string | undefined;
  /** The statement as tsc wrote it, comments and line breaks included. */
  text: string;
}

/** `name` as it is called in the module it comes from, `as` as this module exports it. */
export interface BindingName {
  name: string;
  as: string;
}

export type Statement =
  | { kind: 'declaration'; declaration: Declaration }
  /** `export { a, type B as C } from 'x'` (`from` set) or `export { a }` of local names. */
  | { kind: 'export'; names: BindingName[]; from: string | undefined }
  | { kind: 'export-all'; from: string }
  | { kind: 'import'; names: BindingName[]; from: string };

const DECLARATION = new RegExp(
  `^(export\\s+)?(?:declare\\s+)?(?:abstract\\s+)?(${DECLARATION_KINDS.join('|')}|module)\\s+([A-Za-z_$][\\w$]*)`,
);
const EXPORT_LIST = /^export\s+(?:type\s+)?\{([^}]*)\}\s*(?:from\s+(['"])(.+?)\2)?\s*;?$/;
const EXPORT_ALL = /^export\s+(?:type\s+)?\*\s+from\s+(['"])(.+?)\1\s*;?$/;
const IMPORT_LIST = /^import\s+(?:type\s+)?\{([^}]*)\}\s*from\s+(['"])(.+?)\2\s*;?$/;

/**
 * Reads a `.d.ts` file into the statements that matter for its exports. Throws on an `export`
 * form it does not know (`export default`, `export * as ns`, `export =`), so a new construct
 * fails the check instead of silently vanishing from the document.
 */
export function parseModule(src: string, file: string): Statement[] {
  const statements: Statement[] = [];
  for (const chunk of splitStatements(src)) {
    const statement = parseStatement(chunk);
    if (statement) statements.push(statement);
    else if (/^export\b/.test(chunk.text)) {
      throw new Error(`api-docs: cannot read this export in ${file}: ${oneLine(chunk.text)}`);
    }
  }
  return statements;
}

function parseStatement(chunk: Chunk): Statement | undefined {
  const line = oneLine(chunk.text);
  const declaration = DECLARATION.exec(line);
  if (declaration) {
    const kind = declaration[2] === 'module' ? 'namespace' : (declaration[2] as DeclarationKind);
    return {
      kind: 'declaration',
      declaration: {
        kind,
        name: declaration[3]!,
        exported: declaration[1] !== undefined,
        doc: chunk.doc,
        text: chunk.text,
      },
    };
  }
  const list = EXPORT_LIST.exec(line);
  if (list) return { kind: 'export', names: bindingNames(list[1]!), from: list[3] };
  const all = EXPORT_ALL.exec(line);
  if (all) return { kind: 'export-all', from: all[2]! };
  const imported = IMPORT_LIST.exec(line);
  if (imported) return { kind: 'import', names: bindingNames(imported[1]!), from: imported[3]! };
  return undefined;
}

/** `a, type B as C, ` → [{a, a}, {B, C}]. */
function bindingNames(list: string): BindingName[] {
  return list
    .split(',')
    .map((part) => part.trim().replace(/^type\s+/, ''))
    .filter((part) => part !== '')
    .map((part) => {
      const [name, as] = part.split(/\s+as\s+/);
      return { name: name!, as: as ?? name! };
    });
}
