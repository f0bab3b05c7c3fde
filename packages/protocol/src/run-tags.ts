import { z } from 'zod';

/** At most this many tags on one run. */
export const MAX_TAGS = 10;
/** A tag: 1–64 of lowercase letters, digits and `._:-` (e.g. `branch:main`, `sha:1a2b3c`). */
export const TAG_PATTERN = /^[a-z0-9._:-]{1,64}$/;
/** The largest `metadata` object, in bytes of its JSON. */
export const MAX_METADATA_BYTES = 4_096;

const TAG_RULE = 'must be 1–64 characters of a-z, 0-9, ".", "_", ":", "-"';

/** One tag, as a run carries it and as a filter names it. */
export const tagSchema = z.string().regex(TAG_PATTERN, TAG_RULE);

/** `tags` of `POST /runs`: at most {@link MAX_TAGS}, no repeats. */
export const tagsSchema = z
  .array(tagSchema)
  .max(MAX_TAGS, `must list at most ${MAX_TAGS} tags`)
  .refine((tags) => new Set(tags).size === tags.length, 'must not repeat a tag')
  .meta({
    description: `Up to ${MAX_TAGS} tags to find the run by (\`?tag=\`), e.g. \`branch:main\`.`,
  });

/** The UTF-8 size of a value's JSON. */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

/**
 * `metadata` of `POST /runs`: any JSON object, at most {@link MAX_METADATA_BYTES} as JSON. Its
 * values are `unknown` rather than `z.json()`: a request body is parsed JSON already, and the
 * recursive JSON schema would not survive the OpenAPI document's `$ref`s.
 */
export const metadataSchema = z
  .record(z.string(), z.unknown())
  .refine(
    (value) => jsonBytes(value) <= MAX_METADATA_BYTES,
    `must be at most ${MAX_METADATA_BYTES} bytes as JSON`,
  )
  .meta({
    description: `A JSON object (≤ ${MAX_METADATA_BYTES} bytes) stored and returned with the run.`,
  });

/** Whether `value` is a valid tag. */
export function isTag(value: unknown): value is string {
  return typeof value === 'string' && TAG_PATTERN.test(value);
}
