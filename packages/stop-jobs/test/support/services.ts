import { setTimeout as sleep } from 'node:timers/promises';
import type { StopJob, StopService, StopServiceResult } from '../../src/index.js';

const TERMINAL = new Set(['completed', 'failed', 'aborted']);

/** Run states in a Map: the replay and not-found answers a real stop service gives. */
export class MemoryRunStates implements StopService {
  readonly states = new Map<string, string>();
  readonly calls: StopJob[] = [];

  constructor(runs: Record<string, string> = {}) {
    for (const [id, status] of Object.entries(runs)) this.states.set(id, status);
  }

  async stop(job: StopJob): Promise<StopServiceResult> {
    this.calls.push(job);
    const status = this.states.get(job.runId);
    if (status === undefined) {
      return {
        outcome: 'failure',
        errorCode: 'not_found',
        errorMessage: `run ${job.runId} not found`,
        finalStatus: '',
      };
    }
    if (TERMINAL.has(status)) {
      return {
        outcome: 'success',
        errorCode: 'replay_no_op',
        errorMessage: '',
        finalStatus: status,
      };
    }
    this.states.set(job.runId, 'aborted');
    return { outcome: 'success', errorCode: '', errorMessage: '', finalStatus: 'aborted' };
  }
}

/** Fails every call, like a stop service whose database is down. */
export class ThrowingService implements StopService {
  calls = 0;
  readonly deliveryCounts: number[] = [];
  constructor(readonly message = 'database is down') {}
  async stop(job: StopJob): Promise<StopServiceResult> {
    this.calls++;
    this.deliveryCounts.push(job.deliveryCount);
    throw new Error(this.message);
  }
}

/** Succeeds, counting calls per entry; optionally slow, optionally failing the first N calls. */
export class CountingService implements StopService {
  readonly perEntry = new Map<string, number>();
  readonly jobs: StopJob[] = [];
  calls = 0;
  constructor(private readonly opts: { delayMs?: number; failFirst?: number } = {}) {}
  async stop(job: StopJob): Promise<StopServiceResult> {
    this.calls++;
    this.jobs.push(job);
    this.perEntry.set(job.entryId, (this.perEntry.get(job.entryId) ?? 0) + 1);
    if (this.opts.delayMs) await sleep(this.opts.delayMs);
    if (this.calls <= (this.opts.failFirst ?? 0))
      throw new Error(`transient failure ${this.calls}`);
    return { outcome: 'success', errorCode: '', errorMessage: '', finalStatus: 'aborted' };
  }
}
