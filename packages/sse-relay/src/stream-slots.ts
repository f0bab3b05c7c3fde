import type { Response } from 'express';

/** Which cap refused a stream. */
export type StreamCap = 'process' | 'workspace';

/**
 * Open-stream accounting for the two caps: one per process and one per workspace. A slot is
 * taken before the first await of a request (so a burst of opens cannot all pass the check
 * at once) and given back when its response closes, whatever ended it: a refusal, an error,
 * the client leaving or the stream ending.
 */
export class StreamSlots {
  private total = 0;
  private readonly byWorkspace = new Map<string, number>();

  constructor(
    readonly maxStreams: number,
    readonly maxPerWorkspace: number,
  ) {}

  /** Streams (and stream requests in flight) holding a slot. */
  get open(): number {
    return this.total;
  }

  /**
   * Takes a slot until `res` closes; answers the cap that refused it, or null. Without a
   * workspace only the process cap applies.
   */
  hold(res: Response, workspace: string | undefined): StreamCap | null {
    // Already closed (the client left while an earlier middleware awaited): nothing to hold,
    // and no 'close' would come to give it back.
    if (res.closed) return null;
    if (this.total >= this.maxStreams) return 'process';
    const held = workspace === undefined ? 0 : (this.byWorkspace.get(workspace) ?? 0);
    if (workspace !== undefined && held >= this.maxPerWorkspace) return 'workspace';
    this.total++;
    if (workspace !== undefined) this.byWorkspace.set(workspace, held + 1);
    res.once('close', () => this.give(workspace));
    return null;
  }

  private give(workspace: string | undefined): void {
    this.total--;
    if (workspace === undefined) return;
    const left = (this.byWorkspace.get(workspace) ?? 1) - 1;
    if (left > 0) this.byWorkspace.set(workspace, left);
    else this.byWorkspace.delete(workspace);
  }
}
