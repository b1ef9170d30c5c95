// `fitting` (src/webhooks/webhooks.rules.ts): which due deliveries go now, at most the free
// slots in all and an endpoint's room each. Checked on a few cases by hand, then on every
// input fast-check makes against the properties that define it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fitting } from '../src/webhooks/webhooks.rules.ts';

/** Items are `${endpoint}${n}`: the endpoint is the letter. */
const endpointOf = (item: string) => item[0]!;
const rooms = (r: Record<string, number>) => (endpoint: string) => r[endpoint] ?? 0;

void describe('fitting: deliveries that may go now', () => {
  void test('an endpoint at its share waits, the others go in order', () => {
    assert.deepEqual(
      fitting(['a1', 'a2', 'b1', 'a3', 'c1', 'b2'], 10, endpointOf, rooms({ a: 1, b: 2, c: 5 })),
      { going: ['a1', 'b1', 'c1', 'b2'], waiting: ['a2', 'a3'] },
    );
  });

  void test('no more than the free slots go, the soonest first', () => {
    assert.deepEqual(fitting(['a1', 'b1', 'a2', 'b2'], 3, endpointOf, rooms({ a: 9, b: 9 })), {
      going: ['a1', 'b1', 'a2'],
      waiting: ['b2'],
    });
  });

  void test('nothing goes with no slot, or to an endpoint with no room', () => {
    assert.deepEqual(fitting(['a1'], 0, endpointOf, rooms({ a: 9 })), {
      going: [],
      waiting: ['a1'],
    });
    assert.deepEqual(fitting(['a1', 'b1'], 5, endpointOf, rooms({ a: 0, b: -2 })), {
      going: [],
      waiting: ['a1', 'b1'],
    });
    assert.deepEqual(fitting([], 5, endpointOf, rooms({})), { going: [], waiting: [] });
  });

  void test('properties: bounds kept, order kept, nothing lost, as many as may go', () => {
    const endpoint = fc.constantFrom('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(
        fc.array(endpoint, { maxLength: 40 }),
        fc.integer({ min: 0, max: 45 }),
        fc.record({
          a: fc.integer({ min: -1, max: 12 }),
          b: fc.integer({ min: -1, max: 12 }),
          c: fc.integer({ min: -1, max: 12 }),
          d: fc.integer({ min: -1, max: 12 }),
        }),
        (endpoints, slots, r) => {
          const items = endpoints.map((e, i) => `${e}${i}`);
          const room = rooms(r);
          const { going, waiting } = fitting(items, slots, endpointOf, room);
          const count = (xs: string[], e: string) => xs.filter((x) => endpointOf(x) === e).length;
          // Every item once, each list in the items' order.
          assert.deepEqual([...going, ...waiting].sort(), [...items].sort());
          const order = (xs: string[]) => xs.map((x) => items.indexOf(x));
          assert.deepEqual(
            order(going),
            order(going).toSorted((x, y) => x - y),
          );
          assert.deepEqual(
            order(waiting),
            order(waiting).toSorted((x, y) => x - y),
          );
          // Within the slots and each endpoint's room.
          assert.ok(going.length <= slots);
          for (const e of 'abcd') assert.ok(count(going, e) <= Math.max(0, room(e)));
          // Nothing waits that could have gone: the slots are used up, or its endpoint's room
          // is, by items ahead of it.
          for (const w of waiting) {
            const ahead = going.filter((g) => items.indexOf(g) < items.indexOf(w));
            assert.ok(
              ahead.length >= slots || count(ahead, endpointOf(w)) >= room(endpointOf(w)),
              `${w} waits with room: ${JSON.stringify({ going, waiting, slots, r })}`,
            );
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
