import { z } from 'zod';

/**
 * An empty variable counts as unset: `FOO= node main.js` must not mean "FOO is ''". Its own
 * file because the env fields and the field builders they use (`workspaceLimitsEnv`, …) both
 * need it: importing it from `env-fields.ts` would be an import cycle.
 */
export const optionalEnv = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
