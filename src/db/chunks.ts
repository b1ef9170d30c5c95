// Statements over a varying number of rows, in chunks of a few fixed sizes.
//
// A multi-row insert, a `(values …)` list or an `in (…)` list of n items is SQL text of its
// own for every n. SQLite's statements are prepared once per text and kept in a bounded cache
// (src/db/sqlite-driver.ts): the delivery worker's batches, one size after another, prepared
// a statement per batch — ~5 % of the webhook worker's time on the event loop — and pushed
// requests' statements out of that cache. Chunks whose sizes are powers of two keep every such
// statement to a handful of texts, each prepared once; a batch of n takes at most
// log2(max) + 1 statements (200 → 128 + 64 + 8).

/** `items` split into chunks of powers of two, largest first, none larger than `max`. */
export function fixedChunks<T>(items: readonly T[], max: number): T[][] {
  const powerOfTwo = Number.isSafeInteger(max) && max >= 1 && Number.isInteger(Math.log2(max));
  if (!powerOfTwo) throw new RangeError('max must be a power of two');
  const chunks: T[][] = [];
  let at = 0;
  while (at < items.length) {
    let size = max;
    while (size > items.length - at) size /= 2;
    chunks.push(items.slice(at, at + size));
    at += size;
  }
  return chunks;
}
