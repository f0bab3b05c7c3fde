import type { RunFacts } from './types/run-queries.js';

/** Runs whose facts a store remembers; the oldest is forgotten first. */
const MAX_REMEMBERED = 10_000;

export interface RunFactsMemory {
  remember(runId: string, facts: RunFacts): void;
  get(runId: string): RunFacts | undefined;
}

/**
 * A run's fields that never change once it is created, remembered from whatever statement
 * of this store returned them (its create, a read, a shard's begin, its finalization), so
 * `getRunFacts` needs no read for a run this process is working on. Never stale: nothing
 * remembered here is ever written again. Bounded: ~200 B a run, 10,000 runs.
 */
export function runFactsMemory(): RunFactsMemory {
  const facts = new Map<string, RunFacts>();
  return {
    remember(runId, f) {
      if (facts.has(runId)) return;
      if (facts.size >= MAX_REMEMBERED) facts.delete(facts.keys().next().value as string);
      facts.set(runId, f);
    },
    // A copy: the caller may change what it gets, the memory must not change.
    get(runId) {
      const f = facts.get(runId);
      return f && { ...f, tags: [...f.tags], createdAt: new Date(f.createdAt) };
    },
  };
}

/** The facts of a run (a copy: the run may be changed by its caller). */
export function factsOf(run: RunFacts): RunFacts {
  const { workspaceId, name, tags, createdAt, total, shardCount } = run;
  return { workspaceId, name, tags: [...tags], createdAt: new Date(createdAt), total, shardCount };
}
