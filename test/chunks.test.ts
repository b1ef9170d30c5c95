// src/db/chunks.ts: batches split into chunks of a few fixed sizes, so each statement text over
// a batch is prepared once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixedChunks } from '../src/db/chunks.ts';

void describe('fixedChunks', () => {
  const sizes = (n: number, max: number) =>
    fixedChunks(
      Array.from({ length: n }, (_, i) => i),
      max,
    ).map((chunk) => chunk.length);

  void test('no items, no chunks', () => {
    assert.deepEqual(fixedChunks([], 256), []);
  });

  void test('sizes are the binary digits of the count, largest first, none above max', () => {
    assert.deepEqual(sizes(200, 256), [128, 64, 8]);
    assert.deepEqual(sizes(256, 256), [256]);
    assert.deepEqual(sizes(1, 256), [1]);
    assert.deepEqual(sizes(600, 256), [256, 256, 64, 16, 8]);
    assert.deepEqual(sizes(7, 1), [1, 1, 1, 1, 1, 1, 1]);
  });

  void test('every count up to 3 × max: items kept in order, once each, in powers of two', () => {
    const max = 16;
    const seen = new Set<number>();
    for (let n = 0; n <= 3 * max; n++) {
      const items = Array.from({ length: n }, (_, i) => i);
      const chunks = fixedChunks(items, max);
      assert.deepEqual(chunks.flat(), items);
      for (const chunk of chunks) {
        assert.ok(chunk.length <= max);
        assert.ok(Number.isInteger(Math.log2(chunk.length)), `${chunk.length} is a power of two`);
        seen.add(chunk.length);
      }
      // Below max, at most one chunk of each size: log2(max) + 1 statements.
      const tail = chunks.filter((c) => c.length < max).map((c) => c.length);
      assert.equal(new Set(tail).size, tail.length);
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [1, 2, 4, 8, 16],
    );
  });

  void test('a max that is not a power of two is refused', () => {
    for (const max of [0, 3, 500, 1.5, 0.5, -4, Number.NaN, Infinity])
      assert.throws(() => fixedChunks([1, 2, 3], max), RangeError);
  });
});
