// The endpoints table: one entry per /v1/ route of /openapi.json, read by the isolation and
// fuzz suites (reliability/suites/) and by the in-process isolation test
// (test/payments.isolation.test.ts). Each suite iterates endpoints × roles × its cases; an
// entry says only what cannot be read from the OpenAPI document:
//   - `role`: the least role that may call the route (API.md §4), with `actions` for further
//     uses of the same route that need another role (a refund without a source, …);
//   - `uid`: the kind of object the path's {uid} names;
//   - `template`: a valid request on the long-lived objects of a Kit (isolation's path,
//     organization-id and revoked-key checks substitute into it); `variants`: more bodies
//     worth sending with the template's path id;
//   - `fresh`: a request on freshly made objects that the least role carries out with 200
//     (role checks and protected-field checks);
//   - `bodyIds`: for every id in the request body (ID_FIELDS), a base that succeeds with the
//     organization's own id and the foreign ids to try in its place;
//   - `fuzz`: how the fuzz reaches the route's success path from its pools of objects.
// Adding an endpoint: add one entry below (copy the nearest sibling). A route that
// /openapi.json documents under /v1/ without an entry fails both suites ("routes without an
// endpoints table entry"), so none is skipped silently; a new kind of id also needs its
// line in Kind, ID_FIELDS, Kit and buildKit.
import { AMOUNTS, recent, type FuzzContext } from './fuzz-world.ts';

export type Role = 'viewer' | 'cashier' | 'manager' | 'admin';
export const ROLES: Role[] = ['viewer', 'cashier', 'manager', 'admin'];
export const RANK: Record<Role, number> = { viewer: 0, cashier: 1, manager: 2, admin: 3 };

export type Kind =
  | 'order'
  | 'payment'
  | 'invoice'
  | 'method'
  | 'organization'
  | 'apiKey'
  | 'webhookEndpoint'
  | 'delivery';

/** Body and query fields that carry an id, and the kind of object they name. */
export const ID_FIELDS: Record<string, Kind> = {
  orderId: 'order',
  methodId: 'method',
  invoiceId: 'invoice',
  sourcePaymentId: 'payment',
  referenceInvoiceId: 'invoice',
  id: 'payment',
  organizations: 'organization',
  // The feed's filter (API.md §7.1): an order's id finds that order's events.
  entityId: 'order',
};

/** A request to one route: the path ids, the body's `params`, the query string. */
export interface Req {
  uid?: string;
  /** Path ids other than {uid}, by name. */
  path?: Record<string, string>;
  params?: Record<string, unknown>;
  query?: Record<string, string>;
}

/** Long-lived objects of one organization, in every state the routes care about. */
export interface Kit {
  organization: string;
  orderOpen: string;
  orderClosed: string;
  orderEmpty: string;
  receiptComplete: string;
  receiptPending: string;
  refundPending: string;
  refundComplete: string;
  receiptOfClosed: string;
  receiptWithInvoice: string;
  invoiceOpen: string;
  invoiceClosed: string;
  creditNote: string;
  methodMain: string;
  methodExtra: string;
  methodHidden: string;
  keyIds: string[];
  /** A webhook endpoint with one delivery (of its test event). */
  webhookEndpoint: string;
  delivery: string;
}

/** Makes objects of one organization with its admin key (over HTTP or app.inject). */
export interface Factory {
  readonly id: string;
  readonly mainMethod: string;
  /** POST with `params` (or no body); the new object's id. */
  post(url: string, params?: unknown): Promise<string>;
  /** GET; the answer's `data`. */
  get(url: string): Promise<any>;
  /** PATCH with `params` (or no body). */
  patch(url: string, params?: unknown): Promise<void>;
  /** A new key of the organization (made by the all-organizations admin). */
  key(role: Role): Promise<{ id: string; secret: string }>;
  /** Ids of the api keys the organization's admin sees. */
  keyIds(): Promise<string[]>;
}

/** The objects every table entry builds on, from a Factory's two primitives. */
export class Maker {
  constructor(readonly f: Factory) {}
  get id(): string {
    return this.f.id;
  }
  get mainMethod(): string {
    return this.f.mainMethod;
  }
  post(url: string, params: unknown): Promise<string> {
    return this.f.post(url, params);
  }
  key(role: Role): Promise<{ id: string; secret: string }> {
    return this.f.key(role);
  }
  order(total = 100): Promise<string> {
    return this.f.post('/v1/om/orders', { total });
  }
  receipt(orderId: string, amount: number, status = 'pending'): Promise<string> {
    return this.f.post('/v1/om/payments', {
      orderId,
      type: 'receipt',
      methodId: this.f.mainMethod,
      amount,
      status,
    });
  }
  refund(orderId: string, sourcePaymentId: string, amount: number, status = 'pending') {
    return this.f.post('/v1/om/payments', {
      orderId,
      type: 'refund',
      sourcePaymentId,
      amount,
      status,
    });
  }
  invoice(orderId: string, extra: Record<string, unknown> = {}): Promise<string> {
    return this.f.post('/v1/om/invoices', { orderId, ...extra });
  }
  async closedInvoice(orderId: string): Promise<string> {
    const id = await this.invoice(orderId);
    await this.f.patch(`/v1/om/invoices/${id}/close`);
    return id;
  }
  method(visible = true): Promise<string> {
    return this.f.post('/v1/om/payment-methods', {
      locales: { ar: { name: 'بطاقة' }, en: { name: 'Card' } },
      visible,
    });
  }
  webhookEndpoint(): Promise<string> {
    return this.f.post('/v1/om/webhook-endpoints', { url: WEBHOOK_URL });
  }
  /** A delivery of the endpoint's test event (pending while the suites run no worker). */
  async delivery(endpoint: string): Promise<string> {
    await this.f.post(`/v1/om/webhook-endpoints/${endpoint}/test`);
    const page = await this.f.get(`/v1/om/webhook-endpoints/${endpoint}/deliveries?limit=1`);
    return (page.items as { id: string }[])[0]!.id;
  }
  /** An open order paid in full (close succeeds). */
  async settledOrder(): Promise<{ order: string; receipt: string }> {
    const order = await this.order(20);
    const receipt = await this.receipt(order, 20, 'complete');
    return { order, receipt };
  }
  async closedOrder(): Promise<{ order: string; receipt: string }> {
    const s = await this.settledOrder();
    await this.f.patch(`/v1/om/orders/${s.order}/close`);
    return s;
  }
}

export async function buildKit(o: Maker): Promise<Kit> {
  const orderOpen = await o.order(100);
  const receiptComplete = await o.receipt(orderOpen, 40, 'complete');
  const receiptPending = await o.receipt(orderOpen, 10);
  const refundPending = await o.refund(orderOpen, receiptComplete, 5);
  const refundComplete = await o.refund(orderOpen, receiptComplete, 3, 'complete');
  const invoiceOpen = await o.invoice(orderOpen);
  const receiptWithInvoice = await o.post('/v1/om/payments', {
    orderId: orderOpen,
    type: 'receipt',
    methodId: o.mainMethod,
    amount: 1,
    invoiceId: invoiceOpen,
  });
  const invoiceClosed = await o.closedInvoice(orderOpen);
  const creditNote = await o.invoice(orderOpen, {
    type: 'credit-note',
    referenceInvoiceId: invoiceClosed,
  });
  const closed = await o.closedOrder();
  const orderEmpty = await o.order(30);
  const methodExtra = await o.method();
  const methodHidden = await o.method(false);
  const webhookEndpoint = await o.webhookEndpoint();
  const delivery = await o.delivery(webhookEndpoint);
  return {
    organization: o.id,
    orderOpen,
    orderClosed: closed.order,
    orderEmpty,
    receiptComplete,
    receiptPending,
    refundPending,
    refundComplete,
    receiptOfClosed: closed.receipt,
    receiptWithInvoice,
    invoiceOpen,
    invoiceClosed,
    creditNote,
    methodMain: o.mainMethod,
    methodExtra,
    methodHidden,
    keyIds: await o.f.keyIds(),
    webhookEndpoint,
    delivery,
  };
}

export function idsOfKind(k: Kit, kind: Kind): string[] {
  switch (kind) {
    case 'order':
      return [k.orderOpen, k.orderClosed, k.orderEmpty];
    case 'payment':
      return [
        k.receiptComplete,
        k.receiptPending,
        k.refundPending,
        k.refundComplete,
        k.receiptOfClosed,
        k.receiptWithInvoice,
      ];
    case 'invoice':
      return [k.invoiceOpen, k.invoiceClosed, k.creditNote];
    case 'method':
      return [k.methodMain, k.methodExtra, k.methodHidden];
    case 'organization':
      return [k.organization];
    case 'apiKey':
      return k.keyIds;
    case 'webhookEndpoint':
      return [k.webhookEndpoint];
    case 'delivery':
      return [k.delivery];
  }
}

/**
 * A body id position: a fresh base on A that succeeds with A's own id (the control), and B's
 * ids of the same kind, in the states that would reach the deepest check if isolation failed.
 */
export interface BodyCase {
  uid?: string;
  params: Record<string, unknown>;
  own: string;
  foreign: string[];
  role: Role;
  /** How the id sits in the field (default: the id itself). */
  value?: (id: string) => unknown;
}

export interface Endpoint {
  /** `METHOD /path`, exactly as /openapi.json documents it. */
  route: string;
  /** What the route does, for reports. */
  label: string;
  /** The least role that may call it (API.md §4). */
  role: Role;
  /** Only an all-organizations admin may (POST /v1/admin/organizations). */
  allOrganizations?: true;
  /** The kind of object {uid} names. */
  uid?: Kind;
  /** The kinds of the path's other ids ({deliveryId}, …). */
  pathIds?: Record<string, Kind>;
  /** A valid request on the kit's long-lived objects (it may meet a business refusal). */
  template: (k: Kit) => Req;
  /** More bodies worth sending with the template's path id. */
  variants?: Record<string, unknown>[];
  /** A request on fresh objects that `role` carries out with 200. */
  fresh: (m: Maker) => Promise<Req>;
  /** Further uses of the route with their own least role. */
  actions?: { label: string; role: Role; fresh: (m: Maker) => Promise<Req> }[];
  /** The template's object would be used up by a success: checks that must fail use fresh(). */
  spends?: true;
  /** Every id field of the body (ID_FIELDS) and how to test it. */
  bodyIds?: Record<string, (m: Maker, a: Kit, b: Kit) => Promise<BodyCase>>;
  /** A request that reaches the success path from the fuzz's pools (undefined: schema). */
  fuzz?: (c: FuzzContext) => Req | undefined;
}

const ordersOf = (b: Kit) => [b.orderOpen, b.orderClosed, b.orderEmpty];
const methodsOf = (b: Kit) => [b.methodMain, b.methodExtra, b.methodHidden];
const invoicesOf = (b: Kit) => [b.invoiceClosed, b.invoiceOpen, b.creditNote];
const completeReceiptsOf = (b: Kit) => [b.receiptComplete, b.receiptOfClosed];
const pendingOf = async (m: Maker) => {
  const order = await m.order(50);
  return { order, payment: await m.receipt(order, 1) };
};
const receiptOn = (k: Kit) => ({ type: 'receipt', methodId: k.methodMain, amount: 0.01 });
/** The last and the next 24 hours, fixed when the table loads: the kits' payments of today
 * are in it, and the same request answers the same before and after a run. */
const REPORT_RANGE = {
  from: new Date(Date.now() - 86_400_000).toISOString(),
  to: new Date(Date.now() + 86_400_000).toISOString(),
};
/** Never resolves (RFC 2606): accepted at creation, refused at delivery (API.md §7.2). */
export const WEBHOOK_URL = 'https://hooks.example.invalid/om';
const locales = (ar: string, en: string) => ({ locales: { ar: { name: ar }, en: { name: en } } });

export const ENDPOINTS: Endpoint[] = [
  // --- the caller's organization ---------------------------------------------------------
  {
    route: 'GET /v1/om/organization',
    label: 'read organization',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  // --- orders ---------------------------------------------------------------------------
  {
    route: 'GET /v1/om/orders',
    label: 'list orders',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/om/orders',
    label: 'create order',
    role: 'cashier',
    template: () => ({ params: { total: 10 } }),
    fresh: async () => ({ params: { total: 10 } }),
  },
  {
    route: 'GET /v1/om/orders/{uid}',
    label: 'read order',
    role: 'viewer',
    uid: 'order',
    template: (k) => ({ uid: k.orderOpen }),
    fresh: async (m) => ({ uid: await m.order() }),
  },
  {
    route: 'GET /v1/om/orders/{uid}/payments',
    label: "list an order's payments",
    role: 'viewer',
    uid: 'order',
    template: (k) => ({ uid: k.orderOpen }),
    fresh: async (m) => ({ uid: (await m.settledOrder()).order }),
  },
  {
    route: 'PATCH /v1/om/orders/{uid}',
    label: 'update open order',
    role: 'cashier',
    uid: 'order',
    template: (k) => ({ uid: k.orderOpen, params: { customerUid: 'iso-customer' } }),
    fresh: async (m) => ({ uid: await m.order(), params: { customerUid: 'c1' } }),
    fuzz: ({ g, w }) => ({
      uid: recent(g, w.openOrders),
      params: { customerUid: `cust-${g.int(5)}` },
    }),
  },
  {
    route: 'PATCH /v1/om/orders/{uid}/close',
    label: 'close settled order',
    role: 'cashier',
    uid: 'order',
    template: (k) => ({ uid: k.orderEmpty }),
    fresh: async (m) => ({ uid: (await m.settledOrder()).order }),
    fuzz: ({ g, w }) => ({
      uid: recent(g, w.settledOrders.length > 0 ? w.settledOrders : w.orders),
    }),
  },
  {
    route: 'PATCH /v1/om/orders/{uid}/cancel',
    label: 'cancel order',
    role: 'manager',
    uid: 'order',
    template: (k) => ({ uid: k.orderEmpty }),
    fresh: async (m) => ({ uid: await m.order() }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.emptyOrders) }),
  },
  {
    route: 'PATCH /v1/om/orders/{uid}/reopen',
    label: 'reopen closed order',
    role: 'manager',
    uid: 'order',
    template: (k) => ({ uid: k.orderClosed }),
    fresh: async (m) => ({ uid: (await m.closedOrder()).order }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.closedOrders.length > 0 ? w.closedOrders : w.orders) }),
  },
  // --- payment methods (an admin's, API.md §4) ---------------------------------------------
  {
    route: 'GET /v1/om/payment-methods',
    label: 'list payment methods',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/om/payment-methods',
    label: 'create payment method',
    role: 'admin',
    template: () => ({ params: locales('نقد', 'Cash') }),
    fresh: async () => ({ params: locales('شيك', 'Cheque') }),
  },
  {
    route: 'GET /v1/om/payment-methods/{uid}',
    label: 'read payment method',
    role: 'viewer',
    uid: 'method',
    template: (k) => ({ uid: k.methodExtra }),
    fresh: async (m) => ({ uid: await m.method() }),
  },
  {
    route: 'PATCH /v1/om/payment-methods/{uid}',
    label: 'update payment method',
    role: 'admin',
    uid: 'method',
    template: (k) => ({ uid: k.methodExtra, params: { visible: true } }),
    fresh: async (m) => ({ uid: await m.method(), params: { visible: false } }),
    fuzz: ({ g, w, counter }) => ({
      uid: recent(g, w.methods),
      params: { visible: true, locales: { en: { name: `Renamed ${counter()}` } } },
    }),
  },
  {
    route: 'DELETE /v1/om/payment-methods/{uid}',
    label: 'delete payment method',
    role: 'admin',
    uid: 'method',
    template: (k) => ({ uid: k.methodExtra }),
    fresh: async (m) => ({ uid: await m.method() }),
  },
  // --- invoices -------------------------------------------------------------------------
  {
    route: 'GET /v1/om/invoices',
    label: 'list invoices',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/om/invoices',
    label: 'create invoice',
    role: 'manager',
    template: (k) => ({ params: { orderId: k.orderOpen } }),
    fresh: async (m) => ({ params: { orderId: await m.order() } }),
    bodyIds: {
      orderId: async (m, _a, b) => ({
        params: {},
        own: await m.order(50),
        foreign: ordersOf(b),
        role: 'manager',
      }),
      referenceInvoiceId: async (m, _a, b) => {
        const order = await m.order(50);
        return {
          params: { orderId: order, type: 'credit-note' },
          own: await m.closedInvoice(order),
          foreign: invoicesOf(b),
          role: 'manager',
        };
      },
    },
    fuzz: ({ g, w }) => {
      if (g.chance(0.3)) {
        const ref = recent(g, w.closedInvoices);
        return {
          params: {
            orderId: ref.orderId,
            type: g.pick(['credit-note', 'debit-note']),
            referenceInvoiceId: ref.id,
          },
        };
      }
      return { params: { orderId: recent(g, w.openOrders) } };
    },
  },
  {
    route: 'GET /v1/om/invoices/{uid}',
    label: 'read invoice',
    role: 'viewer',
    uid: 'invoice',
    template: (k) => ({ uid: k.invoiceOpen }),
    fresh: async (m) => ({ uid: await m.invoice(await m.order()) }),
  },
  {
    route: 'PATCH /v1/om/invoices/{uid}',
    label: 'update invoice',
    role: 'manager',
    uid: 'invoice',
    template: (k) => ({
      uid: k.creditNote,
      params: { applyExpiresAt: '2031-01-01T00:00:00.000Z' },
    }),
    fresh: async (m) => ({
      uid: await m.invoice(await m.order()),
      params: { applyExpiresAt: '2031-01-01T00:00:00.000Z' },
    }),
    bodyIds: {
      referenceInvoiceId: async (m, _a, b) => {
        const order = await m.order(50);
        const reference = await m.closedInvoice(order);
        return {
          uid: await m.invoice(order),
          params: { type: 'credit-note' },
          own: reference,
          foreign: invoicesOf(b),
          role: 'manager',
        };
      },
    },
    fuzz: ({ g, w }) => ({
      uid: recent(g, w.openInvoices).id,
      params: { applyExpiresAt: '2032-06-01T12:00:00+03:00' },
    }),
  },
  {
    route: 'DELETE /v1/om/invoices/{uid}',
    label: 'delete invoice',
    role: 'manager',
    uid: 'invoice',
    template: (k) => ({ uid: k.invoiceOpen }),
    fresh: async (m) => ({ uid: await m.invoice(await m.order()) }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.openInvoices).id }),
  },
  {
    route: 'PATCH /v1/om/invoices/{uid}/close',
    label: 'close invoice',
    role: 'manager',
    uid: 'invoice',
    template: (k) => ({ uid: k.invoiceOpen }),
    fresh: async (m) => ({ uid: await m.invoice(await m.order()) }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.openInvoices).id }),
  },
  {
    route: 'POST /v1/om/invoices/{uid}/send',
    label: 'send invoice',
    role: 'manager',
    uid: 'invoice',
    template: (k) => ({ uid: k.invoiceClosed, params: { channel: 'email' } }),
    fresh: async (m) => ({ uid: await m.closedInvoice(await m.order()), params: {} }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.closedInvoices).id, params: { channel: 'email' } }),
  },
  // --- payments -------------------------------------------------------------------------
  {
    route: 'GET /v1/om/payments',
    label: 'list payments',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/om/payments',
    label: 'create receipt',
    role: 'cashier',
    template: (k) => ({ params: { orderId: k.orderOpen, ...receiptOn(k) } }),
    fresh: async (m) => ({
      params: { orderId: await m.order(), type: 'receipt', methodId: m.mainMethod, amount: 1 },
    }),
    actions: [
      {
        label: 'create refund with source (open order)',
        role: 'cashier',
        fresh: async (m) => {
          const s = await m.settledOrder();
          return {
            params: { orderId: s.order, type: 'refund', sourcePaymentId: s.receipt, amount: 1 },
          };
        },
      },
      {
        label: 'create refund without source',
        role: 'manager',
        fresh: async (m) => {
          const s = await m.settledOrder();
          return {
            params: { orderId: s.order, type: 'refund', methodId: m.mainMethod, amount: 1 },
          };
        },
      },
      {
        label: 'create refund on a closed order',
        role: 'manager',
        fresh: async (m) => {
          const s = await m.closedOrder();
          return {
            params: { orderId: s.order, type: 'refund', sourcePaymentId: s.receipt, amount: 1 },
          };
        },
      },
    ],
    bodyIds: {
      orderId: async (m, a, b) => ({
        params: receiptOn(a),
        own: await m.order(50),
        foreign: ordersOf(b),
        role: 'manager',
      }),
      methodId: async (m, a, b) => ({
        params: { ...receiptOn(a), orderId: await m.order(50) },
        own: a.methodMain,
        foreign: methodsOf(b),
        role: 'manager',
      }),
      invoiceId: async (m, a, b) => {
        const order = await m.order(50);
        return {
          params: { ...receiptOn(a), orderId: order },
          own: await m.invoice(order),
          foreign: [b.invoiceOpen, b.invoiceClosed, b.creditNote],
          role: 'manager',
        };
      },
      sourcePaymentId: async (m, _a, b) => {
        const s = await m.settledOrder();
        return {
          params: { orderId: s.order, type: 'refund', amount: 0.01 },
          own: s.receipt,
          foreign: completeReceiptsOf(b),
          role: 'manager',
        };
      },
    },
    fuzz: ({ g, w, counter, amount }) => {
      if (g.chance(0.3)) {
        const source = recent(g, w.completeReceipts);
        return {
          params: {
            orderId: source.orderId,
            type: 'refund',
            sourcePaymentId: source.id,
            amount: AMOUNTS[w.exponent]![0],
          },
        };
      }
      return {
        params: {
          orderId: recent(g, w.openOrders),
          type: 'receipt',
          methodId: w.org.method,
          amount,
          status: g.pick(['pending', 'complete', 'progress']),
          ...(g.chance(0.3) && { note: `n${counter()}`, attrs: { pos: 'fuzz' } }),
        },
      };
    },
  },
  {
    route: 'GET /v1/om/payments/{uid}',
    label: 'read payment',
    role: 'viewer',
    uid: 'payment',
    template: (k) => ({ uid: k.receiptPending }),
    fresh: async (m) => ({ uid: (await pendingOf(m)).payment }),
  },
  {
    route: 'GET /v1/om/payments/{uid}/history',
    label: "read a payment's history",
    role: 'viewer',
    uid: 'payment',
    template: (k) => ({ uid: k.receiptPending }),
    fresh: async (m) => ({ uid: (await pendingOf(m)).payment }),
  },
  {
    route: 'PATCH /v1/om/payments/{uid}',
    label: 'update pending payment',
    role: 'cashier',
    uid: 'payment',
    template: (k) => ({ uid: k.receiptPending, params: { note: 'iso note' } }),
    variants: [{ status: 'reversed' }, { amount: 1, correction: true }],
    fresh: async (m) => ({ uid: (await pendingOf(m)).payment, params: { note: 'changed' } }),
    actions: [
      {
        label: 'update complete payment (note)',
        role: 'manager',
        fresh: async (m) => ({
          uid: await m.receipt(await m.order(50), 5, 'complete'),
          params: { note: 'changed' },
        }),
      },
      {
        label: 'correct complete payment',
        role: 'manager',
        fresh: async (m) => ({
          uid: await m.receipt(await m.order(50), 5, 'complete'),
          params: { amount: 4, correction: true },
        }),
      },
      {
        label: 'reverse complete payment',
        role: 'manager',
        fresh: async (m) => ({
          uid: await m.receipt(await m.order(50), 5, 'complete'),
          params: { status: 'reversed' },
        }),
      },
    ],
    bodyIds: {
      id: async (m, _a, b) => {
        const p = await pendingOf(m);
        return {
          uid: p.payment,
          params: { note: 'n' },
          own: p.payment,
          foreign: idsOfKind(b, 'payment'),
          role: 'manager',
        };
      },
      orderId: async (m, _a, b) => {
        const p = await pendingOf(m);
        return {
          uid: p.payment,
          params: { note: 'n' },
          own: p.order,
          foreign: ordersOf(b),
          role: 'manager',
        };
      },
      methodId: async (m, a, b) => ({
        uid: (await pendingOf(m)).payment,
        params: {},
        own: a.methodExtra,
        foreign: methodsOf(b),
        role: 'manager',
      }),
      sourcePaymentId: async (m, _a, b) => {
        // A pending refund on an order with two complete receipts: moving it to the other.
        const order = await m.order(50);
        const first = await m.receipt(order, 10, 'complete');
        const second = await m.receipt(order, 10, 'complete');
        return {
          uid: await m.refund(order, first, 1),
          params: {},
          own: second,
          foreign: completeReceiptsOf(b),
          role: 'manager',
        };
      },
    },
    fuzz: ({ g, w, counter }) => {
      const p = recent(g, w.pending);
      return {
        uid: p.id,
        params: g.pick([
          { note: `n${counter()}` },
          { status: 'progress' },
          { amount: AMOUNTS[w.exponent]![0], custom: true },
          { attrs: { k: 'v' }, customerUid: 'cust-1' },
          { id: p.id, orderId: p.orderId, note: null },
        ]),
      };
    },
  },
  {
    route: 'PATCH /v1/om/payments/{uid}/confirm',
    label: 'confirm pending payment',
    role: 'cashier',
    uid: 'payment',
    template: (k) => ({ uid: k.receiptPending }),
    variants: [{}, { customerUid: 'x', transactionRef: 'y', attrs: {} }],
    fresh: async (m) => ({ uid: (await pendingOf(m)).payment, params: {} }),
    bodyIds: {
      id: async (m, _a, b) => {
        const p = await pendingOf(m);
        return {
          uid: p.payment,
          params: {},
          own: p.payment,
          foreign: idsOfKind(b, 'payment'),
          role: 'manager',
        };
      },
      orderId: async (m, _a, b) => {
        const p = await pendingOf(m);
        return { uid: p.payment, params: {}, own: p.order, foreign: ordersOf(b), role: 'manager' };
      },
    },
    fuzz: ({ g, w }) => {
      const p = recent(g, w.pending);
      return { uid: p.id, params: g.chance(0.5) ? {} : { id: p.id, orderId: p.orderId } };
    },
  },
  {
    route: 'DELETE /v1/om/payments/{uid}',
    label: 'delete pending payment',
    role: 'cashier',
    uid: 'payment',
    template: (k) => ({ uid: k.receiptPending }),
    fresh: async (m) => ({ uid: (await pendingOf(m)).payment }),
    fuzz: ({ g, w }) => ({ uid: recent(g, w.pending).id }),
  },
  // --- reports (manager, API.md §8) ---------------------------------------------------------
  {
    route: 'GET /v1/om/reports/payments-summary',
    label: 'payments summary report',
    role: 'manager',
    template: () => ({ query: { ...REPORT_RANGE, groupBy: 'method,day' } }),
    fresh: async () => ({ query: REPORT_RANGE }),
    fuzz: ({ g }) => ({
      query: { ...REPORT_RANGE, groupBy: g.pick(['method', 'day', 'method,day']) },
    }),
  },
  // --- the events feed (any role, API.md §7.1) -------------------------------------------
  {
    route: 'GET /v1/om/events',
    label: 'read the events feed',
    role: 'viewer',
    template: () => ({}),
    fresh: async () => ({}),
  },
  // --- webhook endpoints (admin, API.md §7.2) ----------------------------------------------
  {
    route: 'POST /v1/om/webhook-endpoints',
    label: 'create webhook endpoint',
    role: 'admin',
    template: () => ({ params: { url: WEBHOOK_URL } }),
    fresh: async () => ({ params: { url: WEBHOOK_URL, events: ['payment.*'] } }),
    fuzz: ({ g }) => ({
      params: { url: WEBHOOK_URL, events: g.pick([null, ['payment.*'], ['order.closed']]) },
    }),
  },
  {
    route: 'GET /v1/om/webhook-endpoints',
    label: 'list webhook endpoints',
    role: 'admin',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'GET /v1/om/webhook-endpoints/{uid}',
    label: 'read webhook endpoint',
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint }),
    fresh: async (m) => ({ uid: await m.webhookEndpoint() }),
  },
  {
    route: 'PATCH /v1/om/webhook-endpoints/{uid}',
    label: 'update webhook endpoint',
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint, params: { description: 'iso' } }),
    variants: [{ enabled: false }, { url: WEBHOOK_URL, events: ['invoice.*'] }],
    fresh: async (m) => ({ uid: await m.webhookEndpoint(), params: { description: 'changed' } }),
    fuzz: ({ g, w, counter }) => ({
      uid: recent(g, w.webhookEndpoints),
      params: { description: `d${counter()}`, enabled: true },
    }),
  },
  {
    route: 'DELETE /v1/om/webhook-endpoints/{uid}',
    label: 'delete webhook endpoint',
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint }),
    spends: true,
    fresh: async (m) => ({ uid: await m.webhookEndpoint() }),
  },
  {
    route: 'POST /v1/om/webhook-endpoints/{uid}/rotate-secret',
    label: "rotate a webhook endpoint's secret",
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint }),
    fresh: async (m) => ({ uid: await m.webhookEndpoint() }),
  },
  {
    route: 'POST /v1/om/webhook-endpoints/{uid}/test',
    label: 'send a test event to a webhook endpoint',
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint }),
    fresh: async (m) => ({ uid: await m.webhookEndpoint() }),
  },
  {
    route: 'GET /v1/om/webhook-endpoints/{uid}/deliveries',
    label: "list a webhook endpoint's deliveries",
    role: 'admin',
    uid: 'webhookEndpoint',
    template: (k) => ({ uid: k.webhookEndpoint }),
    fresh: async (m) => ({ uid: await m.webhookEndpoint() }),
  },
  {
    route: 'POST /v1/om/webhook-endpoints/{uid}/deliveries/{deliveryId}/retry',
    label: 'retry a delivery',
    role: 'admin',
    uid: 'webhookEndpoint',
    pathIds: { deliveryId: 'delivery' },
    template: (k) => ({ uid: k.webhookEndpoint, path: { deliveryId: k.delivery } }),
    fresh: async (m) => {
      const endpoint = await m.webhookEndpoint();
      return { uid: endpoint, path: { deliveryId: await m.delivery(endpoint) } };
    },
    fuzz: ({ g, w }) => {
      const d = recent(g, w.deliveries);
      return { uid: d.endpointId, path: { deliveryId: d.id } };
    },
  },
  // --- administration (an admin's; API.md §3) ---------------------------------------------
  {
    route: 'GET /v1/admin/organizations',
    label: 'admin: list organizations',
    role: 'admin',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/admin/organizations',
    label: 'admin: create organization (all-organizations admin)',
    role: 'admin',
    allOrganizations: true,
    template: () => ({ params: { name: 'Iso', currency: 'SAR' } }),
    fresh: async () => ({ params: { name: 'Made by role test', currency: 'SAR' } }),
  },
  {
    route: 'GET /v1/admin/organizations/{uid}',
    label: 'admin: get organization',
    role: 'admin',
    uid: 'organization',
    template: (k) => ({ uid: k.organization }),
    fresh: async (m) => ({ uid: m.id }),
  },
  {
    route: 'PATCH /v1/admin/organizations/{uid}',
    label: 'admin: update organization',
    role: 'admin',
    uid: 'organization',
    template: (k) => ({ uid: k.organization, params: { name: 'Renamed' } }),
    fresh: async (m) => ({ uid: m.id, params: { name: 'Rel SAR' } }),
  },
  {
    route: 'GET /v1/admin/api-keys',
    label: 'admin: list api keys',
    role: 'admin',
    template: () => ({}),
    fresh: async () => ({}),
  },
  {
    route: 'POST /v1/admin/api-keys',
    label: 'admin: create api key',
    role: 'admin',
    template: (k) => ({
      params: { name: 'iso key', role: 'viewer', organizations: [k.organization] },
    }),
    fresh: async (m) => ({ params: { name: 'role test', role: 'viewer', organizations: [m.id] } }),
    bodyIds: {
      // A's admin (limited to A) naming B's organization, against one that does not exist.
      organizations: async (m, _a, b) => ({
        params: { name: 'x', role: 'admin' },
        own: m.id,
        foreign: [b.organization],
        role: 'admin',
        value: (id) => [id],
      }),
    },
  },
  {
    route: 'GET /v1/admin/api-keys/{uid}',
    label: 'admin: get api key',
    role: 'admin',
    uid: 'apiKey',
    template: (k) => ({ uid: k.keyIds[0]! }),
    fresh: async (m) => ({ uid: (await m.key('viewer')).id }),
  },
  {
    route: 'PATCH /v1/admin/api-keys/{uid}/revoke',
    label: 'admin: revoke api key',
    role: 'admin',
    uid: 'apiKey',
    // The kit's keys are the suite's own: a revoke that wrongly succeeds must spend a spare.
    spends: true,
    template: (k) => ({ uid: k.keyIds[0]! }),
    fresh: async (m) => ({ uid: (await m.key('viewer')).id }),
    fuzz: ({ g, a }) => ({ uid: recent(g, a.spareKeys) }),
  },
];

export const ENDPOINT_BY_ROUTE: ReadonlyMap<string, Endpoint> = new Map(
  ENDPOINTS.map((e) => [e.route, e]),
);

/** The routes of /openapi.json under /v1/ (`METHOD /path`), in the document's order. */
export function documentedRoutes(doc: unknown): string[] {
  const paths = (doc as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  const out: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const m of Object.keys(item)) {
      const method = m.toUpperCase();
      if (['GET', 'POST', 'PATCH', 'DELETE', 'PUT'].includes(method)) out.push(`${method} ${path}`);
    }
  }
  return out;
}

/**
 * The table against the document: routes it documents without an entry (a new endpoint
 * nobody added here) and entries for routes it does not document (a removed or renamed one).
 */
export function tableGaps(suite: string, routes: string[]): { missing: string[]; stale: string[] } {
  const gaps = {
    missing: routes.filter((r) => !ENDPOINT_BY_ROUTE.has(r)),
    stale: ENDPOINTS.map((e) => e.route).filter((r) => !routes.includes(r)),
  };
  // Said where it cannot be missed, besides the suite's figure.
  for (const r of gaps.missing)
    console.error(
      `${suite}: ${r} is in /openapi.json but has no entry in reliability/endpoints.ts`,
    );
  for (const r of gaps.stale)
    console.error(
      `${suite}: reliability/endpoints.ts has an entry for ${r}, which /openapi.json lacks`,
    );
  return gaps;
}
