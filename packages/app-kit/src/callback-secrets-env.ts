import { z } from 'zod';
import { optionalEnv } from './optional-env.js';

/** Standard Webhooks secrets: `whsec_` + base64 of 24–64 bytes (the spec's bounds). */
const SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
const MIN_BYTES = 24;
const MAX_BYTES = 64;

/**
 * `CALLBACK_SECRETS=workspace:whsec_…,workspace:whsec_…`: the secret that signs each
 * workspace's callbacks. A malformed entry stops the process naming the entry and its
 * workspace, never the secret (this message is printed). Unset: no workspace has one.
 */
export const callbackSecretsEnv = () =>
  optionalEnv(
    z.string().transform((value, ctx): ReadonlyMap<string, string> => {
      const secrets = new Map<string, string>();
      for (const [i, raw] of value.split(',').entries()) {
        const item = raw.trim();
        if (!item) continue;
        const colon = item.indexOf(':');
        const workspace = colon > 0 ? item.slice(0, colon) : '';
        const secret = colon > 0 ? item.slice(colon + 1) : '';
        const fail = (message: string) => {
          ctx.addIssue({ code: 'custom', message: `entry ${i + 1}${message}` });
          return z.NEVER;
        };
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(workspace))
          return fail(
            ' must be workspace:whsec_<base64> with workspace matching [A-Za-z0-9_-]{1,64}',
          );
        const b64 = SECRET.exec(secret)?.[1];
        const bytes = b64 === undefined ? 0 : Buffer.from(b64, 'base64').length;
        if (b64 === undefined || b64.length % 4 !== 0 || bytes < MIN_BYTES || bytes > MAX_BYTES)
          return fail(
            ` (workspace ${workspace}) needs a secret whsec_<base64 of ${MIN_BYTES}–${MAX_BYTES} bytes>`,
          );
        if (secrets.has(workspace)) return fail(` repeats workspace ${workspace}`);
        secrets.set(workspace, secret);
      }
      return secrets;
    }),
  ).transform((v): ReadonlyMap<string, string> => v ?? new Map());
