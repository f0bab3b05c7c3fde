/**
 * Whether a workspace may name a `callbackUrl`: with `NODE_ENV=production` only one that has
 * a `CALLBACK_SECRETS` entry (a receiver cannot tell an unsigned callback from a forged one);
 * elsewhere any (the callback sender warns when it sends one unsigned). Answers the refusal
 * message, or null.
 */
export function callbackSigningPolicy(opts: {
  callbackSecrets: ReadonlyMap<string, string>;
  requireSignedCallbacks: boolean;
}): (workspaceId: string) => string | null {
  const { callbackSecrets, requireSignedCallbacks } = opts;
  return (workspaceId) =>
    requireSignedCallbacks && !callbackSecrets.has(workspaceId)
      ? 'this workspace has no callback secret (CALLBACK_SECRETS); unsigned callbacks are refused in production'
      : null;
}
