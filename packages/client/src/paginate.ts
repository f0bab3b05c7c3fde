/** One page of a cursor-paginated list: `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Yields every item of every page, fetching the next page only when the caller has taken the
 * previous one: breaking out of the loop stops the requests.
 */
export async function* paginate<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* page.items;
    const next = page.nextCursor ?? undefined;
    // A server answering the cursor it was given would make this loop forever.
    if (next !== undefined && next === cursor) throw new Error(`cursor ${next} did not advance`);
    cursor = next;
  } while (cursor !== undefined);
}
