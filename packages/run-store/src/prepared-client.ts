import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * Whether a named statement failed because the connection's prepared copy is stale, not
 * because of the statement or its values. Neither error ran it:
 * - 0A000 "cached plan must not change result type": a table it reads (`select *`,
 *   `returning *`) gained or changed a column since it was prepared, as when a newer replica's
 *   migration adds one during a rolling upgrade. PostgreSQL refuses every later call of it on
 *   that connection.
 * - 26000: the server no longer has it (`DISCARD ALL`, `DEALLOCATE`).
 */
function isStaleStatement(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (
    code === '26000' ||
    (code === '0A000' &&
      typeof message === 'string' &&
      message.includes('cached plan must not change result type'))
  );
}

/**
 * A pg Client class that sends parameterized statements as named prepared statements, so
 * PostgreSQL parses and plans each distinct SQL text once per connection instead of on
 * every call. Kysely sends `client.query(text, values)`; only that shape is renamed.
 *
 * `maxStatements` bounds how many distinct texts get a name (pg keeps them for the life of
 * the connection and has no eviction); texts past the cap are sent unnamed as before.
 *
 * A stale statement (see {@link isStaleStatement}) is prepared again under a new name on that
 * connection, and the call is sent again once when the connection is outside a transaction
 * (nothing ran, nothing to undo). Inside one the error stands (the transaction is aborted);
 * the next call gets the new name. The stale copy stays on the server until the connection
 * closes: one a statement per schema change.
 */
export function preparingClientClass(maxStatements: number): typeof pg.Client {
  const names = new Map<string, string>();
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < maxStatements) {
      name = `xrs_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      names.set(text, name);
    }
    return name;
  };

  return class PreparingClient extends pg.Client {
    constructor(config?: string | pg.ClientConfig) {
      super(config);
      const original = this.query;
      const self = this;
      /** Names whose prepared copy went stale on this connection: how many times. */
      const renamed = new Map<string, number>();
      const send = (name: string, text: string, values: unknown[]): Promise<pg.QueryResult> => {
        const times = renamed.get(name);
        const current = times === undefined ? name : `${name}_${times}`;
        return Reflect.apply(original, self, [{ name: current, text, values }]);
      };
      // A handler on pg's promise rather than an async function: no extra frame to resume
      // on the hot path, where every statement of the store passes.
      const sendNamed = (name: string, text: string, values: unknown[]) =>
        send(name, text, values).catch((err: unknown) => {
          if (!isStaleStatement(err)) throw err;
          renamed.set(name, (renamed.get(name) ?? 0) + 1);
          if (self.getTransactionStatus() !== 'I') throw err;
          return send(name, text, values);
        });
      // Overriding an overloaded method is not expressible in TypeScript; the replacement
      // keeps every overload's behaviour by delegating anything it does not rename.
      this.query = function query(this: unknown, ...args: unknown[]) {
        const [text, values] = args;
        if (
          args.length === 2 &&
          typeof text === 'string' &&
          Array.isArray(values) &&
          values.length > 0
        ) {
          const name = nameFor(text);
          if (name) return sendNamed(name, text, values);
        }
        return Reflect.apply(original, self, args);
      } as typeof original;
    }
  };
}
