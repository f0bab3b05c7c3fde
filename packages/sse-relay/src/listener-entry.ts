import type { RunEvent } from './run-event-types.js';

export const LISTEN_END_REASONS = ['done', 'gap', 'overflow', 'closed'] as const;
/**
 * Why a listener was ended by the relay (never by its own `close()`):
 * `done` the run's last event was delivered; `gap` events were lost beyond the history
 * (resume to get a fresh snapshot); `overflow` it was paused too long; `closed` the
 * RunEvents instance closed.
 */
export type ListenEndReason = (typeof LISTEN_END_REASONS)[number];

/**
 * One local listener of a run. It starts paused so the caller can write its snapshot and
 * replay first; live events are held (bounded) until `start()`.
 */
export class ListenerEntry {
  /** Live events with seq at or below this were already seen by the client. */
  skipThrough = 0;
  private held: RunEvent[] | null = [];
  private endReason: ListenEndReason | null = null;
  private finished = false;

  constructor(
    private readonly listener: (event: RunEvent) => void,
    private readonly onEnd: ((reason: ListenEndReason) => void) | undefined,
    private readonly maxHeld: number,
    private readonly onDelivered: () => void,
  ) {}

  deliver(event: RunEvent): void {
    if (this.finished || event.seq <= this.skipThrough) return;
    if (this.held) {
      if (this.held.length >= this.maxHeld) {
        this.end('overflow');
        return;
      }
      this.held.push(event);
      return;
    }
    this.onDelivered();
    this.listener(event);
  }

  end(reason: ListenEndReason): void {
    if (this.finished || this.endReason) return;
    this.endReason = reason;
    if (!this.held) this.finish();
  }

  /** Flushes what was held, then delivers live. */
  start(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const event of held) this.deliver(event);
    if (this.endReason) this.finish();
  }

  /** The caller closed it: no more calls of any kind. */
  silence(): void {
    this.finished = true;
    this.held = null;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.onEnd?.(this.endReason ?? 'closed');
  }
}
