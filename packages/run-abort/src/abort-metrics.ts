/** Counters of one `RunAborter`; a plain object, ready for a Prometheus collector. */
export interface RunAborterMetrics {
  /** `abort` calls. */
  abortsRequested: number;
  /** `abort` calls that wrote the terminal status (first writer). */
  abortsWon: number;
  /** `abort` calls that found the run already completed or failed: nothing aborted. */
  abortsLost: number;
  /** `abort` calls that found the run already aborted (retries): local abort and publish ran again. */
  abortsRepeated: number;
  /** Shards cancelled by the local fast path (`abort`, `abortLocal`). */
  localShardsAborted: number;
  /** Abort messages published. */
  published: number;
  /** Of those, published while the bus was not connected: delivery then relies on reconcile. */
  publishedWhileDisconnected: number;
  /** Publishes that threw (never rethrown into the abort path). */
  publishErrors: number;
  /** Abort messages received from other origins. */
  received: number;
  /** Shards cancelled by received messages. */
  receivedShardsAborted: number;
  /** Deliveries to a listener of a superseded subscribe attempt, dropped instead of dispatched twice. */
  staleDispatchesDropped: number;
  /** Message handling that threw (isolated; the subscriber keeps going). */
  handlerErrors: number;
  /** Failed subscribe attempts (`start()` rejected; calling it again retries). */
  subscribeErrors: number;
  /** Reconcile passes (start, reconnect, periodic sweep, explicit calls). */
  reconcileSweeps: number;
  /** Shards cancelled because reconcile found their run terminal. */
  reconcileShardsAborted: number;
  /** Reconcile passes that failed (store unreachable); the next sweep retries. */
  reconcileErrors: number;
  /** Registry cancel functions and callbacks that threw. */
  cancelErrors: number;
  /** Shards registered right now. */
  registeredShards: number;
}

export function emptyMetrics(): RunAborterMetrics {
  return {
    abortsRequested: 0,
    abortsWon: 0,
    abortsLost: 0,
    abortsRepeated: 0,
    localShardsAborted: 0,
    published: 0,
    publishedWhileDisconnected: 0,
    publishErrors: 0,
    received: 0,
    receivedShardsAborted: 0,
    staleDispatchesDropped: 0,
    handlerErrors: 0,
    subscribeErrors: 0,
    reconcileSweeps: 0,
    reconcileShardsAborted: 0,
    reconcileErrors: 0,
    cancelErrors: 0,
    registeredShards: 0,
  };
}
