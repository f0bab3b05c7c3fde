import {
  createCallbackSender,
  createExecutorRegistry,
  demoExecutor,
  httpExecutor,
} from '@x/shard-worker';
import type { Logger } from 'pino';

export interface OutboundPartsOptions {
  /** `HTTP_ALLOWED_HOSTS`: hosts the `http` executor may call (empty: none). */
  readonly httpAllowedHosts: readonly string[];
  /** `CALLBACK_ALLOWED_HOSTS`: hosts a run's `callbackUrl` may name (empty: none). */
  readonly callbackAllowedHosts: readonly string[];
  /** `CALLBACK_SECRETS`: the secret signing each workspace's callbacks (others go unsigned). */
  readonly callbackSecrets?: ReadonlyMap<string, string>;
  readonly logger: Logger;
}

/**
 * The executors every process knows (`demo`, `http`) and the callback sender, both limited
 * to the configured hosts. Api and worker must agree on these: the api refuses a run the
 * workers could not execute.
 */
export function createOutboundParts(opts: OutboundPartsOptions) {
  const executors = createExecutorRegistry([
    demoExecutor(),
    httpExecutor({ allowedHosts: opts.httpAllowedHosts, logger: opts.logger }),
  ]);
  const callback = createCallbackSender({
    allowedHosts: opts.callbackAllowedHosts,
    ...(opts.callbackSecrets ? { secrets: opts.callbackSecrets } : {}),
    logger: opts.logger,
  });
  return { executors, callback };
}
