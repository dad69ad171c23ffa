/*
 * Runs an async task on every item of a list with a bound on how many are in
 * flight at once, and returns the results in the items' order: the start-up
 * walk of the queue, batches of directory lookups and the queue census use it.
 */

/** `task` on every item, at most `limit` at a time; the results in the items' order. */
export async function inTurn<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const k = next++;
      results[k] = await task(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
