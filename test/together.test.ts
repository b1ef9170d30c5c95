// together (src/db/together.ts): independent reads sent at once. On PostgreSQL they travel in
// one round trip (after whatever the transaction holds); on SQLite they run one after
// another. Either way each query gets its own rows, in order, and a read placed after a row
// lock reads what the lock's holder committed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { createDatabase, type Database, type ExecutedStatement } from '../src/db/engine.ts';
import { prepared } from '../src/db/prepared.ts';
import { withRowLock } from '../src/db/row-lock.ts';
import type { DB } from '../src/db/schema.ts';
import { together } from '../src/db/together.ts';
import { createTestDatabase, TEST_ENGINE, type TestDatabase } from './support/database.ts';

// A scratch table outside the schema's types.
type Scratch = Kysely<Record<string, { id: string; v: number }>>;
const scratch = (db: Kysely<DB>) => db as unknown as Scratch;

const valueOf = prepared((db: Kysely<DB>, id: string) =>
  scratch(db).selectFrom('tg').select(['id', 'v']).where('id', '=', id),
);
const lockOf = prepared((db: Kysely<DB>, id: string) =>
  withRowLock(db, scratch(db).selectFrom('tg').select('id').where('id', '=', id), 'update'),
);
const setValue = prepared(
  (db: Kysely<DB>, id: string, v: number) =>
    scratch(db).updateTable('tg').set({ v }).where('id', '=', id),
  { deferred: true },
);
const insertLater = prepared(
  (db: Kysely<DB>, id: string, v: number) => scratch(db).insertInto('tg').values({ id, v }),
  { deferred: true },
);

void describe(`together (${TEST_ENGINE})`, () => {
  let testDb: TestDatabase;
  let database: Database;
  let seen: ExecutedStatement[] | null = null;

  before(async () => {
    testDb = await createTestDatabase();
    database = createDatabase(testDb.config, { onStatement: (s) => seen?.push(s) });
    await sql`create table tg (id text primary key, v integer not null)`.execute(database.db);
    await sql`insert into tg (id, v) values ('a', 1), ('b', 2)`.execute(database.db);
  });
  after(async () => {
    await database.close();
    await testDb.drop();
  });

  void test('each query gets its own rows, in the order given', async () => {
    const { db } = database;
    const [a, none, b] = await together(
      db,
      valueOf.compile(db, 'a'),
      valueOf.compile(db, 'missing'),
      CompiledQuery.raw('select count(*) as n from tg where v > 1', []) as CompiledQuery<{
        n: number | string;
      }>,
    );
    assert.deepEqual(a, [{ id: 'a', v: 1 }]);
    assert.deepEqual(none, []);
    assert.deepEqual(
      b.map((r) => Number(r.n)),
      [1],
    );
  });

  void test('on PostgreSQL one round trip; on SQLite one statement after another', async () => {
    const { db } = database;
    seen = [];
    try {
      await together(db, valueOf.compile(db, 'a'), valueOf.compile(db, 'b'));
    } finally {
      const trips = seen.map((s) => Boolean(s.withNext));
      seen = null;
      // withNext: the statement went in the same round trip as the one after it.
      assert.deepEqual(trips, TEST_ENGINE === 'postgres' ? [true, false] : [false, false]);
    }
  });

  void test('in a transaction, reads sent together see the writes held before them', async () => {
    const rows = await database.transaction(async (tx) => {
      await insertLater(tx, 'c', 3);
      return together(tx, valueOf.compile(tx, 'c'), valueOf.compile(tx, 'a'));
    });
    assert.deepEqual(rows, [[{ id: 'c', v: 3 }], [{ id: 'a', v: 1 }]]);
  });

  void test('a read sent after a lock reads what the lock holder committed', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    const first = database.transaction(async (tx) => {
      await lockOf(tx, 'b');
      await setValue(tx, 'b', 20);
      await valueOf(tx, 'b'); // sends the held update
      locked();
      await gate;
    });
    await holding;
    let done = false;
    const second = database
      .transaction((tx) => together(tx, lockOf.compile(tx, 'b'), valueOf.compile(tx, 'b')))
      .finally(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(done, false, 'waits for the lock');
    release();
    await first;
    const [, b] = await second;
    assert.deepEqual(b, [{ id: 'b', v: 20 }]);
  });

  void test('a failing query fails the whole call; the transaction rolls back', async () => {
    await assert.rejects(
      database.transaction(async (tx) => {
        await insertLater(tx, 'd', 4);
        await together(
          tx,
          valueOf.compile(tx, 'a'),
          CompiledQuery.raw('select * from no_such_table', []),
        );
      }),
    );
    const { db } = database;
    const [d, a] = await together(db, valueOf.compile(db, 'd'), valueOf.compile(db, 'a'));
    assert.deepEqual(d, [], 'the held insert went nowhere');
    assert.deepEqual(a, [{ id: 'a', v: 1 }], 'the connection answers again');
  });

  void test('a held write cannot be sent together', async () => {
    const { db } = database;
    await assert.rejects(
      together(db, setValue.compile(db, 'a', 9), valueOf.compile(db, 'a')),
      /held write/,
    );
    assert.deepEqual((await valueOf(db, 'a')).rows, [{ id: 'a', v: 1 }]);
  });
});
