/**
 * An object literal or `JSON.parse` output: no class instance, no inherited fields. The hand
 * checks that run before a zod schema accept only these (anything else is left to the schema).
 */
export function isPlainObject(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
