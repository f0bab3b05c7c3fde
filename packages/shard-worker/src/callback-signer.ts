import { Webhook } from 'standardwebhooks';
import { ShardWorkerError } from './shard-worker-error.js';

/** Signing secrets per workspace (`CALLBACK_SECRETS`): `whsec_` + base64 of 24–64 random bytes. */
export type CallbackSecrets = ReadonlyMap<string, string>;

/** The Standard Webhooks headers of one delivery attempt. */
export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export interface CallbackSigner {
  /** Whether callbacks of this workspace are signed. */
  has(workspaceId: string): boolean;
  /**
   * The headers that sign `body` for `workspaceId` (undefined: no secret, send unsigned).
   * `id` is the same on every attempt of one callback, so a receiver can drop repeats;
   * the timestamp is the attempt's own (receivers refuse old ones: replay protection).
   */
  sign(workspaceId: string, id: string, body: string, at?: Date): SignatureHeaders | undefined;
}

/**
 * Signs callbacks the Standard Webhooks way (`standardwebhooks`): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. Every secret is decoded here, at
 * start: a malformed one throws naming its workspace (never the secret), not at the first
 * callback.
 */
export function createCallbackSigner(secrets: CallbackSecrets = new Map()): CallbackSigner {
  const hooks = new Map<string, Webhook>();
  for (const [workspaceId, secret] of secrets) {
    try {
      hooks.set(workspaceId, new Webhook(secret));
    } catch (cause) {
      throw new ShardWorkerError(
        'invalid_option',
        `callback secret of workspace ${workspaceId} is not whsec_<base64>`,
        { cause },
      );
    }
  }
  return {
    has: (workspaceId) => hooks.has(workspaceId),
    sign(workspaceId, id, body, at = new Date()) {
      const hook = hooks.get(workspaceId);
      if (!hook) return undefined;
      return {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': hook.sign(id, at, body),
      };
    },
  };
}
