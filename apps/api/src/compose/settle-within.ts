/**
 * Waits for `work` at most `ms`: its value, or undefined when it is still running (it goes
 * on; attach a handler for its outcome). `work` must not reject.
 */
export function settleWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
