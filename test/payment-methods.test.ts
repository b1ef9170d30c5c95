// API.md §3.3 payment methods over HTTP on the engine under test: shapes, Arabic text,
// pagination, partial locale updates, delete-or-hide, roles, validation, tenant isolation and
// the event appended by every write.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import type { Role } from '../src/db/schema.ts';
import { newId } from '../src/shared/ids.ts';
import {
  findPaymentMethodsByIds,
  insertPaymentMethod,
  isCodeUniqueViolation,
  type PaymentMethodRow,
} from '../src/payment-methods/payment-methods.repository.ts';
import { toPaymentMethod } from '../src/payment-methods/payment-methods.view.ts';
import { WARNINGS } from '../src/shared/warnings.ts';
import { TEST_ENGINE } from './support/database.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

const URL = '/v1/om/payment-methods';
const ENVELOPE_KEYS = ['app', 'data', 'instanceId', 'requestId', 'service', 'warnings'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const cash = () => ({
  locales: {
    ar: { name: 'نقدي', description: 'الدفع نقداً عند الاستلام' },
    en: { name: 'Cash', description: 'Paid in cash' },
  },
});

const named = (en: string, extra: object = {}) => ({
  locales: { ar: { name: `طريقة ${en}` }, en: { name: en } },
  ...extra,
});

void describe(`payment methods (${TEST_ENGINE})`, () => {
  let t: TestApp;
  let org: TestOrg;
  let orderNumber = 0;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
  });
  after(() => t.close());

  const call = (o: TestOrg, role: Role, options: InjectOptions) => t.call(o, role, options);
  const create = (o: TestOrg, params: unknown, role: Role = 'admin') =>
    call(o, role, { method: 'POST', url: URL, payload: { params } });
  const get = (o: TestOrg, id: string, role: Role = 'viewer') =>
    call(o, role, { method: 'GET', url: `${URL}/${id}` });
  const patch = (o: TestOrg, id: string, params: unknown, role: Role = 'admin') =>
    call(o, role, { method: 'PATCH', url: `${URL}/${id}`, payload: { params } });
  const remove = (o: TestOrg, id: string, role: Role = 'admin') =>
    call(o, role, { method: 'DELETE', url: `${URL}/${id}` });
  const list = (o: TestOrg, query = '', role: Role = 'viewer') =>
    call(o, role, { method: 'GET', url: `${URL}${query}` });

  async function createId(o: TestOrg, params: unknown): Promise<string> {
    const r = await create(o, params);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.id as string;
  }

  async function method(o: TestOrg, id: string): Promise<any> {
    const r = await get(o, id);
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data.paymentMethod;
  }

  async function allPages(o: TestOrg, query: string): Promise<any[]> {
    const items: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await list(o, `?limit=100${query}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.statusCode, 200, r.body);
      items.push(...json(r).data.items);
      cursor = json(r).data.next;
    } while (cursor !== null && ++pages < 20);
    return items;
  }

  const eventsOf = (o: TestOrg, entityId: string) =>
    t.database.db
      .selectFrom('events')
      .selectAll()
      .where('organization_id', '=', o.id)
      .where('entity_id', '=', entityId)
      .orderBy('id')
      .execute();

  const eventCount = async (o: TestOrg) =>
    (
      await t.database.db
        .selectFrom('events')
        .select('id')
        .where('organization_id', '=', o.id)
        .execute()
    ).length;

  const methodRows = (o: TestOrg) =>
    t.database.db
      .selectFrom('payment_methods')
      .selectAll()
      .where('organization_id', '=', o.id)
      .orderBy('id')
      .execute();

  /** An order and a payment on it that uses `methodId`, written straight to the tables. */
  async function insertPaymentUsing(o: TestOrg, methodId: string, deletedAt: string | null) {
    const at = new Date().toISOString();
    const audit = {
      created_at: at,
      created_via: 'test',
      created_by: 'test',
      updated_at: at,
      updated_via: 'test',
      updated_by: 'test',
    };
    const orderId = newId();
    await t.database.db
      .insertInto('orders')
      .values({
        organization_id: o.id,
        id: orderId,
        number: ++orderNumber,
        status: 'open',
        total_minor: 1000,
        customer_uid: null,
        external_ref: null,
        closed_at: null,
        canceled_at: null,
        ...audit,
      })
      .execute();
    await t.database.db
      .insertInto('payments')
      .values({
        organization_id: o.id,
        id: newId(),
        order_id: orderId,
        type: 'receipt',
        status: deletedAt === null ? 'complete' : 'pending',
        amount_minor: 500,
        custom: 1,
        method_id: methodId,
        customer_uid: null,
        source_payment_id: null,
        transaction_ref: null,
        invoice_id: null,
        note: null,
        completed_at: deletedAt === null ? at : null,
        reversed_at: null,
        deleted_at: deletedAt,
        ...audit,
      })
      .execute();
  }

  /** The error body without its requestId, to compare two answers. */
  const errorOf = (body: string) => {
    const parsed = JSON.parse(body);
    assert.deepEqual(Object.keys(parsed).sort(), ['error', 'requestId']);
    return parsed.error;
  };

  void test('create answers {id}; get returns the method exactly as the seed shapes it', async () => {
    const created = await create(org, { ...cash(), code: 'cash' });
    assert.equal(created.statusCode, 200, created.body);
    const body = json(created);
    assert.deepEqual(Object.keys(body).sort(), ENVELOPE_KEYS);
    assert.deepEqual(body.warnings, []);
    assert.equal(body.service, 'om');
    assert.deepEqual(Object.keys(body.data), ['id']);
    const id = body.data.id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    const got = await get(org, id);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(Object.keys(json(got).data), ['paymentMethod']);
    const pm = json(got).data.paymentMethod;
    assert.match(pm.createdAt, ISO);
    assert.deepEqual(pm, {
      id,
      locales: {
        ar: { name: 'نقدي', description: 'الدفع نقداً عند الاستلام' },
        en: { name: 'Cash', description: 'Paid in cash' },
      },
      visible: true,
      code: 'cash',
      createdAt: pm.createdAt,
      createdVia: 'pos',
      createdBy: 'admin@test',
      updatedAt: pm.createdAt,
      updatedVia: 'pos',
      updatedBy: 'admin@test',
    });
    // The Arabic text is stored as sent, not escaped or normalized.
    const row = (await methodRows(org)).find((r) => r.id === id);
    assert.equal(row?.name_ar, 'نقدي');
    assert.equal(row?.description_ar, 'الدفع نقداً عند الاستلام');
  });

  void test('defaults: description null, visible true, code null; visible false is kept', async () => {
    const id = await createId(org, named('Plain'));
    const pm = await method(org, id);
    assert.deepEqual(pm.locales, {
      ar: { name: 'طريقة Plain', description: null },
      en: { name: 'Plain', description: null },
    });
    assert.equal(pm.visible, true);
    assert.equal(pm.code, null);
    const hidden = await method(
      org,
      await createId(org, { ...named('Hidden'), visible: false, code: 'hidden-1' }),
    );
    assert.equal(hidden.visible, false);
    assert.equal(hidden.code, 'hidden-1');
  });

  void test('a missing id is 404 NOT_FOUND in the error envelope', async () => {
    for (const r of [
      await get(org, newId()),
      await patch(org, newId(), { visible: false }),
      await remove(org, newId()),
    ]) {
      assert.equal(r.statusCode, 404, r.body);
      assert.equal(errorOf(r.body).code, 'NOT_FOUND');
    }
  });

  void test('list: 25 methods in pages of 10, newest first, no skips or repeats', async () => {
    const fresh = await t.createOrg('KWD');
    const made: string[] = [];
    for (let i = 0; i < 25; i++) made.push(await createId(fresh, named(`M${i}`)));
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await list(fresh, `?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(r.statusCode, 200, r.body);
      const data = json(r).data;
      assert.deepEqual(Object.keys(data).sort(), ['items', 'next']);
      sizes.push(data.items.length);
      seen.push(...data.items.map((m: any) => m.id));
      cursor = data.next;
      if (cursor !== null) assert.equal(typeof cursor, 'string');
    } while (cursor !== null && ++pages < 10);
    assert.deepEqual(sizes, [10, 10, 5]);
    assert.deepEqual(seen, [...made].reverse());
    // Items are the same objects GET returns.
    const first = json(await list(fresh, '?limit=1')).data.items[0];
    assert.deepEqual(first, await method(fresh, made[24]!));
    for (const bad of ['?limit=0', '?limit=101', '?cursor=bm9wZQ', '?colour=red']) {
      const r = await list(fresh, bad);
      assert.equal(r.statusCode, 400, bad);
      assert.equal(json(r).error.code, 'InvalidParameter', bad);
    }
  });

  void test('list filters: visible and code', async () => {
    const fresh = await t.createOrg('SAR');
    const shown = [
      await createId(fresh, named('A')),
      await createId(fresh, named('B', { code: 'card' })),
      await createId(fresh, named('C', { visible: true })),
    ];
    const hidden = [
      await createId(fresh, named('D', { visible: false })),
      await createId(fresh, named('E', { visible: false, code: 'old-card' })),
    ];
    const ids = async (query: string) => (await allPages(fresh, query)).map((m) => m.id);
    assert.deepEqual(await ids('&visible=false'), [...hidden].reverse());
    assert.deepEqual(await ids('&visible=true'), [...shown].reverse());
    assert.deepEqual(await ids(''), [...shown, ...hidden].reverse());
    assert.deepEqual(await ids('&code=card'), [shown[1]]);
    assert.deepEqual(await ids('&code=old-card&visible=true'), []);
    assert.deepEqual(await ids('&code=old-card&visible=false'), [hidden[1]]);
    for (const bad of ['?visible=maybe', '?code=Not%20A%20Code']) {
      const r = await list(fresh, bad);
      assert.equal(r.statusCode, 400, bad);
      assert.equal(json(r).error.details.field, bad.slice(1).split('=')[0]);
    }
  });

  void test('PATCH merges locales per language and field; audit names the changing key', async () => {
    // Created by the root key (principal root, via api), changed by the org's admin key.
    const created = await t.app.inject({
      method: 'POST',
      url: URL,
      headers: { 'api-key': t.rootKey, 'organization-id': org.id },
      payload: { params: { ...cash(), code: 'cash-2' } },
    });
    assert.equal(created.statusCode, 200, created.body);
    const id = json(created).data.id;
    const before = await method(org, id);
    assert.equal(before.createdBy, 'root');
    assert.equal(before.createdVia, 'api');

    const r = await patch(org, id, { locales: { en: { name: 'Card' } } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(json(r).data, { success: true });
    assert.deepEqual(json(r).warnings, []);
    const afterName = await method(org, id);
    assert.deepEqual(afterName.locales, {
      ar: before.locales.ar,
      en: { name: 'Card', description: 'Paid in cash' },
    });
    assert.equal(afterName.createdBy, 'root');
    assert.equal(afterName.createdVia, 'api');
    assert.equal(afterName.createdAt, before.createdAt);
    assert.equal(afterName.updatedBy, 'admin@test');
    assert.equal(afterName.updatedVia, 'pos');
    assert.match(afterName.updatedAt, ISO);
    assert.ok(afterName.updatedAt >= before.updatedAt);
    assert.equal(afterName.visible, true);
    assert.equal(afterName.code, 'cash-2');

    assert.equal(
      (await patch(org, id, { locales: { ar: { description: null } } })).statusCode,
      200,
    );
    const afterDescription = await method(org, id);
    assert.deepEqual(afterDescription.locales, {
      ar: { name: 'نقدي', description: null },
      en: { name: 'Card', description: 'Paid in cash' },
    });

    assert.equal(
      (
        await patch(org, id, {
          visible: false,
          code: 'card',
          locales: { ar: { name: 'بطاقة' }, en: { description: 'Debit or credit' } },
        })
      ).statusCode,
      200,
    );
    const afterMany = await method(org, id);
    assert.equal(afterMany.visible, false);
    assert.equal(afterMany.code, 'card');
    assert.deepEqual(afterMany.locales, {
      ar: { name: 'بطاقة', description: null },
      en: { name: 'Card', description: 'Debit or credit' },
    });

    // null removes the code, which another method may then take.
    assert.equal((await patch(org, id, { code: null })).statusCode, 200);
    assert.equal((await method(org, id)).code, null);
    assert.equal((await create(org, named('Other card', { code: 'card' }))).statusCode, 200);

    const events = await eventsOf(org, id);
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'payment-method.created',
        'payment-method.updated',
        'payment-method.updated',
        'payment-method.updated',
        'payment-method.updated',
      ],
    );
    const firstUpdate = events[1]!;
    assert.deepEqual(JSON.parse(firstUpdate.data), afterName);
    const changes = JSON.parse(firstUpdate.changes!);
    assert.deepEqual(changes.locales, { before: before.locales, after: afterName.locales });
    assert.equal(changes.visible, undefined);
    assert.equal(changes.code, undefined);
    assert.equal(firstUpdate.actor_by, 'admin@test');
    assert.equal(firstUpdate.actor_via, 'pos');
    assert.equal(firstUpdate.request_id, json(r).requestId);
    assert.equal(firstUpdate.entity_type, 'payment-method');
    assert.equal(events[0]!.changes, null);
  });

  void test('a PATCH that changes nothing writes nothing: no audit stamp, no event', async () => {
    const id = await createId(org, named('Still', { code: 'still' }));
    const before = await method(org, id);
    for (const params of [
      {},
      { visible: true, code: 'still' },
      { locales: { en: { name: 'Still' } } },
    ]) {
      const r = await patch(org, id, params, 'admin');
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(json(r).data, { success: true });
    }
    assert.deepEqual(await method(org, id), before);
    assert.deepEqual(
      (await eventsOf(org, id)).map((e) => e.type),
      ['payment-method.created'],
    );
  });

  void test('DELETE of an unused method removes it: GET 404, gone from lists and the table', async () => {
    const id = await createId(org, named('Temporary', { code: 'temp' }));
    const before = await method(org, id);
    const r = await remove(org, id);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(Object.keys(json(r)).sort(), ENVELOPE_KEYS);
    assert.deepEqual(json(r).data, { success: true });
    assert.deepEqual(json(r).warnings, []);

    const gone = await get(org, id);
    assert.equal(gone.statusCode, 404);
    assert.equal(json(gone).error.code, 'NOT_FOUND');
    assert.ok(!(await allPages(org, '')).some((m) => m.id === id));
    assert.ok(!(await methodRows(org)).some((m) => m.id === id));
    // Its code is free again.
    assert.equal((await create(org, named('Temporary again', { code: 'temp' }))).statusCode, 200);

    const events = await eventsOf(org, id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['payment-method.created', 'payment-method.deleted'],
    );
    assert.deepEqual(JSON.parse(events[1]!.data), before, 'the event keeps the method as it was');
    assert.equal(events[1]!.request_id, json(r).requestId);
    assert.equal((await remove(org, id)).statusCode, 404);
  });

  void test('DELETE of a method a payment uses hides it, with METHOD_HIDDEN_NOT_DELETED', async () => {
    const id = await createId(org, { ...cash(), code: 'used' });
    await insertPaymentUsing(org, id, null);
    const before = await method(org, id);

    const r = await remove(org, id);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(json(r).data, { success: true });
    assert.deepEqual(json(r).warnings, [
      {
        code: 'METHOD_HIDDEN_NOT_DELETED',
        message: WARNINGS.METHOD_HIDDEN_NOT_DELETED,
        methodId: id,
      },
    ]);

    const hidden = await method(org, id);
    assert.deepEqual(hidden, {
      ...before,
      visible: false,
      updatedAt: hidden.updatedAt,
      updatedBy: 'admin@test',
      updatedVia: 'pos',
    });
    assert.ok((await allPages(org, '&visible=false')).some((m) => m.id === id));
    assert.ok(!(await allPages(org, '&visible=true')).some((m) => m.id === id));

    const events = await eventsOf(org, id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['payment-method.created', 'payment-method.hidden'],
    );
    assert.deepEqual(JSON.parse(events[1]!.data), hidden);
    assert.deepEqual(JSON.parse(events[1]!.changes!).visible, { before: true, after: false });

    // Deleting it again: still not deleted, same warning, nothing more recorded.
    const again = await remove(org, id);
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(json(again).warnings[0].code, 'METHOD_HIDDEN_NOT_DELETED');
    assert.deepEqual(await method(org, id), hidden);
    assert.equal((await eventsOf(org, id)).length, 2);
  });

  void test('a payment that was deleted (kept for audit) still keeps its method from deletion', async () => {
    const id = await createId(org, named('Once used'));
    await insertPaymentUsing(org, id, new Date().toISOString());
    const r = await remove(org, id);
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(json(r).warnings[0]?.code, 'METHOD_HIDDEN_NOT_DELETED');
    assert.equal((await method(org, id)).visible, false);
  });

  void test('viewer, cashier and manager may read but not write (403, nothing changes)', async () => {
    const id = await createId(org, { ...cash(), code: 'guarded' });
    const before = await method(org, id);
    const rowsBefore = await methodRows(org);
    const eventsBefore = await eventCount(org);
    for (const role of ['viewer', 'cashier', 'manager'] as const) {
      for (const r of [
        await create(org, named(`By ${role}`), role),
        await patch(org, id, { visible: false, locales: { en: { name: role } } }, role),
        await remove(org, id, role),
      ]) {
        assert.equal(r.statusCode, 403, `${role}: ${r.body}`);
        assert.equal(json(r).error.code, 'FORBIDDEN');
      }
      const read = await get(org, id, role);
      assert.equal(read.statusCode, 200, role);
      assert.deepEqual(json(read).data.paymentMethod, before);
      const listed = await list(org, '?limit=100', role);
      assert.equal(listed.statusCode, 200, role);
      assert.ok(json(listed).data.items.some((m: any) => m.id === id));
    }
    assert.deepEqual(await methodRows(org), rowsBefore);
    assert.equal(await eventCount(org), eventsBefore);
  });

  void test('invalid creates are 400 InvalidParameter naming the field, and store nothing', async () => {
    const fresh = await t.createOrg('SAR');
    await createId(fresh, named('Existing', { code: 'cash' }));
    const rowsBefore = await methodRows(fresh);
    const eventsBefore = await eventCount(fresh);
    const en = { name: 'Cash' };
    const ar = { name: 'نقدي' };
    const cases: [string, unknown, string, string?][] = [
      ['missing en', { locales: { ar } }, 'locales.en', 'is required'],
      ['missing ar', { locales: { en } }, 'locales.ar', 'is required'],
      ['missing locales', { code: 'x' }, 'locales', 'is required'],
      ['missing name', { locales: { ar: { description: 'd' }, en } }, 'locales.ar.name'],
      ['name too long', { locales: { ar, en: { name: 'x'.repeat(101) } } }, 'locales.en.name'],
      ['empty name', { locales: { ar, en: { name: '' } } }, 'locales.en.name'],
      ['blank name', { locales: { ar: { name: '   ' }, en } }, 'locales.ar.name'],
      [
        'description too long',
        { locales: { ar: { name: 'نقدي', description: 'ن'.repeat(501) }, en } },
        'locales.ar.description',
      ],
      [
        'description a number',
        { locales: { ar, en: { name: 'Cash', description: 5 } } },
        'locales.en.description',
      ],
      ['uppercase code', { locales: { ar, en }, code: 'Cash' }, 'code'],
      ['code starting with -', { locales: { ar, en }, code: '-cash' }, 'code'],
      ['code with a space', { locales: { ar, en }, code: 'ca sh' }, 'code'],
      ['code of 33 characters', { locales: { ar, en }, code: 'a'.repeat(33) }, 'code'],
      ['empty code', { locales: { ar, en }, code: '' }, 'code'],
      ['null code', { locales: { ar, en }, code: null }, 'code'],
      ['duplicate code', { locales: { ar, en }, code: 'cash' }, 'code', 'already used'],
      ['unknown property', { locales: { ar, en }, colour: 'red' }, 'colour', 'unknown property'],
      [
        'unknown locale field',
        { locales: { ar, en: { name: 'Cash', icon: 'x' } } },
        'locales.en.icon',
        'unknown property',
      ],
      [
        'unknown language',
        { locales: { ar, en, fr: { name: 'Espèces' } } },
        'locales.fr',
        'unknown property',
      ],
      ['visible as a string', { locales: { ar, en }, visible: 'true' }, 'visible'],
      ['visible as a number', { locales: { ar, en }, visible: 1 }, 'visible'],
    ];
    for (const [label, params, field, reason] of cases) {
      const r = await create(fresh, params);
      assert.equal(r.statusCode, 400, `${label}: ${r.body}`);
      const error = json(r).error;
      assert.equal(error.code, 'InvalidParameter', label);
      assert.equal(error.details.field, field, label);
      if (reason !== undefined) assert.equal(error.details.reason, reason, label);
    }
    const noParams = await call(fresh, 'admin', { method: 'POST', url: URL, payload: {} });
    assert.equal(noParams.statusCode, 400);
    assert.equal(json(noParams).error.details.field, 'params');

    assert.deepEqual(await methodRows(fresh), rowsBefore, 'nothing stored');
    assert.equal(await eventCount(fresh), eventsBefore, 'no event');

    // The limits themselves are allowed (counted in characters, Arabic included).
    const edge = await method(
      fresh,
      await createId(fresh, {
        locales: {
          ar: { name: 'ن'.repeat(100), description: 'ن'.repeat(500) },
          en: { name: 'x'.repeat(100), description: null },
        },
        code: `0${'a_-'.repeat(10)}z`,
      }),
    );
    assert.equal(edge.locales.ar.name, 'ن'.repeat(100));
    assert.equal(edge.locales.ar.description.length, 500);
    assert.equal(edge.code.length, 32);
  });

  void test('invalid updates are 400 InvalidParameter and change nothing', async () => {
    await createId(org, named('Taken', { code: 'taken' }));
    const id = await createId(org, { ...cash(), code: 'mine' });
    const before = await method(org, id);
    const cases: [string, unknown, string, string?][] = [
      ['duplicate code', { code: 'taken' }, 'code', 'already used'],
      ['bad code', { code: 'Mine!' }, 'code'],
      ['visible as a string', { visible: 'false' }, 'visible'],
      ['name too long', { locales: { ar: { name: 'ن'.repeat(101) } } }, 'locales.ar.name'],
      ['empty name', { locales: { en: { name: '' } } }, 'locales.en.name'],
      ['name null', { locales: { en: { name: null } } }, 'locales.en.name'],
      [
        'unknown locale field',
        { locales: { en: { label: 'x' } } },
        'locales.en.label',
        'unknown property',
      ],
      ['unknown property', { id: 'other' }, 'id', 'unknown property'],
    ];
    for (const [label, params, field, reason] of cases) {
      const r = await patch(org, id, params);
      assert.equal(r.statusCode, 400, `${label}: ${r.body}`);
      assert.equal(json(r).error.code, 'InvalidParameter', label);
      assert.equal(json(r).error.details.field, field, label);
      if (reason !== undefined) assert.equal(json(r).error.details.reason, reason, label);
    }
    assert.deepEqual(await method(org, id), before);
    assert.deepEqual(
      (await eventsOf(org, id)).map((e) => e.type),
      ['payment-method.created'],
    );
    // Keeping its own code is not a conflict.
    assert.equal((await patch(org, id, { code: 'mine', visible: false })).statusCode, 200);
  });

  void test('codes are unique per organization only; racing creates of one code give one method', async () => {
    const a = await t.createOrg('SAR');
    const b = await t.createOrg('SAR');
    assert.equal((await create(a, named('Cash', { code: 'cash' }))).statusCode, 200);
    assert.equal((await create(b, named('Cash', { code: 'cash' }))).statusCode, 200);

    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => create(a, named(`Rush ${i}`, { code: 'rush' }))),
    );
    const statuses = answers.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400, 400, 400], statuses.join());
    for (const r of answers.filter((x) => x.statusCode === 400)) {
      assert.deepEqual(json(r).error.details, { field: 'code', reason: 'already used' });
    }
    assert.equal((await methodRows(a)).filter((m) => m.code === 'rush').length, 1);
  });

  void test('the unique constraint on code is recognised on this engine, and only it', async () => {
    const row = (code: string | null): PaymentMethodRow => {
      const at = new Date().toISOString();
      return {
        organization_id: org.id,
        id: newId(),
        code,
        name_ar: 'أ',
        description_ar: null,
        name_en: 'A',
        description_en: null,
        visible: 1,
        created_at: at,
        created_via: 'test',
        created_by: 'test',
        updated_at: at,
        updated_via: 'test',
        updated_by: 'test',
      };
    };
    const first = row('backstop');
    await insertPaymentMethod(t.database.db, first);
    const sameCode = await insertPaymentMethod(t.database.db, row('backstop')).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(sameCode !== undefined, 'the database refuses a second row with the code');
    assert.equal(isCodeUniqueViolation(sameCode), true);
    const sameId = await insertPaymentMethod(t.database.db, { ...row('other'), id: first.id }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(sameId !== undefined, 'the database refuses a second row with the id');
    assert.equal(isCodeUniqueViolation(sameId), false);
    assert.equal(isCodeUniqueViolation(new Error('UNIQUE constraint failed')), false);
    // Methods without a code never collide.
    await insertPaymentMethod(t.database.db, row(null));
    await insertPaymentMethod(t.database.db, row(null));
  });

  void test("another organization's method is a 404 identical to a missing one", async () => {
    const a = await t.createOrg('SAR');
    const b = await t.createOrg('SAR');
    const mine = await createId(a, named('Mine'));
    const theirs = await createId(b, { ...cash(), code: 'theirs' });
    const theirsBefore = await method(b, theirs);
    const missing = newId();

    const pairs: [string, (id: string) => Promise<{ statusCode: number; body: string }>][] = [
      ['GET', (id) => get(a, id, 'admin')],
      ['GET viewer', (id) => get(a, id, 'viewer')],
      ['PATCH', (id) => patch(a, id, { visible: false, locales: { en: { name: 'Stolen' } } })],
      ['DELETE', (id) => remove(a, id)],
    ];
    for (const [label, send] of pairs) {
      const foreign = await send(theirs);
      const absent = await send(missing);
      assert.equal(foreign.statusCode, 404, `${label}: ${foreign.body}`);
      assert.equal(absent.statusCode, 404, label);
      assert.deepEqual(errorOf(foreign.body), errorOf(absent.body), label);
      assert.equal(errorOf(foreign.body).code, 'NOT_FOUND');
    }
    // Nothing happened to B's method, and A's list never shows it.
    assert.deepEqual(await method(b, theirs), theirsBefore);
    assert.deepEqual(
      (await eventsOf(b, theirs)).map((e) => e.type),
      ['payment-method.created'],
    );
    assert.deepEqual(
      (await allPages(a, '')).map((m) => m.id),
      [mine],
    );
    assert.deepEqual(await allPages(a, '&code=theirs'), []);
    assert.deepEqual(
      (await allPages(b, '')).map((m) => m.id),
      [theirs],
    );
  });

  void test('every write appends exactly one event of its type, with the method and the actor', async () => {
    const fresh = await t.createOrg('SAR');
    const created = await create(fresh, { ...cash(), code: 'evented' });
    const id = json(created).data.id;
    const afterCreate = await method(fresh, id);
    let events = await eventsOf(fresh, id);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'payment-method.created');
    assert.equal(events[0]!.entity_type, 'payment-method');
    assert.deepEqual(JSON.parse(events[0]!.data), afterCreate);
    assert.equal(events[0]!.actor_by, 'admin@test');
    assert.equal(events[0]!.actor_via, 'pos');
    assert.equal(events[0]!.request_id, json(created).requestId);
    assert.equal(events[0]!.created_at, afterCreate.createdAt);

    await patch(fresh, id, { visible: false });
    events = await eventsOf(fresh, id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['payment-method.created', 'payment-method.updated'],
    );
    assert.deepEqual(JSON.parse(events[1]!.changes!).visible, { before: true, after: false });

    await remove(fresh, id);
    events = await eventsOf(fresh, id);
    assert.deepEqual(
      events.map((e) => e.type),
      ['payment-method.created', 'payment-method.updated', 'payment-method.deleted'],
    );
    assert.equal(await eventCount(fresh), 3, 'no events about anything else');
  });

  void test('findPaymentMethodsByIds: this organization only, in the order asked, no repeats', async () => {
    const a = await t.createOrg('SAR');
    const b = await t.createOrg('SAR');
    const a1 = await createId(a, named('A1'));
    const a2 = await createId(a, named('A2', { visible: false }));
    const b1 = await createId(b, named('B1'));
    const rows = await findPaymentMethodsByIds(t.database.db, a.id, [b1, a2, newId(), a1, a2]);
    assert.deepEqual(
      rows.map((r) => r.id),
      [a2, a1],
    );
    assert.deepEqual(rows.map(toPaymentMethod), [await method(a, a2), await method(a, a1)]);
    assert.deepEqual(await findPaymentMethodsByIds(t.database.db, a.id, []), []);
  });
});
