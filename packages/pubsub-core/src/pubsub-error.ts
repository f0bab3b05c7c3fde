import { XError } from '@x/kernel';

export const PUBSUB_ERROR_CODES = [
  'connect_timeout',
  'connect_failed',
  'closed',
  'invalid_channel',
  'invalid_params',
  'channel_conflict',
  'invalid_option',
] as const;
export type PubSubErrorCode = (typeof PUBSUB_ERROR_CODES)[number];

/** Every error @x/pubsub-core throws or rejects with. */
export class PubSubError extends XError.named('PubSubError')<PubSubErrorCode> {}
