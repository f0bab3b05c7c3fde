/** A UUID in its text form, any case (RFC 9562 §4: input is case-insensitive). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/**
 * The one spelling of a UUID the system uses everywhere (keys, channels, rows): lower case.
 * Every boundary (HTTP path, stream entry, pub/sub message) canonicalizes with this, so an
 * id written in upper case names the same run. `undefined` when `value` is not a UUID.
 */
export function canonicalUuid(value: unknown): string | undefined {
  return isUuid(value) ? value.toLowerCase() : undefined;
}
