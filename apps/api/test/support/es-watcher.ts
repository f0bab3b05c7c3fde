import { EventSource } from 'eventsource';

/** One `data:` frame as a plain EventSource delivered it. */
export interface WatchedFrame {
  /** The SSE id of this frame (`<seq>-<epoch>`); null for frames sent without one. */
  eventId: string | null;
  data: { type: string; [k: string]: unknown };
  /** Ms since the watcher started. */
  at: number;
}

/** A run followed by the `eventsource` package, the way a browser's EventSource does it. */
export interface RunWatcher {
  readonly frames: WatchedFrame[];
  /** `error` events: each is a dropped or refused connection (it reconnects unless fatal). */
  readonly errors: number;
  /** The EventSource gave up for good (a non-200 answer): it never reconnects. */
  readonly fatal: boolean;
  /** What happened to the connection, with ms since the start: `open`, `error (state)`. */
  readonly log: string[];
  /** Resolves at the run's `done` frame, or when the EventSource gave up. */
  readonly ended: Promise<void>;
  close(): void;
}

// Frames that are not events of the run's history carry no id of their own.
const UNNUMBERED = new Set(['snapshot', 'done']);

/**
 * Opens `url` (with its stream token in the query) with a plain EventSource, which reconnects
 * by itself, sending the last id it got as `Last-Event-ID`. Keeps every frame; closes at `done`.
 */
export function watchRun(url: string): RunWatcher {
  const frames: WatchedFrame[] = [];
  const log: string[] = [];
  const startedAt = performance.now();
  const now = () => Math.round(performance.now() - startedAt);
  let errors = 0;
  let fatal = false;
  let finish = () => {};
  const ended = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const source = new EventSource(url);
  source.onmessage = (ev) => {
    const data = JSON.parse(ev.data) as WatchedFrame['data'];
    // A frame without `id:` leaves lastEventId as it was: only numbered types carry their own.
    frames.push({ eventId: UNNUMBERED.has(data.type) ? null : ev.lastEventId, data, at: now() });
    if (data.type === 'done') {
      source.close();
      finish();
    }
  };
  source.onopen = () => {
    log.push(`${now()} open`);
  };
  source.onerror = () => {
    errors++;
    log.push(`${now()} error (readyState ${source.readyState})`);
    if (source.readyState === source.CLOSED) {
      fatal = true;
      finish();
    }
  };
  return {
    frames,
    get errors() {
      return errors;
    },
    get fatal() {
      return fatal;
    },
    log,
    ended,
    close: () => {
      source.close();
      finish();
    },
  };
}

/** What a watcher's frames tell, checked against the run as PostgreSQL holds it. */
export interface WatchVerdict {
  /** Connections it made (one snapshot each). */
  connections: number;
  /** Its stream crossed a declared gap (an id jump right after a `recovered: false` snapshot). */
  gapped: boolean;
  /** Everything wrong; empty when the watcher saw what it should. */
  problems: string[];
  /**
   * Tests whose result came twice in one attempt of their shard. A failure: appends are
   * idempotent (a batch resent after its reply was lost is not appended again).
   */
  duplicates: string[];
  /**
   * Tests whose result never reached the watcher although no gap was declared, kept apart from
   * `problems`: seen in 2 of 4 CI-size chaos runs late in issue 15's work (a watcher that
   * reconnected once saw none of its run's results). Two causes are fixed in @x/sse-relay's
   * router (a finished run's `done` sent right after a replay read before the run's last
   * events; a resume of a finished run while Redis was away answered with a `done` from the
   * snapshot). Kept apart so the summary counts them; the chaos test fails on any (none in 8
   * CI-size runs after the two fixes, 2026-12-06).
   */
  missing: string[];
}

const parseId = (id: string) => {
  const [seq, epoch] = id.split('-');
  return { seq: Number(seq), epoch };
};

/**
 * A watcher must see ids that follow each other (same epoch, seq + 1) except right after a
 * snapshot that said `recovered: false`; one `done` with the run's final counts; and, unless it
 * crossed such a gap, each test's result once (see `duplicates`, `missing`). A shard executed again (its worker was
 * killed) announces itself with `shard` `started`: its earlier attempt's results are dropped
 * then, as a client showing the run does, and a later result of that earlier attempt (its
 * `attempt` is older than the latest `started` one) is ignored, neither a result nor a duplicate.
 */
export function verdictOf(
  frames: readonly WatchedFrame[],
  run: { passed: number; failed: number; total: number; status: string },
  testNames: readonly string[],
): WatchVerdict {
  const problems: string[] = [];
  const duplicates: string[] = [];
  const missing: string[] = [];
  let connections = 0;
  let gapped = false;
  let afterSnapshot: boolean | undefined;
  let prev: { seq: number; epoch: string | undefined } | undefined;
  const shards = new Map<number, Map<string, number>>();
  // Each shard's latest `started` attempt.
  const latestAttempt = new Map<number, number>();
  const dones: WatchedFrame['data'][] = [];
  for (const { eventId, data } of frames) {
    if (data.type === 'snapshot') {
      connections++;
      afterSnapshot = data.recovered !== false;
      continue;
    }
    if (data.type === 'done') {
      dones.push(data);
      continue;
    }
    if (eventId) {
      const cur = parseId(eventId);
      const follows = prev && cur.epoch === prev.epoch && cur.seq === prev.seq + 1;
      if (prev && !follows) {
        if (afterSnapshot === false) gapped = true;
        else problems.push(`hole or repeat: ${prev.seq}-${prev.epoch} then ${eventId}`);
      }
      prev = cur;
    }
    afterSnapshot = undefined;
    const shardIndex = Number(data.shardIndex);
    if (data.type === 'shard' && data.state === 'started') {
      shards.set(shardIndex, new Map());
      latestAttempt.set(shardIndex, Number(data.attempt));
    }
    // A result of an attempt older than the shard's latest `started` is the earlier attempt's
    // (a live worker whose shard was taken over flushed it late): dropped, as a client does.
    const stale =
      data.type === 'result' &&
      typeof data.attempt === 'number' &&
      data.attempt < (latestAttempt.get(shardIndex) ?? 0);
    if (data.type === 'result' && !stale) {
      const seen = shards.get(shardIndex) ?? new Map<string, number>();
      shards.set(shardIndex, seen);
      const name = String(data.name);
      seen.set(name, (seen.get(name) ?? 0) + 1);
      if (seen.get(name) === 2) duplicates.push(name);
    }
  }
  if (dones.length !== 1) problems.push(`${dones.length} done frames`);
  const done = dones[0];
  if (
    done &&
    (done.status !== run.status ||
      done.passed !== run.passed ||
      done.failed !== run.failed ||
      done.total !== run.total)
  ) {
    problems.push(`done ${JSON.stringify(done)} differs from the run ${JSON.stringify(run)}`);
  }
  if (!gapped) {
    const names = [...shards.values()].flatMap((seen) => [...seen.keys()]).sort();
    const expected = [...testNames].sort();
    if (JSON.stringify(names) !== JSON.stringify(expected)) {
      missing.push(...expected.filter((n) => !names.includes(n)));
      const extra = names.filter((n) => !expected.includes(n));
      if (extra.length > 0) problems.push(`results of unknown tests: ${extra.join(',')}`);
    }
  }
  return { connections, gapped, problems, duplicates, missing };
}
