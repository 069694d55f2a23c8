// Work on a list, at most `limit` items at once. The first failure aborts the controller (the
// others' downloads stop) and is thrown once every started item has settled, so that nothing is
// still writing into the store when the caller cleans up.
export async function mapLimit<T>(items: readonly T[], limit: number, controller: AbortController, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          controller.abort(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure.error;
}
