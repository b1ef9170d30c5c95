// Ids: UUIDv7, unique and in creation order, also across refills of the random pool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newId } from '../src/shared/ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

void test('ids are UUIDv7, all different, each greater than the one before', () => {
  // Several times the pool's 1,024 words (an id takes about three).
  const ids = Array.from({ length: 5_000 }, () => newId());
  for (const id of ids) assert.match(id, UUID_V7);
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 1; i < ids.length; i++)
    assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} < ${ids[i]}`);
  // The random part really varies (not a constant pool): the last 12 hex digits of ids
  // made in the same millisecond are not all alike.
  assert.ok(new Set(ids.map((id) => id.slice(-12))).size > ids.length / 2);
});
