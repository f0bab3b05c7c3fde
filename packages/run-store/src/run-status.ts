// The run and result statuses are part of the wire contract: defined once, in @x/protocol
// (import them from there). These two are the store's own.

/**
 * Lifecycle of one shard row: `pending`, `running` once a worker began it where that is read
 * before the completion (a shard fair dispatch released, a retry), `completed` once. A FIFO
 * shard's first attempt goes from `pending` to `completed` (its begin writes nothing).
 */
export const SHARD_STATUSES = ['pending', 'running', 'completed'] as const;
export type ShardStatus = (typeof SHARD_STATUSES)[number];

/**
 * Outbox states of a run's completion callback: `pending` (written with the terminal status),
 * `sending` (claimed by one sender, under a lease), then `sent` or `failed` (gave up).
 */
export const CALLBACK_STATES = ['pending', 'sending', 'sent', 'failed'] as const;
export type CallbackState = (typeof CALLBACK_STATES)[number];
