// API.md §3.4 invoices, on the engine under test: shapes, create/update rules and their exact
// codes, the open → closed lifecycle, roles and `can`, pagination, tenant isolation, events.
// Orders are inserted as rows (the orders API is built separately).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { OrderStatus, Role } from '../src/db/schema.ts';
import {
  INVOICE_ACTIONS,
  canInvoice,
  canTransition,
  checkInvoiceAction,
  checkInvoiceTerms,
  invoiceCan,
  type InvoiceAction,
} from '../src/invoices/invoices.rules.ts';
import { newId, nowIso } from '../src/shared/ids.ts';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

const ROLES: Role[] = ['viewer', 'cashier', 'manager', 'admin'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const INVOICE_KEYS = [
  'applyExpiresAt',
  'can',
  'createdAt',
  'createdBy',
  'createdVia',
  'id',
  'invoiceNumber',
  'invoiceSource',
  'invoicedAt',
  'orderId',
  'referenceInvoiceId',
  'status',
  'type',
  'updatedAt',
  'updatedBy',
  'updatedVia',
];

void describe('invoice rules (pure)', () => {
  void test('open → closed is the only transition', () => {
    assert.equal(canTransition('open', 'closed'), true);
    assert.equal(canTransition('closed', 'open'), false);
    assert.equal(canTransition('closed', 'closed'), false);
    assert.equal(canTransition('open', 'open'), false);
  });

  void test('every (invoice status, order status, role, action) has the expected answer', () => {
    const expected: Record<string, InvoiceAction[]> = {
      'open/open': ['update', 'delete', 'close'],
      'open/closed': ['delete', 'close'],
      'open/canceled': ['delete'],
      'closed/open': ['send'],
      'closed/closed': ['send'],
      'closed/canceled': ['send'],
    };
    for (const status of ['open', 'closed'] as const) {
      for (const orderStatus of ['open', 'closed', 'canceled'] as const) {
        for (const role of ROLES) {
          const can = invoiceCan({ status }, orderStatus, role);
          const manager = role === 'manager' || role === 'admin';
          assert.deepEqual(can, manager ? expected[`${status}/${orderStatus}`] : []);
          for (const action of INVOICE_ACTIONS) {
            const failure = checkInvoiceAction(action, { status }, orderStatus, role);
            assert.equal(canInvoice(action, { status }, orderStatus, role), failure === null);
            if (!manager) assert.equal(failure?.code, 'FORBIDDEN');
          }
        }
      }
    }
  });

  void test('terms: type first, then the reference', () => {
    const closedStandard = { orderId: 'o', type: 'standard', status: 'closed' } as const;
    const terms = (type: string, referenceInvoiceId: string | null) => ({
      orderId: 'o',
      type,
      referenceInvoiceId,
    });
    assert.equal(checkInvoiceTerms(terms('x', 'r'), closedStandard)?.code, 'TYPE_NOT_SUPPORTED');
    assert.equal(checkInvoiceTerms(terms('standard', null), undefined), null);
    assert.equal(checkInvoiceTerms(terms('prepayment', null), undefined), null);
    assert.equal(checkInvoiceTerms(terms('credit-note', 'r'), closedStandard), null);
    assert.equal(checkInvoiceTerms(terms('debit-note', 'r'), closedStandard), null);
    assert.equal(
      checkInvoiceTerms(terms('standard', 'r'), closedStandard)?.code,
      'InvalidParameter',
    );
    assert.equal(
      checkInvoiceTerms(terms('credit-note', null), undefined)?.code,
      'InvalidParameter',
    );
    assert.equal(
      checkInvoiceTerms(terms('credit-note', 'r'), { ...closedStandard, orderId: 'p' })?.code,
      'REF_INVOICE_NOT_FOUND',
    );
    assert.equal(
      checkInvoiceTerms(terms('credit-note', 'r'), { ...closedStandard, type: 'prepayment' })?.code,
      'NON_STANDARD_REF_INVOICE',
    );
    assert.equal(
      checkInvoiceTerms(terms('credit-note', 'r'), { ...closedStandard, status: 'open' })?.code,
      'REF_INVOICE_STILL_OPEN',
    );
  });
});

void describe('invoices API', () => {
  let t: TestApp;
  let org: TestOrg;
  let other: TestOrg;
  let orderNumber = 0;

  before(async () => {
    t = await startTestApp();
    org = await t.createOrg('SAR');
    other = await t.createOrg('KWD');
  });
  after(() => t.close());

  /** An order row, written directly (the orders API is built elsewhere). */
  async function insertOrder(o: TestOrg, status: OrderStatus = 'open'): Promise<string> {
    const id = newId();
    const at = nowIso();
    await t.database.db
      .insertInto('orders')
      .values({
        organization_id: o.id,
        id,
        number: ++orderNumber,
        status,
        total_minor: 10_000,
        customer_uid: null,
        external_ref: null,
        closed_at: status === 'closed' ? at : null,
        canceled_at: status === 'canceled' ? at : null,
        created_at: at,
        created_via: 'test',
        created_by: 'test',
        updated_at: at,
        updated_via: 'test',
        updated_by: 'test',
      })
      .execute();
    return id;
  }

  async function setOrderStatus(o: TestOrg, orderId: string, status: OrderStatus) {
    await t.database.db
      .updateTable('orders')
      .set({ status })
      .where('organization_id', '=', o.id)
      .where('id', '=', orderId)
      .execute();
  }

  type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
  const api = (o: TestOrg, role: Role, method: Method, url: string, params?: object) =>
    t.call(o, role, {
      method,
      url: `/v1/om${url}`,
      ...(params !== undefined && { payload: { params } }),
    });

  function expectOk(r: LightMyRequestResponse): any {
    assert.equal(r.statusCode, 200, r.body);
    return json(r).data;
  }

  function expectError(r: LightMyRequestResponse, status: number, code: string): any {
    assert.equal(r.statusCode, status, r.body);
    const body = json(r);
    assert.equal(body.error.code, code, r.body);
    return body.error;
  }

  async function createInvoice(o: TestOrg, params: object): Promise<string> {
    return expectOk(await api(o, 'manager', 'POST', '/invoices', params)).id;
  }

  async function getInvoice(o: TestOrg, id: string, role: Role = 'manager'): Promise<any> {
    return expectOk(await api(o, role, 'GET', `/invoices/${id}`)).invoice;
  }

  async function closeInvoice(o: TestOrg, id: string): Promise<any> {
    return expectOk(await api(o, 'manager', 'PATCH', `/invoices/${id}/close`));
  }

  /** A closed standard invoice on a new open order. */
  async function closedStandard(o: TestOrg, orderId?: string) {
    const order = orderId ?? (await insertOrder(o));
    const id = await createInvoice(o, { orderId: order });
    await closeInvoice(o, id);
    return { orderId: order, id };
  }

  async function eventCount(o: TestOrg): Promise<number> {
    const row = await t.database.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('organization_id', '=', o.id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async function invoiceRowCount(o: TestOrg): Promise<number> {
    const row = await t.database.db
      .selectFrom('invoices')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('organization_id', '=', o.id)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async function lastEvent(o: TestOrg) {
    return t.database.db
      .selectFrom('events')
      .selectAll()
      .where('organization_id', '=', o.id)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
  }

  void test('create → {id}; get → {invoice} with the full wire shape', async () => {
    const orderId = await insertOrder(org);
    const created = await api(org, 'manager', 'POST', '/invoices', {
      orderId,
      applyExpiresAt: '2030-01-01T03:00:00+03:00',
    });
    const data = expectOk(created);
    assert.deepEqual(Object.keys(data), ['id']);
    const got = await api(org, 'manager', 'GET', `/invoices/${data.id}`);
    assert.deepEqual(Object.keys(expectOk(got)), ['invoice']);
    const invoice = json(got).data.invoice;
    assert.deepEqual(Object.keys(invoice).sort(), INVOICE_KEYS);
    assert.equal(invoice.id, data.id);
    assert.equal(invoice.orderId, orderId);
    assert.equal(invoice.type, 'standard');
    assert.equal(invoice.status, 'open');
    assert.equal(invoice.referenceInvoiceId, null);
    assert.equal(invoice.applyExpiresAt, '2030-01-01T00:00:00.000Z');
    assert.equal(invoice.invoiceNumber, null);
    assert.equal(invoice.invoiceSource, null);
    assert.equal(invoice.invoicedAt, null);
    assert.deepEqual(invoice.can, ['update', 'delete', 'close']);
    assert.equal(invoice.createdBy, 'manager@test');
    assert.equal(invoice.createdVia, 'pos');
    assert.match(invoice.createdAt, ISO);
    assert.equal(invoice.updatedAt, invoice.createdAt);
    // Every type is accepted; explicit nulls mean "not set".
    for (const type of ['standard', 'prepayment']) {
      const id = await createInvoice(org, {
        orderId,
        type,
        referenceInvoiceId: null,
        applyExpiresAt: null,
      });
      const inv = await getInvoice(org, id);
      assert.equal(inv.type, type);
      assert.equal(inv.applyExpiresAt, null);
    }
    // Reads are for every role.
    assert.deepEqual((await getInvoice(org, data.id, 'viewer')).can, []);
    assert.deepEqual((await getInvoice(org, data.id, 'cashier')).can, []);
  });

  void test('PATCH → {success: true}; changes type, reference and expiry', async () => {
    const orderId = await insertOrder(org);
    const ref = await closedStandard(org, orderId);
    const id = await createInvoice(org, { orderId, type: 'prepayment' });
    const before = await getInvoice(org, id);
    const r = await api(org, 'admin', 'PATCH', `/invoices/${id}`, {
      applyExpiresAt: '2031-06-01T12:00:00Z',
    });
    assert.deepEqual(expectOk(r), { success: true });
    let inv = await getInvoice(org, id);
    assert.equal(inv.applyExpiresAt, '2031-06-01T12:00:00.000Z');
    assert.equal(inv.updatedBy, 'admin@test');
    assert.equal(inv.createdBy, 'manager@test');
    assert.ok(inv.updatedAt >= before.updatedAt);
    expectOk(
      await api(org, 'manager', 'PATCH', `/invoices/${id}`, {
        type: 'credit-note',
        referenceInvoiceId: ref.id,
        applyExpiresAt: null,
      }),
    );
    inv = await getInvoice(org, id);
    assert.equal(inv.type, 'credit-note');
    assert.equal(inv.referenceInvoiceId, ref.id);
    assert.equal(inv.applyExpiresAt, null);
    // Back to standard: the reference must be cleared explicitly.
    const keep = await api(org, 'manager', 'PATCH', `/invoices/${id}`, { type: 'standard' });
    assert.equal(expectError(keep, 400, 'InvalidParameter').details.field, 'referenceInvoiceId');
    expectOk(
      await api(org, 'manager', 'PATCH', `/invoices/${id}`, {
        type: 'standard',
        referenceInvoiceId: null,
      }),
    );
    inv = await getInvoice(org, id);
    assert.equal(inv.type, 'standard');
    assert.equal(inv.referenceInvoiceId, null);
    // An empty change is a success that records nothing.
    const events = await eventCount(org);
    assert.deepEqual(expectOk(await api(org, 'manager', 'PATCH', `/invoices/${id}`, {})), {
      success: true,
    });
    assert.equal(await eventCount(org), events);
    assert.deepEqual(await getInvoice(org, id), inv);
  });

  void test('PATCH follows the create rules', async () => {
    const orderId = await insertOrder(org);
    const open = await createInvoice(org, { orderId });
    const id = await createInvoice(org, { orderId });
    const patch = (params: object) => api(org, 'manager', 'PATCH', `/invoices/${id}`, params);
    expectError(await patch({ type: 'proforma' }), 400, 'TYPE_NOT_SUPPORTED');
    assert.equal(
      expectError(await patch({ type: 'credit-note' }), 400, 'InvalidParameter').details.field,
      'referenceInvoiceId',
    );
    expectError(
      await patch({ type: 'credit-note', referenceInvoiceId: open }),
      400,
      'REF_INVOICE_STILL_OPEN',
    );
    expectError(
      await patch({ type: 'debit-note', referenceInvoiceId: newId() }),
      400,
      'REF_INVOICE_NOT_FOUND',
    );
    const elsewhere = await closedStandard(org);
    expectError(
      await patch({ type: 'credit-note', referenceInvoiceId: elsewhere.id }),
      400,
      'REF_INVOICE_NOT_FOUND',
    );
    assert.equal(
      expectError(await patch({ referenceInvoiceId: open }), 400, 'InvalidParameter').details.field,
      'referenceInvoiceId',
    );
    assert.equal(
      expectError(await patch({ applyExpiresAt: 'tomorrow' }), 400, 'InvalidParameter').details
        .field,
      'applyExpiresAt',
    );
    assert.equal(
      expectError(await patch({ orderId }), 400, 'InvalidParameter').details.reason,
      'unknown property',
    );
    const unchanged = await getInvoice(org, id);
    assert.equal(unchanged.type, 'standard');
    assert.equal(unchanged.updatedAt, unchanged.createdAt);
    // The order's state counts as on create.
    await setOrderStatus(org, orderId, 'closed');
    expectError(await patch({ type: 'prepayment' }), 400, 'ORDER_CLOSED');
    await setOrderStatus(org, orderId, 'canceled');
    expectError(await patch({ type: 'prepayment' }), 400, 'ORDER_CANCELED');
  });

  void test('close → {invoiceNumber, invoiceSource, invoicedAt}; numbers follow each other', async () => {
    const orderId = await insertOrder(org);
    const a = await createInvoice(org, { orderId });
    const b = await createInvoice(org, { orderId });
    const first = await closeInvoice(org, a);
    assert.deepEqual(Object.keys(first).sort(), ['invoiceNumber', 'invoiceSource', 'invoicedAt']);
    assert.equal(first.invoiceSource, 'om-payments');
    assert.match(first.invoicedAt, ISO);
    assert.ok(Number.isInteger(first.invoiceNumber) && first.invoiceNumber >= 1);
    const second = expectOk(
      await api(org, 'manager', 'PATCH', `/invoices/${b}/close`, { invoiceSource: 'zatca' }),
    );
    assert.equal(second.invoiceNumber, first.invoiceNumber + 1);
    assert.equal(second.invoiceSource, 'zatca');
    const inv = await getInvoice(org, b);
    assert.equal(inv.status, 'closed');
    assert.equal(inv.invoiceNumber, second.invoiceNumber);
    assert.equal(inv.invoiceSource, 'zatca');
    assert.equal(inv.invoicedAt, second.invoicedAt);
    assert.deepEqual(inv.can, ['send']);
    // Optional body: `{}` and `{params: {}}` are fine too; unknown fields are not.
    const c = await createInvoice(org, { orderId });
    expectError(
      await api(org, 'manager', 'PATCH', `/invoices/${c}/close`, { number: 7 }),
      400,
      'InvalidParameter',
    );
    expectOk(
      await t.call(org, 'manager', {
        method: 'PATCH',
        url: `/v1/om/invoices/${c}/close`,
        payload: {},
      }),
    );
    // Each organization has its own sequence.
    const theirs = await closedStandard(other);
    assert.equal((await getInvoice(other, theirs.id)).invoiceNumber, 1);
  });

  void test('send → {success, messageId}: only closed invoices; the messageId is the event', async () => {
    const orderId = await insertOrder(org);
    const id = await createInvoice(org, { orderId });
    const early = await api(org, 'manager', 'POST', `/invoices/${id}/send`);
    assert.deepEqual(expectError(early, 400, 'INVALID_STATUS').details, { status: 'open' });
    await closeInvoice(org, id);
    const sent = expectOk(
      await api(org, 'manager', 'POST', `/invoices/${id}/send`, {
        channel: 'email',
        recipient: 'customer@example.com',
      }),
    );
    assert.deepEqual(Object.keys(sent).sort(), ['messageId', 'success']);
    assert.equal(sent.success, true);
    const event = await t.database.db
      .selectFrom('events')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('id', '=', sent.messageId)
      .executeTakeFirstOrThrow();
    assert.equal(event.type, 'invoice.sent');
    assert.equal(event.entity_type, 'invoice');
    assert.equal(event.entity_id, id);
    const data = JSON.parse(event.data);
    assert.deepEqual(data.delivery, { channel: 'email', recipient: 'customer@example.com' });
    assert.equal(data.status, 'closed');
    // Sending again is another message; no body at all is fine.
    const again = expectOk(
      await t.call(org, 'manager', { method: 'POST', url: `/v1/om/invoices/${id}/send` }),
    );
    assert.notEqual(again.messageId, sent.messageId);
  });

  void test('DELETE → {succeed: true}: soft, then 404 and gone from lists', async () => {
    const orderId = await insertOrder(org);
    const id = await createInvoice(org, { orderId });
    const r = await api(org, 'manager', 'DELETE', `/invoices/${id}`);
    assert.deepEqual(expectOk(r), { succeed: true });
    expectError(await api(org, 'manager', 'GET', `/invoices/${id}`), 404, 'NOT_FOUND');
    for (const [method, url] of [
      ['DELETE', `/invoices/${id}`],
      ['PATCH', `/invoices/${id}`],
      ['PATCH', `/invoices/${id}/close`],
      ['POST', `/invoices/${id}/send`],
    ] as const) {
      expectError(await api(org, 'manager', method, url, {}), 404, 'NOT_FOUND');
    }
    const list = expectOk(await api(org, 'viewer', 'GET', `/invoices?orderId=${orderId}`));
    assert.deepEqual(list.items, []);
    const row = await t.database.db
      .selectFrom('invoices')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    assert.match(row.deleted_at!, ISO);
    assert.equal(row.updated_by, 'manager@test');
  });

  void test('create errors have the exact codes, and create nothing', async () => {
    const orderId = await insertOrder(org);
    const canceled = await insertOrder(org, 'canceled');
    const closed = await insertOrder(org, 'closed');
    const standard = await closedStandard(org, orderId);
    const openStandard = await createInvoice(org, { orderId });
    const creditNote = await createInvoice(org, {
      orderId,
      type: 'credit-note',
      referenceInvoiceId: standard.id,
    });
    await closeInvoice(org, creditNote);
    const deleted = await createInvoice(org, { orderId });
    expectOk(await api(org, 'manager', 'DELETE', `/invoices/${deleted}`));
    const otherOrder = await closedStandard(org);

    const rows = await invoiceRowCount(org);
    const events = await eventCount(org);
    const create = (params: object) => api(org, 'manager', 'POST', '/invoices', params);
    const cases: [object, string, string?][] = [
      [{ orderId: newId() }, 'ORDER_NOT_FOUND'],
      [{ orderId: canceled }, 'ORDER_CANCELED'],
      [{ orderId: closed }, 'ORDER_CLOSED'],
      [{ orderId, type: 'proforma' }, 'TYPE_NOT_SUPPORTED'],
      [{ orderId, type: '' }, 'TYPE_NOT_SUPPORTED'],
      [{ orderId, type: 'Standard' }, 'TYPE_NOT_SUPPORTED'],
      [{ orderId, type: 'x'.repeat(33) }, 'InvalidParameter', 'type'],
      [{ orderId, type: 'credit-note' }, 'InvalidParameter', 'referenceInvoiceId'],
      [
        { orderId, type: 'debit-note', referenceInvoiceId: null },
        'InvalidParameter',
        'referenceInvoiceId',
      ],
      [{ orderId, type: 'credit-note', referenceInvoiceId: newId() }, 'REF_INVOICE_NOT_FOUND'],
      [{ orderId, type: 'credit-note', referenceInvoiceId: deleted }, 'REF_INVOICE_NOT_FOUND'],
      [{ orderId, type: 'debit-note', referenceInvoiceId: otherOrder.id }, 'REF_INVOICE_NOT_FOUND'],
      [
        { orderId, type: 'credit-note', referenceInvoiceId: creditNote },
        'NON_STANDARD_REF_INVOICE',
      ],
      [{ orderId, type: 'debit-note', referenceInvoiceId: openStandard }, 'REF_INVOICE_STILL_OPEN'],
      [{ orderId, referenceInvoiceId: standard.id }, 'InvalidParameter', 'referenceInvoiceId'],
      [
        { orderId, type: 'prepayment', referenceInvoiceId: standard.id },
        'InvalidParameter',
        'referenceInvoiceId',
      ],
      [{}, 'InvalidParameter', 'orderId'],
      [{ orderId: 42 }, 'InvalidParameter', 'orderId'],
      [{ orderId, applyExpiresAt: '2030-01-01' }, 'InvalidParameter', 'applyExpiresAt'],
      [{ orderId, note: 'x' }, 'InvalidParameter', 'note'],
    ];
    for (const [params, code, field] of cases) {
      const error = expectError(await create(params), 400, code);
      if (field !== undefined) assert.equal(error.details.field, field, JSON.stringify(params));
    }
    // An order canceled or closed wins over a bad type (the order is checked first).
    expectError(await create({ orderId: canceled, type: 'proforma' }), 400, 'ORDER_CANCELED');
    assert.equal(await invoiceRowCount(org), rows);
    assert.equal(await eventCount(org), events);
  });

  void test('credit-note flow', async () => {
    const orderId = await insertOrder(org);
    const standard = await createInvoice(org, { orderId });
    const note = { orderId, type: 'credit-note', referenceInvoiceId: standard };
    expectError(
      await api(org, 'manager', 'POST', '/invoices', note),
      400,
      'REF_INVOICE_STILL_OPEN',
    );
    await closeInvoice(org, standard);
    const credit = await createInvoice(org, note);
    const debit = await createInvoice(org, { ...note, type: 'debit-note' });
    const got = await getInvoice(org, credit);
    assert.equal(got.type, 'credit-note');
    assert.equal(got.referenceInvoiceId, standard);
    assert.equal((await getInvoice(org, debit)).type, 'debit-note');
    // A note references a standard invoice, never another note (open or closed).
    const onOpenNote = { ...note, referenceInvoiceId: credit };
    expectError(
      await api(org, 'manager', 'POST', '/invoices', onOpenNote),
      400,
      'NON_STANDARD_REF_INVOICE',
    );
    const closedNote = await closeInvoice(org, credit);
    assert.ok(closedNote.invoiceNumber > 0);
    expectError(
      await api(org, 'manager', 'POST', '/invoices', onOpenNote),
      400,
      'NON_STANDARD_REF_INVOICE',
    );
    // Several notes may correct the same invoice.
    await createInvoice(org, note);
  });

  void test('a closed invoice cannot be edited, deleted or closed again', async () => {
    const { id } = await closedStandard(org);
    const before = await getInvoice(org, id);
    const events = await eventCount(org);
    for (const [method, url, params] of [
      ['PATCH', `/invoices/${id}`, { applyExpiresAt: '2030-01-01T00:00:00Z' }],
      ['PATCH', `/invoices/${id}`, { type: 'prepayment' }],
      ['DELETE', `/invoices/${id}`, undefined],
      ['PATCH', `/invoices/${id}/close`, undefined],
      ['PATCH', `/invoices/${id}/close`, { invoiceSource: 'again' }],
    ] as const) {
      const error = expectError(
        await api(org, 'manager', method, url, params),
        400,
        'INVALID_STATUS',
      );
      assert.deepEqual(error.details, { status: 'closed' });
    }
    assert.deepEqual(await getInvoice(org, id), before);
    assert.equal(await eventCount(org), events);
  });

  void test('viewers and cashiers may read but not write (403); nothing changes', async () => {
    const orderId = await insertOrder(org);
    const open = await createInvoice(org, { orderId });
    const { id: closed } = await closedStandard(org, orderId);
    const openBefore = await getInvoice(org, open);
    const closedBefore = await getInvoice(org, closed);
    const rows = await invoiceRowCount(org);
    const events = await eventCount(org);
    for (const role of ['viewer', 'cashier'] as const) {
      const writes: [Method, string, object | undefined][] = [
        ['POST', '/invoices', { orderId }],
        ['PATCH', `/invoices/${open}`, { type: 'prepayment' }],
        ['DELETE', `/invoices/${open}`, undefined],
        ['PATCH', `/invoices/${open}/close`, undefined],
        ['POST', `/invoices/${closed}/send`, undefined],
        // Refused on role before anything is looked up.
        ['PATCH', `/invoices/${newId()}/close`, undefined],
      ];
      for (const [method, url, params] of writes) {
        expectError(await api(org, role, method, url, params), 403, 'FORBIDDEN');
      }
      expectOk(await api(org, role, 'GET', `/invoices/${open}`));
      expectOk(await api(org, role, 'GET', '/invoices'));
    }
    assert.deepEqual(await getInvoice(org, open), openBefore);
    assert.deepEqual(await getInvoice(org, closed), closedBefore);
    assert.equal(await invoiceRowCount(org), rows);
    assert.equal(await eventCount(org), events);
  });

  void test('`can` lists exactly the actions that then succeed (role × state × action)', async () => {
    const scenarios: { invoice: 'open' | 'closed'; order: OrderStatus }[] = [
      { invoice: 'open', order: 'open' },
      { invoice: 'open', order: 'closed' },
      { invoice: 'open', order: 'canceled' },
      { invoice: 'closed', order: 'open' },
      { invoice: 'closed', order: 'canceled' },
    ];
    const call = (role: Role, action: InvoiceAction, id: string) => {
      switch (action) {
        case 'update':
          return api(org, role, 'PATCH', `/invoices/${id}`, {
            applyExpiresAt: '2032-02-02T00:00:00Z',
          });
        case 'delete':
          return api(org, role, 'DELETE', `/invoices/${id}`);
        case 'close':
          return api(org, role, 'PATCH', `/invoices/${id}/close`);
        case 'send':
          return api(org, role, 'POST', `/invoices/${id}/send`);
      }
    };
    let allowed = 0;
    for (const scenario of scenarios) {
      for (const role of ROLES) {
        for (const action of INVOICE_ACTIONS) {
          const orderId = await insertOrder(org);
          const id = await createInvoice(org, { orderId });
          if (scenario.invoice === 'closed') await closeInvoice(org, id);
          await setOrderStatus(org, orderId, scenario.order);
          const { can } = await getInvoice(org, id, role);
          const r = await call(role, action, id);
          const label = `${role} ${action} on ${scenario.invoice} invoice, ${scenario.order} order`;
          assert.equal(r.statusCode === 200, can.includes(action), `${label}: ${r.body}`);
          if (r.statusCode === 200) allowed++;
          else assert.ok([400, 403].includes(r.statusCode), `${label}: ${r.body}`);
        }
      }
    }
    // manager and admin: 3 + 2 + 1 + 1 + 1 allowed actions across the scenarios.
    assert.equal(allowed, 2 * 8);
  });

  void test('lists page newest first and filter by orderId, status and type', async () => {
    const o = await t.createOrg('SAR');
    const orderA = await insertOrder(o);
    const orderB = await insertOrder(o);
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push(await createInvoice(o, { orderId: orderA }));
    for (let i = 0; i < 3; i++) made.push(await createInvoice(o, { orderId: orderB }));
    await closeInvoice(o, made[0]!);
    await closeInvoice(o, made[5]!);
    made.push(
      await createInvoice(o, { orderId: orderB, type: 'credit-note', referenceInvoiceId: made[5] }),
    );
    const gone = await createInvoice(o, { orderId: orderA });
    expectOk(await api(o, 'manager', 'DELETE', `/invoices/${gone}`));

    async function all(query: string, limit: number): Promise<string[]> {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/invoices?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`;
        const page = expectOk(await api(o, 'viewer', 'GET', url));
        assert.deepEqual(Object.keys(page).sort(), ['items', 'next']);
        assert.ok(page.items.length <= limit);
        for (const item of page.items) assert.deepEqual(Object.keys(item).sort(), INVOICE_KEYS);
        seen.push(...page.items.map((i: any) => i.id));
        cursor = page.next;
        pages++;
      } while (cursor !== null && pages < 20);
      return seen;
    }
    const newestFirst = [...made].reverse();
    assert.deepEqual(await all('', 2), newestFirst);
    assert.deepEqual(await all('', 100), newestFirst);
    assert.deepEqual(await all(`&orderId=${orderA}`, 2), made.slice(0, 5).reverse());
    assert.deepEqual(await all('&status=closed', 1), [made[5], made[0]]);
    assert.deepEqual(await all(`&orderId=${orderB}&status=open`, 2), [made[8], made[7], made[6]]);
    assert.deepEqual(await all('&type=credit-note', 5), [made[8]]);
    const first = expectOk(await api(o, 'viewer', 'GET', '/invoices?limit=3'));
    assert.equal(first.items.length, 3);
    assert.equal(typeof first.next, 'string');
    assert.equal(expectOk(await api(o, 'viewer', 'GET', '/invoices')).items.length, 9);
    for (const bad of ['status=draft', 'type=proforma', 'limit=0', 'limit=101', 'cursor=bm9wZQ']) {
      expectError(await api(o, 'viewer', 'GET', `/invoices?${bad}`), 400, 'InvalidParameter');
    }
  });

  void test('tenant isolation: another organization’s invoices look missing', async () => {
    const theirOrder = await insertOrder(other);
    const theirOpen = expectOk(
      await api(other, 'manager', 'POST', '/invoices', { orderId: theirOrder }),
    ).id;
    const theirClosed = expectOk(
      await api(other, 'manager', 'POST', '/invoices', { orderId: theirOrder }),
    ).id;
    expectOk(await api(other, 'manager', 'PATCH', `/invoices/${theirClosed}/close`));
    const openBefore = await getInvoice(other, theirOpen);
    const closedBefore = await getInvoice(other, theirClosed);
    const theirEvents = await eventCount(other);

    const missing = newId();
    const routes = (id: string): [Method, string, object | undefined][] => [
      ['GET', `/invoices/${id}`, undefined],
      ['PATCH', `/invoices/${id}`, { type: 'prepayment' }],
      ['DELETE', `/invoices/${id}`, undefined],
      ['PATCH', `/invoices/${id}/close`, undefined],
      ['POST', `/invoices/${id}/send`, undefined],
    ];
    for (const foreign of [theirOpen, theirClosed]) {
      const theirs = routes(foreign);
      const none = routes(missing);
      for (let i = 0; i < theirs.length; i++) {
        const [method, url, params] = theirs[i]!;
        const a = expectError(await api(org, 'manager', method, url, params), 404, 'NOT_FOUND');
        const [m2, u2, p2] = none[i]!;
        const b = expectError(await api(org, 'manager', m2, u2, p2), 404, 'NOT_FOUND');
        assert.deepEqual(a, b, `${method} ${url}`);
      }
    }
    expectError(
      await api(org, 'manager', 'POST', '/invoices', { orderId: theirOrder }),
      400,
      'ORDER_NOT_FOUND',
    );
    const ours = await insertOrder(org);
    expectError(
      await api(org, 'manager', 'POST', '/invoices', {
        orderId: ours,
        type: 'credit-note',
        referenceInvoiceId: theirClosed,
      }),
      400,
      'REF_INVOICE_NOT_FOUND',
    );
    const mine = await createInvoice(org, { orderId: ours });
    expectError(
      await api(org, 'manager', 'PATCH', `/invoices/${mine}`, {
        type: 'credit-note',
        referenceInvoiceId: theirClosed,
      }),
      400,
      'REF_INVOICE_NOT_FOUND',
    );
    const list = expectOk(await api(org, 'viewer', 'GET', '/invoices?limit=100'));
    assert.ok(list.items.length > 0);
    for (const item of list.items) {
      assert.notEqual(item.orderId, theirOrder);
      assert.ok(![theirOpen, theirClosed].includes(item.id));
    }
    assert.deepEqual(
      expectOk(await api(org, 'viewer', 'GET', `/invoices?orderId=${theirOrder}`)).items,
      [],
    );
    assert.deepEqual(await getInvoice(other, theirOpen), openBefore);
    assert.deepEqual(await getInvoice(other, theirClosed), closedBefore);
    assert.equal(await eventCount(other), theirEvents);
  });

  void test('each write appends exactly one event of its type, in the same request', async () => {
    const orderId = await insertOrder(org);
    const ref = await closedStandard(org, orderId);
    const expectEvent = async (
      r: LightMyRequestResponse,
      type: string,
      entityId: string,
    ): Promise<any> => {
      expectOk(r);
      const event = await lastEvent(org);
      assert.equal(event.type, type);
      assert.equal(event.entity_type, 'invoice');
      assert.equal(event.entity_id, entityId);
      assert.equal(event.actor_by, 'manager@test');
      assert.equal(event.actor_via, 'pos');
      assert.equal(event.request_id, json(r).requestId);
      assert.match(event.created_at, ISO);
      return event;
    };
    let count = await eventCount(org);
    const step = async (r: LightMyRequestResponse, type: string, entityId?: string) => {
      const id = entityId ?? json(r).data.id;
      const event = await expectEvent(r, type, id);
      assert.equal(await eventCount(org), ++count, type);
      return event;
    };

    const created = await api(org, 'manager', 'POST', '/invoices', { orderId });
    const id = json(created).data.id;
    const createdEvent = await step(created, 'invoice.created');
    assert.equal(createdEvent.changes, null);
    assert.equal(JSON.parse(createdEvent.data).status, 'open');
    assert.equal(JSON.parse(createdEvent.data).can, undefined);

    const updated = await step(
      await api(org, 'manager', 'PATCH', `/invoices/${id}`, {
        type: 'credit-note',
        referenceInvoiceId: ref.id,
      }),
      'invoice.updated',
      id,
    );
    const changes = JSON.parse(updated.changes);
    assert.deepEqual(changes.type, { before: 'standard', after: 'credit-note' });
    assert.deepEqual(changes.referenceInvoiceId, { before: null, after: ref.id });
    assert.equal(JSON.parse(updated.data).type, 'credit-note');

    const closedEvent = await step(
      await api(org, 'manager', 'PATCH', `/invoices/${id}/close`),
      'invoice.closed',
      id,
    );
    assert.deepEqual(JSON.parse(closedEvent.changes).status, { before: 'open', after: 'closed' });
    assert.equal(
      JSON.parse(closedEvent.data).invoiceNumber,
      (await getInvoice(org, id)).invoiceNumber,
    );

    const sent = await api(org, 'manager', 'POST', `/invoices/${id}/send`);
    const sentEvent = await step(sent, 'invoice.sent', id);
    assert.equal(sentEvent.id, json(sent).data.messageId);

    const draft = await createInvoice(org, { orderId });
    count++;
    const deletedEvent = await step(
      await api(org, 'manager', 'DELETE', `/invoices/${draft}`),
      'invoice.deleted',
      draft,
    );
    assert.match(JSON.parse(deletedEvent.data).deletedAt, ISO);
  });
});
