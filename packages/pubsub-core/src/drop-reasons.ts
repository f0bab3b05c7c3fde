/**
 * Why an incoming message was dropped instead of delivered:
 * - `self`: it carries this bus's own origin (local listeners already had it);
 * - `malformed`: not JSON, or not the envelope shape;
 * - `version`: the envelope's `v` differs from the channel contract's version;
 * - `oversize`: larger than the bus's `maxMessageBytes`;
 * - `schema`: the payload fails the channel's schema;
 * - `channel`: nobody here listens on the channel, or the envelope names another channel.
 */
export const DROP_REASONS = [
  'self',
  'malformed',
  'version',
  'oversize',
  'schema',
  'channel',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];
