/**
 * Whether `work` settles within `deadlineMs` (a rejection still rejects): a consumer's
 * shutdown waits this long for its in-flight jobs before it aborts them. The timer is
 * cleared either way, so a fast shutdown leaves nothing holding the process open.
 */
export async function settlesWithin(work: Promise<unknown>, deadlineMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), deadlineMs);
  });
  try {
    return (await Promise.race([work.then(() => 'settled' as const), expired])) === 'settled';
  } finally {
    clearTimeout(timer);
  }
}
