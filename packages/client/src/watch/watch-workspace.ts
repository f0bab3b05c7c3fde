import type { EmittedRunEvent } from '@x/protocol';
import type { HttpTransport } from '../http-transport.js';
import type { IdentifiedRunEvent } from '../run-event.js';
import { StreamTokens } from './stream-tokens.js';
import { type WatchOptions, watchStream } from './watch-run.js';

/** The workspace feed's first frame of every connection. */
export interface FeedSnapshotEvent {
  type: 'snapshot';
  /**
   * `false`: frames after the resume point were missed (the feed's history no longer holds
   * them): reload the list you built from it (`runs.list`). `true` or absent: nothing missed.
   */
  recovered?: boolean;
}

/** One run changed: `change` says how, `run` carries its id, tags and what changed. */
export type FeedRunEvent = IdentifiedRunEvent<Extract<EmittedRunEvent, { type: 'run' }>>;

/** Everything `runs.watchAll` yields. */
export type FeedEvent = FeedSnapshotEvent | FeedRunEvent;

/** `lastEventId` resumes after a frame of an earlier watch; without it, frames from now on. */
export interface WatchAllOptions extends WatchOptions {
  /** Only runs carrying every one of these tags. */
  tags?: readonly string[];
}

/**
 * `runs.watchAll`: the workspace feed (`GET /events`), with `runs.watch`'s connection rules
 * (stream tokens, resume after the last id, backoff). It never ends by itself: stop it with
 * `signal` or by leaving the loop.
 */
export async function* watchWorkspace(
  http: HttpTransport,
  opts: WatchAllOptions = {},
): AsyncGenerator<FeedEvent, void, undefined> {
  const target = {
    path: '/events',
    tokens: new StreamTokens(http, '/events/stream-token'),
    query: { tag: opts.tags },
    // A feed's history is every run's frames: a first connection starts from now.
    liveFirst: true,
  };
  for await (const event of watchStream(http, target, opts)) {
    if (event.type === 'snapshot' || event.type === 'run') yield event as FeedEvent;
  }
}
