import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * A pg Client class that sends parameterized statements as named prepared statements, so
 * PostgreSQL parses and plans each distinct SQL text once per connection instead of on
 * every call. Kysely sends `client.query(text, values)`; only that shape is renamed.
 *
 * `maxStatements` bounds how many distinct texts get a name (pg keeps them for the life of
 * the connection and has no eviction); texts past the cap are sent unnamed as before.
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
          if (name) return Reflect.apply(original, self, [{ name, text, values }]);
        }
        return Reflect.apply(original, self, args);
      } as typeof original;
    }
  };
}
