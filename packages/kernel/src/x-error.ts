/** Options every package error takes: the original error, and machine-readable context. */
export interface XErrorOptions {
  cause?: unknown;
  /** Extra machine-readable context (field name, run id, shard index, …). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Base of every error an `@x` package throws: a typed `code` from the package's own
 * `as const` list, `details` for machines, `cause` for the original. Subclasses set `name`
 * so logs and `instanceof` both tell them apart.
 *
 * @example
 * export const STORE_ERROR_CODES = ['not_found', 'unavailable'] as const;
 * export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];
 * export class StoreError extends XError.named('StoreError')<StoreErrorCode> {}
 */
export class XError<Code extends string> extends Error {
  readonly code: Code;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: Code, message: string, opts: XErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.details = opts.details;
  }

  /**
   * The base of an error class that adds nothing but its `name`:
   * `class StoreError extends XError.named('StoreError')<StoreErrorCode> {}`. A class that
   * carries more (its own fields, another constructor) extends `XError` itself.
   */
  static named(name: string) {
    return class Named<Code extends string> extends XError<Code> {
      override readonly name: string = name;
    };
  }
}
