// Tenant isolation and access control, black-box (API.md §1, §3, §4). Two organizations A
// and B with orders, receipts, refunds, methods and invoices. For every route /openapi.json
// documents and every id position in it (path, query, body, the organization-id header),
// A's keys are used with B's ids and, separately, with unknown ids: B's ids must never
// succeed and must answer exactly like ids that do not exist. Then: keys below an action's
// role never succeed; a revoked key gets the one 401 body everywhere; protected fields in
// bodies are refused and never stored; B's data is unchanged; the stored invariants hold.
import { toMinor } from '../../src/money/amount.ts';
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { checkDatabaseInvariants } from '../invariants.ts';
import {
  ENGINE,
  call,
  exactly,
  fixture,
  headersFor,
  makeOrganization,
  startServer,
  type OrgKeys,
  type Profile,
  type Reply,
  type ServerHandle,
  type SuiteResult,
} from '../lib.ts';

type Role = 'viewer' | 'cashier' | 'manager' | 'admin';
const ROLES: Role[] = ['viewer', 'cashier', 'manager', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, cashier: 1, manager: 2, admin: 3 };

interface Operation {
  method: string;
  path: string;
  key: string;
  admin: boolean;
  query: string[];
  /** Declared properties of `params` in the request body. */
  bodyFields: string[];
  hasBody: boolean;
}

function loadOperations(doc: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [m, op] of Object.entries<any>(item)) {
      const method = m.toUpperCase();
      if (!['GET', 'POST', 'PATCH', 'DELETE'].includes(method)) continue;
      const schema = op.requestBody?.content?.['application/json']?.schema;
      const object = Array.isArray(schema?.anyOf)
        ? schema.anyOf.find((b: any) => b.type === 'object')
        : schema;
      ops.push({
        method,
        path,
        key: `${method} ${path}`,
        admin: path.startsWith('/v1/admin/'),
        query: (op.parameters ?? [])
          .filter((p: any) => p.in === 'query')
          .map((p: any) => p.name as string),
        bodyFields: Object.keys(object?.properties?.params?.properties ?? {}),
        hasBody: schema !== undefined,
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------
// Building an organization's objects over HTTP.

class Org {
  constructor(
    readonly base: string,
    readonly rootKey: string,
    readonly keys: OrgKeys,
  ) {}
  get id(): string {
    return this.keys.id;
  }
  h(role: Role = 'admin'): Record<string, string> {
    return headersFor(this.keys, role);
  }
  private async ok(what: string, reply: Reply): Promise<any> {
    if (reply.status !== 200)
      throw new Error(`setup: ${what} answered ${reply.status} ${reply.text.slice(0, 300)}`);
    return reply.body.data;
  }
  async post(url: string, params: unknown): Promise<string> {
    return (await this.ok(`POST ${url}`, await call(this.base, 'POST', url, this.h(), { params })))
      .id as string;
  }
  async patch(url: string, params?: unknown): Promise<void> {
    await this.ok(
      `PATCH ${url}`,
      await call(this.base, 'PATCH', url, this.h(), params === undefined ? undefined : { params }),
    );
  }
  order(total = 100): Promise<string> {
    return this.post('/v1/om/orders', { total });
  }
  receipt(orderId: string, amount: number, status = 'pending'): Promise<string> {
    return this.post('/v1/om/payments', {
      orderId,
      type: 'receipt',
      methodId: this.keys.method,
      amount,
      status,
    });
  }
  refund(orderId: string, sourcePaymentId: string, amount: number, status = 'pending') {
    return this.post('/v1/om/payments', {
      orderId,
      type: 'refund',
      sourcePaymentId,
      amount,
      status,
    });
  }
  invoice(orderId: string, extra: Record<string, unknown> = {}): Promise<string> {
    return this.post('/v1/om/invoices', { orderId, ...extra });
  }
  /** A disabled webhook endpoint (nothing is ever sent from these suites). */
  async webhookEndpoint(): Promise<string> {
    return this.post('/v1/om/webhook-endpoints', {
      url: 'https://8.8.8.8/isolation',
      enabled: false,
    });
  }
  /** A disabled endpoint with one pending delivery (its /test). */
  async endpointWithDelivery(): Promise<{ endpoint: string; delivery: string }> {
    const endpoint = await this.webhookEndpoint();
    await this.ok(
      'POST test',
      await call(this.base, 'POST', `/v1/om/webhook-endpoints/${endpoint}/test`, this.h()),
    );
    const list = await this.ok(
      'GET deliveries',
      await call(this.base, 'GET', `/v1/om/webhook-endpoints/${endpoint}/deliveries`, this.h()),
    );
    return { endpoint, delivery: (list.items as { id: string }[])[0]!.id };
  }
  async closedInvoice(orderId: string): Promise<string> {
    const id = await this.invoice(orderId);
    await this.patch(`/v1/om/invoices/${id}/close`);
    return id;
  }
  method(visible = true): Promise<string> {
    return this.post('/v1/om/payment-methods', {
      locales: { ar: { name: 'بطاقة' }, en: { name: 'Card' } },
      visible,
    });
  }
  /** An open order paid in full (close succeeds). */
  async settledOrder(): Promise<{ order: string; receipt: string }> {
    const order = await this.order(20);
    const receipt = await this.receipt(order, 20, 'complete');
    return { order, receipt };
  }
  async closedOrder(): Promise<{ order: string; receipt: string }> {
    const s = await this.settledOrder();
    await this.patch(`/v1/om/orders/${s.order}/close`);
    return s;
  }
  async key(role: Role): Promise<{ id: string; secret: string }> {
    const reply = await call(
      this.base,
      'POST',
      '/v1/admin/api-keys',
      { 'api-key': this.rootKey },
      { params: { name: `iso ${role}`, role, organizations: [this.id] } },
    );
    const data = await this.ok('api key', reply);
    return { id: data.id as string, secret: data.secret as string };
  }
}

/** Long-lived objects of one organization, in every state the routes care about. */
interface Kit {
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
  webhookEndpoint: string;
  delivery: string;
}

async function buildKit(o: Org): Promise<Kit> {
  const orderOpen = await o.order(100);
  const receiptComplete = await o.receipt(orderOpen, 40, 'complete');
  const receiptPending = await o.receipt(orderOpen, 10);
  const refundPending = await o.refund(orderOpen, receiptComplete, 5);
  const refundComplete = await o.refund(orderOpen, receiptComplete, 3, 'complete');
  const invoiceOpen = await o.invoice(orderOpen);
  const receiptWithInvoice = await o.post('/v1/om/payments', {
    orderId: orderOpen,
    type: 'receipt',
    methodId: o.keys.method,
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
  const keys = await call(o.base, 'GET', '/v1/admin/api-keys?limit=100', o.h('admin'));
  const hook = await o.endpointWithDelivery();
  return {
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
    methodMain: o.keys.method,
    methodExtra,
    methodHidden,
    keyIds: (keys.body.data.items as { id: string }[]).map((k) => k.id),
    webhookEndpoint: hook.endpoint,
    delivery: hook.delivery,
  };
}

type Kind =
  'order' | 'payment' | 'invoice' | 'method' | 'organization' | 'apiKey' | 'webhookEndpoint';

function idsOfKind(k: Kit, orgId: string, kind: Kind): string[] {
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
      return [orgId];
    case 'apiKey':
      return k.keyIds;
    case 'webhookEndpoint':
      return [k.webhookEndpoint];
  }
}

function kindOfPath(path: string): Kind | undefined {
  if (path.startsWith('/v1/om/orders/')) return 'order';
  if (path.startsWith('/v1/om/payments/')) return 'payment';
  if (path.startsWith('/v1/om/invoices/')) return 'invoice';
  if (path.startsWith('/v1/om/payment-methods/')) return 'method';
  if (path.startsWith('/v1/admin/organizations/')) return 'organization';
  if (path.startsWith('/v1/admin/api-keys/')) return 'apiKey';
  if (path.startsWith('/v1/om/webhook-endpoints/')) return 'webhookEndpoint';
  return undefined;
}

const ID_FIELDS: Record<string, Kind> = {
  orderId: 'order',
  methodId: 'method',
  invoiceId: 'invoice',
  sourcePaymentId: 'payment',
  referenceInvoiceId: 'invoice',
  id: 'payment',
};

// ---------------------------------------------------------------------------------------
// A request for every route, on A's own long-lived objects (valid, though it may meet a
// business refusal): the base each id position is substituted into.

interface Template {
  uid?: string;
  /** The second path id of a delivery's route. */
  deliveryId?: string;
  params?: Record<string, unknown>;
  query?: Record<string, string>;
}

function template(op: Operation, k: Kit, orgId: string): Template | undefined {
  switch (op.key) {
    case 'GET /v1/om/organization':
    case 'GET /v1/om/orders':
    case 'GET /v1/om/payment-methods':
    case 'GET /v1/om/invoices':
    case 'GET /v1/om/payments':
    case 'GET /v1/admin/organizations':
    case 'GET /v1/admin/api-keys':
    case 'GET /v1/om/events':
    case 'GET /v1/om/webhook-endpoints':
      return {};
    case 'POST /v1/om/webhook-endpoints':
      return { params: { url: 'https://8.8.8.8/isolation', enabled: false } };
    case 'GET /v1/om/webhook-endpoints/{uid}':
    case 'DELETE /v1/om/webhook-endpoints/{uid}':
    case 'POST /v1/om/webhook-endpoints/{uid}/rotate-secret':
    case 'POST /v1/om/webhook-endpoints/{uid}/test':
    case 'GET /v1/om/webhook-endpoints/{uid}/deliveries':
      return { uid: k.webhookEndpoint };
    case 'PATCH /v1/om/webhook-endpoints/{uid}':
      return { uid: k.webhookEndpoint, params: { description: 'isolation' } };
    case 'POST /v1/om/webhook-endpoints/{uid}/deliveries/{deliveryId}/retry':
      return { uid: k.webhookEndpoint, deliveryId: k.delivery };
    case 'GET /v1/om/reports/payments-summary':
      // The last and the next 24 hours: A's payments of today are in it.
      return {
        query: {
          from: new Date(Date.now() - 86_400_000).toISOString(),
          to: new Date(Date.now() + 86_400_000).toISOString(),
          groupBy: 'method,day',
        },
      };
    case 'POST /v1/om/orders':
      return { params: { total: 10 } };
    case 'GET /v1/om/orders/{uid}':
    case 'GET /v1/om/orders/{uid}/payments':
      return { uid: k.orderOpen };
    case 'PATCH /v1/om/orders/{uid}':
      return { uid: k.orderOpen, params: { customerUid: 'iso-customer' } };
    case 'PATCH /v1/om/orders/{uid}/close':
    case 'PATCH /v1/om/orders/{uid}/cancel':
      return { uid: k.orderEmpty };
    case 'PATCH /v1/om/orders/{uid}/reopen':
      return { uid: k.orderClosed };
    case 'POST /v1/om/payment-methods':
      return { params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } } };
    case 'GET /v1/om/payment-methods/{uid}':
    case 'DELETE /v1/om/payment-methods/{uid}':
      return { uid: k.methodExtra };
    case 'PATCH /v1/om/payment-methods/{uid}':
      return { uid: k.methodExtra, params: { visible: true } };
    case 'POST /v1/om/invoices':
      return { params: { orderId: k.orderOpen } };
    case 'GET /v1/om/invoices/{uid}':
    case 'DELETE /v1/om/invoices/{uid}':
    case 'PATCH /v1/om/invoices/{uid}/close':
      return { uid: k.invoiceOpen };
    case 'PATCH /v1/om/invoices/{uid}':
      return { uid: k.creditNote, params: { applyExpiresAt: '2031-01-01T00:00:00.000Z' } };
    case 'POST /v1/om/invoices/{uid}/send':
      return { uid: k.invoiceClosed, params: { channel: 'email' } };
    case 'POST /v1/om/payments':
      return {
        params: {
          orderId: k.orderOpen,
          type: 'receipt',
          methodId: k.methodMain,
          amount: 0.01,
        },
      };
    case 'GET /v1/om/payments/{uid}':
    case 'GET /v1/om/payments/{uid}/history':
    case 'DELETE /v1/om/payments/{uid}':
      return { uid: k.receiptPending };
    case 'PATCH /v1/om/payments/{uid}':
      return { uid: k.receiptPending, params: { note: 'iso note' } };
    case 'PATCH /v1/om/payments/{uid}/confirm':
      return { uid: k.receiptPending, params: {} };
    case 'POST /v1/admin/organizations':
      return { params: { name: 'Iso', currency: 'SAR' } };
    case 'GET /v1/admin/organizations/{uid}':
      return { uid: orgId };
    case 'PATCH /v1/admin/organizations/{uid}':
      return { uid: orgId, params: { name: 'Renamed' } };
    case 'POST /v1/admin/api-keys':
      return { params: { name: 'iso key', role: 'viewer', organizations: [orgId] } };
    case 'GET /v1/admin/api-keys/{uid}':
    case 'PATCH /v1/admin/api-keys/{uid}/revoke':
      return { uid: k.keyIds[0]! };
    default:
      return undefined;
  }
}

function urlOf(op: Operation, t: Template): string {
  const withUid =
    t.uid === undefined ? op.path : op.path.replace('{uid}', encodeURIComponent(t.uid));
  const path =
    t.deliveryId === undefined
      ? withUid
      : withUid.replace('{deliveryId}', encodeURIComponent(t.deliveryId));
  const qs = new URLSearchParams(t.query ?? {}).toString();
  return qs === '' ? path : `${path}?${qs}`;
}

async function send(
  base: string,
  op: Operation,
  t: Template,
  headers: Record<string, string>,
): Promise<Reply> {
  return call(
    base,
    op.method,
    urlOf(op, t),
    headers,
    t.params === undefined ? undefined : { params: t.params },
  );
}

// ---------------------------------------------------------------------------------------
// Comparing answers.

function scrub(value: unknown, masks: string[]): unknown {
  if (typeof value === 'string') {
    return masks.reduce((s, m) => (m === '' ? s : s.split(m).join('<ID>')), value);
  }
  if (Array.isArray(value)) return value.map((v) => scrub(v, masks));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== 'requestId' && k !== 'instanceId')
        .map(([k, v]) => [k, scrub(v, masks)]),
    );
  }
  return value;
}

/** What must not differ between a foreign id and an unknown one (lists: the item count). */
function shape(reply: Reply, masks: string[]): string {
  const b = reply.body;
  if (reply.status === 200 && Array.isArray(b?.data?.items)) {
    return `${reply.status} items=${b.data.items.length}`;
  }
  if (reply.status === 200) return `${reply.status} success`;
  return `${reply.status} ${JSON.stringify(scrub(b?.error ?? reply.text, masks))}`;
}

// ---------------------------------------------------------------------------------------
// The suite.

export const suite = {
  name: 'isolation',
  async run(profile: Profile): Promise<SuiteResult> {
    const started = Date.now();
    const fx = await fixture();
    let server: ServerHandle | undefined;
    try {
      server = await startServer(fx.testDatabase.url);
      const base = server.url;
      const doc = await (await fetch(`${base}/openapi.json`)).json();
      const ops = loadOperations(doc);
      const A = new Org(base, fx.rootKey, await makeOrganization(base, fx.rootKey, 'SAR'));
      const B = new Org(base, fx.rootKey, await makeOrganization(base, fx.rootKey, 'SAR'));
      const kitA = await buildKit(A);
      const kitB = await buildKit(B);
      const bIds = new Set<string>([
        B.id,
        ...(['order', 'payment', 'invoice', 'method', 'apiKey'] as Kind[]).flatMap((kind) =>
          idsOfKind(kitB, B.id, kind),
        ),
      ]);
      const before = await snapshot(base, fx.rootKey, B, kitB);

      const findings: Record<string, unknown[]> = {};
      const remember = (kind: string, entry: unknown) => {
        const list = (findings[kind] ??= []);
        if (list.length < 15) list.push(entry);
      };
      const info: Record<string, unknown> = {};
      const calls = { crossOrg: 0, roles: 0, revoked: 0, protectedFields: 0 };

      /** B's ids (other than those sent) anywhere in an answer to A. */
      const reveals = (reply: Reply, sent: string[]) =>
        [...bIds].filter((id) => !sent.includes(id) && reply.text.includes(id));

      // --- 1. B's ids in every id position, against an unknown id ------------------------
      let foreignSuccesses = 0;
      let foreignDiffers = 0;
      let positions = 0;
      let uncovered: string[] = [];
      const controlFailures: string[] = [];
      const compare = async (
        label: string,
        run: (id: string) => Promise<Reply>,
        foreign: string[],
        opts: { list?: boolean } = {},
      ) => {
        positions++;
        const unknownId = randomUUID();
        for (const id of foreign) {
          const theirs = await run(id);
          const unknown = await run(unknownId);
          calls.crossOrg += 2;
          const leaked = reveals(theirs, [id]);
          const isList = opts.list === true || Array.isArray(theirs.body?.data?.items);
          const succeeded =
            theirs.status === 200 &&
            (!isList || (theirs.body?.data?.items?.length ?? 0) > 0 || leaked.length > 0);
          if (succeeded || leaked.length > 0) {
            foreignSuccesses++;
            remember('foreignSuccess', {
              label,
              id,
              status: theirs.status,
              leaked,
              answer: theirs.text.slice(0, 300),
            });
          }
          const a = shape(theirs, [id]);
          const b = shape(unknown, [unknownId]);
          if (a !== b) {
            foreignDiffers++;
            remember('foreignDiffers', { label, id, foreign: a, unknown: b });
          }
        }
      };

      const opsOm = ops.filter((o) => !o.admin);
      // 1a. Path {uid}: A's admin key on B's objects of the route's kind.
      for (const op of ops.filter((o) => o.path.includes('{uid}'))) {
        const kind = kindOfPath(op.path);
        const t = template(op, kitA, A.id);
        if (kind === undefined || t === undefined) {
          uncovered.push(`${op.key} path`);
          continue;
        }
        await compare(
          `${op.key} {uid}`,
          (id) => send(base, op, { ...t, uid: id }, A.h('admin')),
          idsOfKind(kitB, B.id, kind),
        );
      }
      // 1b. Query ids of the lists.
      for (const op of ops.filter((o) => o.method === 'GET')) {
        for (const q of op.query.filter((name) => name in ID_FIELDS)) {
          const kind = ID_FIELDS[q]!;
          await compare(
            `${op.key} ?${q}`,
            (id) => send(base, op, { query: { [q]: id } }, A.h('admin')),
            idsOfKind(kitB, B.id, kind),
            { list: true },
          );
          // Control: A's own id of that kind finds A's objects, so the filter is live.
          const own = await send(
            base,
            op,
            { query: { [q]: idsOfKind(kitA, A.id, kind)[0]! } },
            A.h('admin'),
          );
          if (own.status !== 200 || (own.body?.data?.items?.length ?? 0) === 0)
            controlFailures.push(`${op.key} ?${q}: ${own.status} ${own.text.slice(0, 200)}`);
        }
      }
      // 1c. Body ids: each position on a base that succeeds with A's own id (the control).
      const bodyPositions = bodyPositionCases(A, kitA, kitB);
      for (const op of ops.filter((o) => o.hasBody)) {
        for (const field of op.bodyFields.filter((f) => f in ID_FIELDS)) {
          const make = bodyPositions[`${op.key} ${field}`];
          if (make === undefined) {
            uncovered.push(`${op.key} params.${field}`);
            continue;
          }
          const c = await make();
          await compare(
            `${op.key} params.${field}`,
            (id) =>
              send(base, op, { uid: c.uid, params: { ...c.params, [field]: id } }, A.h(c.role)),
            c.foreign,
          );
          const own = await send(
            base,
            op,
            { uid: c.uid, params: { ...c.params, [field]: c.own } },
            A.h(c.role),
          );
          if (own.status !== 200)
            controlFailures.push(
              `${op.key} params.${field}: ${own.status} ${own.text.slice(0, 200)}`,
            );
        }
      }
      // 1d. The organization-id header: every A key with B's organization, against an
      // organization that does not exist.
      for (const op of opsOm) {
        const t = template(op, kitA, A.id);
        if (t === undefined) {
          uncovered.push(`${op.key} organization-id`);
          continue;
        }
        for (const role of ROLES) {
          await compare(
            `${op.key} organization-id (${role})`,
            (id) => send(base, op, t, { ...A.h(role), 'organization-id': id }),
            [B.id],
          );
        }
      }
      // 1e. Administration with A's admin key (limited to A): B's organization and keys.
      const adminKeyCreate = ops.find((o) => o.key === 'POST /v1/admin/api-keys');
      if (adminKeyCreate !== undefined) {
        await compare(
          'POST /v1/admin/api-keys params.organizations',
          (id) =>
            send(
              base,
              adminKeyCreate,
              { params: { name: 'x', role: 'admin', organizations: [id] } },
              A.h('admin'),
            ),
          [B.id],
        );
      }
      for (const op of ops.filter((o) => o.admin && o.method === 'GET' && !o.path.includes('{'))) {
        const reply = await send(base, op, { query: { limit: '100' } }, A.h('admin'));
        calls.crossOrg++;
        const leaked = reveals(reply, []);
        if (leaked.length > 0) {
          foreignSuccesses++;
          remember('foreignSuccess', { label: `${op.key} (A's admin)`, leaked });
        }
      }
      uncovered = [...new Set(uncovered)];

      // --- 2. Keys below an action's role ------------------------------------------------
      const actions = roleActions(A, fx.rootKey);
      let underSuccesses = 0;
      let underNot403 = 0;
      const roleControlFailures: string[] = [];
      const writeOps = ops.filter((o) => o.method !== 'GET' || o.admin);
      const withoutRoleCheck = writeOps
        .filter((o) => !actions.some((a) => a.op === o.key))
        .map((o) => o.key);
      for (const action of actions) {
        const op = ops.find((o) => o.key === action.op);
        if (op === undefined) continue;
        for (const role of ROLES.filter((r) => RANK[r] < RANK[action.minRole])) {
          const t = await action.make();
          const reply = await send(base, op, t, A.h(role));
          calls.roles++;
          if (reply.status === 200) {
            underSuccesses++;
            remember('underPrivileged', {
              action: action.label,
              role,
              answer: reply.text.slice(0, 300),
            });
          } else if (reply.status !== 403) {
            underNot403++;
            remember('underPrivilegedNot403', {
              action: action.label,
              role,
              status: reply.status,
              answer: reply.text.slice(0, 300),
            });
          }
        }
        // Control: the least role that may act does succeed on the same setup.
        const t = await action.make();
        const reply = await send(base, op, t, action.controlHeaders?.() ?? A.h(action.minRole));
        calls.roles++;
        if (reply.status !== 200)
          roleControlFailures.push(`${action.label}: ${reply.status} ${reply.text.slice(0, 200)}`);
      }

      // --- 3. A revoked key --------------------------------------------------------------
      const doomed = await A.key('admin');
      const doomedHeaders = { 'api-key': doomed.secret, 'organization-id': A.id };
      const beforeRevoke = await call(base, 'GET', '/v1/om/organization', doomedHeaders);
      const revoke = await call(base, 'PATCH', `/v1/admin/api-keys/${doomed.id}/revoke`, {
        'api-key': fx.rootKey,
      });
      const reference = await call(base, 'GET', '/v1/om/organization', {
        'api-key': `omk_${randomUUID().replace(/-/g, '')}`,
        'organization-id': A.id,
      });
      const missingKey = await call(base, 'GET', '/v1/om/organization', {
        'organization-id': A.id,
      });
      const referenceShape = shape(reference, []);
      let revokedSuccesses = 0;
      let revokedDiffers = 0;
      if (shape(missingKey, []) !== referenceShape) {
        revokedDiffers++;
        remember('revoked', { label: 'missing key vs unknown key', a: shape(missingKey, []) });
      }
      for (const op of ops) {
        let t = template(op, kitA, A.id);
        if (t === undefined) continue;
        // Should the revoked key still work, let it revoke a throwaway key, not one in use.
        if (op.key === 'PATCH /v1/admin/api-keys/{uid}/revoke')
          t = { uid: (await A.key('viewer')).id };
        const reply = await send(base, op, t, doomedHeaders);
        calls.revoked++;
        if (reply.status === 200) {
          revokedSuccesses++;
          remember('revoked', { label: op.key, status: 200, answer: reply.text.slice(0, 300) });
        } else if (reply.status !== 401 || shape(reply, []) !== referenceShape) {
          revokedDiffers++;
          remember('revoked', { label: op.key, got: shape(reply, []), want: referenceShape });
        }
      }
      const revokeWorked = beforeRevoke.status === 200 && revoke.status === 200;

      // --- 4. Protected fields -----------------------------------------------------------
      const marker = {
        id: `iso-protected-${randomUUID()}`,
        by: 'mallory-protected',
        at: '2001-02-03T04:05:06.000Z',
        number: 424242,
        invoiceNumber: 909090,
        amount: 777.77,
      };
      const protectedValues: Record<string, unknown> = {
        organizationId: B.id,
        paidAmount: marker.amount,
        refundedAmount: marker.amount,
        pendingAmount: marker.amount,
        balanceDue: marker.amount,
        id: marker.id,
        createdBy: marker.by,
        updatedBy: marker.by,
        createdVia: marker.by,
        createdAt: marker.at,
        updatedAt: marker.at,
        number: marker.number,
        status: 'closed',
        invoiceNumber: marker.invoiceNumber,
        revokedAt: marker.at,
        currencyExponent: 9,
      };
      let protectedAccepted = 0;
      let protectedNot400 = 0;
      const protectedCases: string[] = [];
      for (const op of ops.filter((o) => o.hasBody)) {
        const make = protectedBase(op, A, fx.rootKey);
        if (make === undefined) {
          uncovered.push(`${op.key} protected fields`);
          continue;
        }
        const fields = Object.keys(protectedValues).filter((f) => !op.bodyFields.includes(f));
        for (const field of fields) {
          for (const where of ['params', 'top'] as const) {
            const c = await make();
            const body =
              where === 'params'
                ? { params: { ...c.params, [field]: protectedValues[field] } }
                : { params: c.params, [field]: protectedValues[field] };
            const reply = await call(
              base,
              op.method,
              urlOf(op, { uid: c.uid, deliveryId: c.deliveryId }),
              c.headers,
              body,
            );
            calls.protectedFields++;
            protectedCases.push(`${op.key} ${where}.${field}`);
            if (reply.status === 200) {
              protectedAccepted++;
              remember('protectedAccepted', {
                op: op.key,
                where,
                field,
                answer: reply.text.slice(0, 300),
              });
            } else if (reply.status !== 400) {
              protectedNot400++;
              remember('protectedNot400', {
                op: op.key,
                where,
                field,
                answer: reply.text.slice(0, 300),
              });
            }
          }
        }
      }
      const stored = await storedMarkers(fx.database.db, marker);

      // --- 5. B unchanged; invariants ----------------------------------------------------
      const after = await snapshot(base, fx.rootKey, B, kitB);
      const differences = Object.keys({ ...before, ...after }).filter(
        (k) => before[k] !== after[k],
      );
      const violations = await checkDatabaseInvariants(fx.database.db);

      Object.assign(info, {
        organizations: { A: A.id, B: B.id },
        calls,
        idPositionsCompared: positions,
        uncoveredPositions: uncovered,
        controlFailures,
        roleActions: actions.map((a) => `${a.label} (${a.minRole})`),
        roleControlFailures,
        underPrivilegedNot403: underNot403,
        writeRoutesWithoutRoleCheck: withoutRoleCheck,
        revoke: {
          worksBefore: beforeRevoke.status,
          revoke: revoke.status,
          reference: referenceShape,
        },
        protectedCases: protectedCases.length,
        protectedNot400,
        storedMarkers: stored,
        snapshotEntries: Object.keys(before).length,
        snapshotDifferences: differences.slice(0, 20),
        invariantViolations: violations.slice(0, 20),
        findings,
      });
      return {
        suite: 'isolation',
        engine: ENGINE,
        profile,
        durationMs: Date.now() - started,
        figures: [
          exactly("successes with B's ids (or answers revealing B)", foreignSuccesses, 0),
          exactly("answers with B's ids that differ from unknown ids", foreignDiffers, 0),
          exactly('id positions not covered', uncovered.length, 0),
          exactly('own-id controls that did not succeed', controlFailures.length, 0),
          exactly('under-privileged successes', underSuccesses, 0),
          exactly('routes without a role check', withoutRoleCheck.length, 0),
          exactly('role controls that did not succeed', roleControlFailures.length, 0),
          exactly(
            'revoked key: worked before and revoke answered 200 (1 = yes)',
            revokeWorked ? 1 : 0,
            1,
          ),
          exactly('revoked key successes', revokedSuccesses, 0),
          exactly('revoked key answers not the one 401 body', revokedDiffers, 0),
          exactly('protected fields accepted (2xx)', protectedAccepted, 0),
          exactly('protected values stored', stored.total, 0),
          exactly("differences in B's data", differences.length, 0),
          exactly('invariant violations', violations.length, 0),
        ],
        info,
      };
    } finally {
      await server?.kill('SIGKILL');
      await fx.close();
    }
  },
};

// ---------------------------------------------------------------------------------------
// Body id positions: a fresh base on A that succeeds with A's own id (the control), and B's
// ids of the same kind, in the states that would reach the deepest check if isolation failed.

interface BodyCase {
  uid?: string;
  params: Record<string, unknown>;
  own: string;
  foreign: string[];
  role: Role;
}

function bodyPositionCases(A: Org, a: Kit, b: Kit): Record<string, () => Promise<BodyCase>> {
  const receipt = { type: 'receipt', methodId: a.methodMain, amount: 0.01 };
  const completeReceiptsOfB = [b.receiptComplete, b.receiptOfClosed];
  const paymentsOfB = idsOfKind(b, '', 'payment');
  const pending = async () => {
    const order = await A.order(50);
    return { order, payment: await A.receipt(order, 1) };
  };
  return {
    'POST /v1/om/payments orderId': async () => ({
      params: { ...receipt },
      own: await A.order(50),
      foreign: [b.orderOpen, b.orderClosed, b.orderEmpty],
      role: 'manager',
    }),
    'POST /v1/om/payments methodId': async () => ({
      params: { ...receipt, orderId: await A.order(50) },
      own: a.methodMain,
      foreign: [b.methodMain, b.methodExtra, b.methodHidden],
      role: 'manager',
    }),
    'POST /v1/om/payments invoiceId': async () => {
      const order = await A.order(50);
      return {
        params: { ...receipt, orderId: order },
        own: await A.invoice(order),
        foreign: [b.invoiceOpen, b.invoiceClosed, b.creditNote],
        role: 'manager',
      };
    },
    'POST /v1/om/payments sourcePaymentId': async () => {
      const s = await A.settledOrder();
      return {
        params: { orderId: s.order, type: 'refund', amount: 0.01 },
        own: s.receipt,
        foreign: completeReceiptsOfB,
        role: 'manager',
      };
    },
    'PATCH /v1/om/payments/{uid} id': async () => {
      const p = await pending();
      return {
        uid: p.payment,
        params: { note: 'n' },
        own: p.payment,
        foreign: paymentsOfB,
        role: 'manager',
      };
    },
    'PATCH /v1/om/payments/{uid} orderId': async () => {
      const p = await pending();
      return {
        uid: p.payment,
        params: { note: 'n' },
        own: p.order,
        foreign: [b.orderOpen, b.orderClosed, b.orderEmpty],
        role: 'manager',
      };
    },
    'PATCH /v1/om/payments/{uid} methodId': async () => {
      const p = await pending();
      return {
        uid: p.payment,
        params: {},
        own: a.methodExtra,
        foreign: [b.methodMain, b.methodExtra, b.methodHidden],
        role: 'manager',
      };
    },
    'PATCH /v1/om/payments/{uid} sourcePaymentId': async () => {
      // A pending refund on an order with two complete receipts: moving it to the other.
      const order = await A.order(50);
      const first = await A.receipt(order, 10, 'complete');
      const second = await A.receipt(order, 10, 'complete');
      const refund = await A.refund(order, first, 1);
      return {
        uid: refund,
        params: {},
        own: second,
        foreign: completeReceiptsOfB,
        role: 'manager',
      };
    },
    'PATCH /v1/om/payments/{uid}/confirm id': async () => {
      const p = await pending();
      return { uid: p.payment, params: {}, own: p.payment, foreign: paymentsOfB, role: 'manager' };
    },
    'PATCH /v1/om/payments/{uid}/confirm orderId': async () => {
      const p = await pending();
      return {
        uid: p.payment,
        params: {},
        own: p.order,
        foreign: [b.orderOpen, b.orderClosed, b.orderEmpty],
        role: 'manager',
      };
    },
    'POST /v1/om/invoices orderId': async () => ({
      params: {},
      own: await A.order(50),
      foreign: [b.orderOpen, b.orderClosed, b.orderEmpty],
      role: 'manager',
    }),
    'POST /v1/om/invoices referenceInvoiceId': async () => {
      const order = await A.order(50);
      return {
        params: { orderId: order, type: 'credit-note' },
        own: await A.closedInvoice(order),
        foreign: [b.invoiceClosed, b.invoiceOpen, b.creditNote],
        role: 'manager',
      };
    },
    'PATCH /v1/om/invoices/{uid} referenceInvoiceId': async () => {
      const order = await A.order(50);
      const reference = await A.closedInvoice(order);
      return {
        uid: await A.invoice(order),
        params: { type: 'credit-note' },
        own: reference,
        foreign: [b.invoiceClosed, b.invoiceOpen, b.creditNote],
        role: 'manager',
      };
    },
  };
}

// ---------------------------------------------------------------------------------------
// Role checks: every write of /v1/om/ and every /v1/admin/ route, on a fresh setup each time.

interface RoleAction {
  label: string;
  op: string;
  minRole: Role;
  make: () => Promise<Template>;
  /** Headers for the control when the least role is not one of A's keys' (root admin). */
  controlHeaders?: () => Record<string, string>;
}

function roleActions(A: Org, rootKey: string): RoleAction[] {
  const pending = async () => A.receipt(await A.order(50), 1);
  const complete = async () => A.receipt(await A.order(50), 5, 'complete');
  return [
    {
      label: 'create order',
      op: 'POST /v1/om/orders',
      minRole: 'cashier',
      make: async () => ({ params: { total: 10 } }),
    },
    {
      label: 'update open order',
      op: 'PATCH /v1/om/orders/{uid}',
      minRole: 'cashier',
      make: async () => ({ uid: await A.order(), params: { customerUid: 'c1' } }),
    },
    {
      label: 'close settled order',
      op: 'PATCH /v1/om/orders/{uid}/close',
      minRole: 'cashier',
      make: async () => ({ uid: (await A.settledOrder()).order }),
    },
    {
      label: 'cancel order',
      op: 'PATCH /v1/om/orders/{uid}/cancel',
      minRole: 'manager',
      make: async () => ({ uid: await A.order() }),
    },
    {
      label: 'reopen closed order',
      op: 'PATCH /v1/om/orders/{uid}/reopen',
      minRole: 'manager',
      make: async () => ({ uid: (await A.closedOrder()).order }),
    },
    {
      label: 'create payment method',
      op: 'POST /v1/om/payment-methods',
      minRole: 'admin',
      make: async () => ({ params: { locales: { ar: { name: 'شيك' }, en: { name: 'Cheque' } } } }),
    },
    {
      label: 'update payment method',
      op: 'PATCH /v1/om/payment-methods/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: await A.method(), params: { visible: false } }),
    },
    {
      label: 'delete payment method',
      op: 'DELETE /v1/om/payment-methods/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: await A.method() }),
    },
    {
      label: 'create invoice',
      op: 'POST /v1/om/invoices',
      minRole: 'manager',
      make: async () => ({ params: { orderId: await A.order() } }),
    },
    {
      label: 'update invoice',
      op: 'PATCH /v1/om/invoices/{uid}',
      minRole: 'manager',
      make: async () => ({
        uid: await A.invoice(await A.order()),
        params: { applyExpiresAt: '2031-01-01T00:00:00.000Z' },
      }),
    },
    {
      label: 'delete invoice',
      op: 'DELETE /v1/om/invoices/{uid}',
      minRole: 'manager',
      make: async () => ({ uid: await A.invoice(await A.order()) }),
    },
    {
      label: 'close invoice',
      op: 'PATCH /v1/om/invoices/{uid}/close',
      minRole: 'manager',
      make: async () => ({ uid: await A.invoice(await A.order()) }),
    },
    {
      label: 'send invoice',
      op: 'POST /v1/om/invoices/{uid}/send',
      minRole: 'manager',
      make: async () => ({ uid: await A.closedInvoice(await A.order()), params: {} }),
    },
    {
      label: 'create receipt',
      op: 'POST /v1/om/payments',
      minRole: 'cashier',
      make: async () => ({
        params: { orderId: await A.order(), type: 'receipt', methodId: A.keys.method, amount: 1 },
      }),
    },
    {
      label: 'create refund with source (open order)',
      op: 'POST /v1/om/payments',
      minRole: 'cashier',
      make: async () => {
        const s = await A.settledOrder();
        return {
          params: { orderId: s.order, type: 'refund', sourcePaymentId: s.receipt, amount: 1 },
        };
      },
    },
    {
      label: 'create refund without source',
      op: 'POST /v1/om/payments',
      minRole: 'manager',
      make: async () => {
        const s = await A.settledOrder();
        return {
          params: { orderId: s.order, type: 'refund', methodId: A.keys.method, amount: 1 },
        };
      },
    },
    {
      label: 'create refund on a closed order',
      op: 'POST /v1/om/payments',
      minRole: 'manager',
      make: async () => {
        const s = await A.closedOrder();
        return {
          params: { orderId: s.order, type: 'refund', sourcePaymentId: s.receipt, amount: 1 },
        };
      },
    },
    {
      label: 'update pending payment',
      op: 'PATCH /v1/om/payments/{uid}',
      minRole: 'cashier',
      make: async () => ({ uid: await pending(), params: { note: 'changed' } }),
    },
    {
      label: 'update complete payment (note)',
      op: 'PATCH /v1/om/payments/{uid}',
      minRole: 'manager',
      make: async () => ({ uid: await complete(), params: { note: 'changed' } }),
    },
    {
      label: 'correct complete payment',
      op: 'PATCH /v1/om/payments/{uid}',
      minRole: 'manager',
      make: async () => ({ uid: await complete(), params: { amount: 4, correction: true } }),
    },
    {
      label: 'reverse complete payment',
      op: 'PATCH /v1/om/payments/{uid}',
      minRole: 'manager',
      make: async () => ({ uid: await complete(), params: { status: 'reversed' } }),
    },
    {
      label: 'confirm pending payment',
      op: 'PATCH /v1/om/payments/{uid}/confirm',
      minRole: 'cashier',
      make: async () => ({ uid: await pending(), params: {} }),
    },
    {
      label: 'delete pending payment',
      op: 'DELETE /v1/om/payments/{uid}',
      minRole: 'cashier',
      make: async () => ({ uid: await pending() }),
    },
    {
      label: 'create webhook endpoint',
      op: 'POST /v1/om/webhook-endpoints',
      minRole: 'admin',
      make: async () => ({ params: { url: 'https://8.8.8.8/isolation', enabled: false } }),
    },
    {
      label: 'update webhook endpoint',
      op: 'PATCH /v1/om/webhook-endpoints/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: await A.webhookEndpoint(), params: { description: 'x' } }),
    },
    {
      label: 'delete webhook endpoint',
      op: 'DELETE /v1/om/webhook-endpoints/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: await A.webhookEndpoint() }),
    },
    {
      label: 'rotate webhook secret',
      op: 'POST /v1/om/webhook-endpoints/{uid}/rotate-secret',
      minRole: 'admin',
      make: async () => ({ uid: await A.webhookEndpoint() }),
    },
    {
      label: 'test webhook endpoint',
      op: 'POST /v1/om/webhook-endpoints/{uid}/test',
      minRole: 'admin',
      make: async () => ({ uid: await A.webhookEndpoint() }),
    },
    {
      label: 'retry webhook delivery',
      op: 'POST /v1/om/webhook-endpoints/{uid}/deliveries/{deliveryId}/retry',
      minRole: 'admin',
      make: async () => {
        const { endpoint, delivery } = await A.endpointWithDelivery();
        return { uid: endpoint, deliveryId: delivery };
      },
    },
    {
      label: 'admin: list organizations',
      op: 'GET /v1/admin/organizations',
      minRole: 'admin',
      make: async () => ({}),
    },
    {
      label: 'admin: get organization',
      op: 'GET /v1/admin/organizations/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: A.id }),
    },
    {
      label: 'admin: update organization',
      op: 'PATCH /v1/admin/organizations/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: A.id, params: { name: 'Rel SAR' } }),
    },
    {
      label: 'admin: create organization (all-organizations admin)',
      op: 'POST /v1/admin/organizations',
      minRole: 'admin',
      make: async () => ({ params: { name: 'Made by role test', currency: 'SAR' } }),
      controlHeaders: () => ({ 'api-key': rootKey }),
    },
    {
      label: 'admin: list api keys',
      op: 'GET /v1/admin/api-keys',
      minRole: 'admin',
      make: async () => ({}),
    },
    {
      label: 'admin: get api key',
      op: 'GET /v1/admin/api-keys/{uid}',
      minRole: 'admin',
      make: async () => ({ uid: (await A.key('viewer')).id }),
    },
    {
      label: 'admin: create api key',
      op: 'POST /v1/admin/api-keys',
      minRole: 'admin',
      make: async () => ({ params: { name: 'role test', role: 'viewer', organizations: [A.id] } }),
    },
    {
      label: 'admin: revoke api key',
      op: 'PATCH /v1/admin/api-keys/{uid}/revoke',
      minRole: 'admin',
      make: async () => ({ uid: (await A.key('viewer')).id }),
    },
  ];
}

// ---------------------------------------------------------------------------------------
// Protected fields: a valid body for each route, with the key that may send it.

function protectedBase(
  op: Operation,
  A: Org,
  rootKey: string,
):
  | (() => Promise<{
      uid?: string;
      deliveryId?: string;
      params: Record<string, unknown>;
      headers: Record<string, string>;
    }>)
  | undefined {
  const h = A.h('admin');
  const root = { 'api-key': rootKey };
  switch (op.key) {
    case 'POST /v1/om/orders':
      return async () => ({ params: { total: 10 }, headers: h });
    case 'PATCH /v1/om/orders/{uid}':
      return async () => ({ uid: await A.order(), params: { total: 90 }, headers: h });
    case 'POST /v1/om/webhook-endpoints':
      return async () => ({
        params: { url: 'https://8.8.8.8/isolation', enabled: false },
        headers: h,
      });
    case 'PATCH /v1/om/webhook-endpoints/{uid}':
      return async () => ({
        uid: await A.webhookEndpoint(),
        params: { description: 'x' },
        headers: h,
      });
    case 'DELETE /v1/om/webhook-endpoints/{uid}':
    case 'POST /v1/om/webhook-endpoints/{uid}/rotate-secret':
    case 'POST /v1/om/webhook-endpoints/{uid}/test':
      return async () => ({ uid: await A.webhookEndpoint(), params: {}, headers: h });
    case 'POST /v1/om/webhook-endpoints/{uid}/deliveries/{deliveryId}/retry':
      return async () => {
        const { endpoint, delivery } = await A.endpointWithDelivery();
        return { uid: endpoint, deliveryId: delivery, params: {}, headers: h };
      };
    case 'POST /v1/om/payment-methods':
      return async () => ({
        params: { locales: { ar: { name: 'نقد' }, en: { name: 'Cash' } } },
        headers: h,
      });
    case 'PATCH /v1/om/payment-methods/{uid}':
      return async () => ({ uid: await A.method(), params: { visible: true }, headers: h });
    case 'POST /v1/om/invoices':
      return async () => ({ params: { orderId: await A.order() }, headers: h });
    case 'PATCH /v1/om/invoices/{uid}':
      return async () => ({
        uid: await A.invoice(await A.order()),
        params: { applyExpiresAt: '2031-01-01T00:00:00.000Z' },
        headers: h,
      });
    case 'PATCH /v1/om/invoices/{uid}/close':
      return async () => ({ uid: await A.invoice(await A.order()), params: {}, headers: h });
    case 'POST /v1/om/invoices/{uid}/send':
      return async () => ({
        uid: await A.closedInvoice(await A.order()),
        params: {},
        headers: h,
      });
    case 'POST /v1/om/payments':
      return async () => ({
        params: { orderId: await A.order(), type: 'receipt', methodId: A.keys.method, amount: 1 },
        headers: h,
      });
    case 'PATCH /v1/om/payments/{uid}':
      return async () => ({
        uid: await A.receipt(await A.order(), 1),
        params: { note: 'p' },
        headers: h,
      });
    case 'PATCH /v1/om/payments/{uid}/confirm':
      return async () => ({ uid: await A.receipt(await A.order(), 1), params: {}, headers: h });
    case 'POST /v1/admin/organizations':
      return async () => ({ params: { name: 'Protected', currency: 'SAR' }, headers: root });
    case 'PATCH /v1/admin/organizations/{uid}':
      return async () => ({ uid: A.id, params: { name: 'Rel SAR' }, headers: root });
    case 'POST /v1/admin/api-keys':
      return async () => ({
        params: { name: 'protected', role: 'viewer', organizations: [A.id] },
        headers: root,
      });
    // Writes that take no parameters: their only valid body is empty `params`.
    case 'PATCH /v1/om/orders/{uid}/close':
      return async () => ({ uid: (await A.settledOrder()).order, params: {}, headers: h });
    case 'PATCH /v1/om/orders/{uid}/cancel':
      return async () => ({ uid: await A.order(), params: {}, headers: h });
    case 'PATCH /v1/om/orders/{uid}/reopen':
      return async () => ({ uid: (await A.closedOrder()).order, params: {}, headers: h });
    case 'DELETE /v1/om/payment-methods/{uid}':
      return async () => ({ uid: await A.method(), params: {}, headers: h });
    case 'DELETE /v1/om/invoices/{uid}':
      return async () => ({ uid: await A.invoice(await A.order()), params: {}, headers: h });
    case 'DELETE /v1/om/payments/{uid}':
      return async () => ({ uid: await A.receipt(await A.order(), 1), params: {}, headers: h });
    case 'PATCH /v1/admin/api-keys/{uid}/revoke':
      return async () => ({ uid: (await A.key('viewer')).id, params: {}, headers: root });
    default:
      return undefined;
  }
}

/** Rows anywhere that carry a value only a protected field could have put there. */
async function storedMarkers(
  db: Kysely<DB>,
  m: { id: string; by: string; at: string; number: number; invoiceNumber: number; amount: number },
): Promise<{ total: number; byCheck: Record<string, number> }> {
  const byCheck: Record<string, number> = {};
  const count = async (label: string, query: RawBuilder<{ n: number | string }>) => {
    const { rows } = await query.execute(db);
    byCheck[label] = Number(rows[0]?.n ?? 0);
  };
  const audited = [
    'organizations',
    'api_keys',
    'orders',
    'payment_methods',
    'invoices',
    'payments',
  ];
  for (const table of audited) {
    const t = sql.table(table);
    await count(
      `${table}: id/audit markers`,
      sql<{ n: number }>`select count(*) as n from ${t} where id = ${m.id}
        or created_by = ${m.by} or updated_by = ${m.by} or created_via = ${m.by}
        or created_at = ${m.at} or updated_at = ${m.at}`,
    );
  }
  // A's organization is in SAR: 2 decimals. Converted exactly, like the service does.
  const converted = toMinor(m.amount, 2, Number.MAX_SAFE_INTEGER);
  if (!converted.ok) throw new Error(`marker amount ${m.amount} is not a SAR amount`);
  const minor = converted.minor;
  await count(
    'orders: number / figures markers',
    sql<{ n: number }>`select count(*) as n from orders where number = ${m.number}
      or paid_minor = ${minor} or refunded_minor = ${minor} or pending_minor = ${minor}`,
  );
  await count(
    'invoices: invoiceNumber marker',
    sql<{
      n: number;
    }>`select count(*) as n from invoices where invoice_number = ${m.invoiceNumber}`,
  );
  await count(
    'payments: refunded marker',
    sql<{ n: number }>`select count(*) as n from payments where refunded_minor = ${minor}`,
  );
  await count(
    'api_keys: revokedAt marker',
    sql<{ n: number }>`select count(*) as n from api_keys where revoked_at = ${m.at}`,
  );
  await count(
    'organizations: exponent marker',
    sql<{ n: number }>`select count(*) as n from organizations where currency_exponent = 9`,
  );
  return { total: Object.values(byCheck).reduce((s, n) => s + n, 0), byCheck };
}

// ---------------------------------------------------------------------------------------
// B's data as B (and the platform admin) sees it.

async function snapshot(
  base: string,
  rootKey: string,
  B: Org,
  k: Kit,
): Promise<Record<string, string>> {
  const h = B.h('admin');
  const out: Record<string, string> = {};
  const get = async (url: string, headers = h) => {
    const reply = await call(base, 'GET', url, headers);
    out[url] = `${reply.status} ${JSON.stringify(scrub(reply.body, []))}`;
    return reply;
  };
  await get('/v1/om/organization');
  const lists = ['/v1/om/orders', '/v1/om/payments', '/v1/om/payment-methods', '/v1/om/invoices'];
  for (const list of lists) {
    const reply = await get(`${list}?limit=100`);
    for (const item of (reply.body?.data?.items ?? []) as { id: string }[]) {
      await get(`${list}/${item.id}`);
      if (list === '/v1/om/orders') await get(`${list}/${item.id}/payments`);
      if (list === '/v1/om/payments') await get(`${list}/${item.id}/history`);
    }
  }
  // Also what the kit named, in case a list lost (or never showed) an item.
  for (const id of idsOfKind(k, B.id, 'order')) await get(`/v1/om/orders/${id}`);
  for (const id of idsOfKind(k, B.id, 'payment')) await get(`/v1/om/payments/${id}`);
  for (const id of idsOfKind(k, B.id, 'invoice')) await get(`/v1/om/invoices/${id}`);
  for (const id of idsOfKind(k, B.id, 'method')) await get(`/v1/om/payment-methods/${id}`);
  const root = { 'api-key': rootKey };
  await get(`/v1/admin/organizations/${B.id}`, root);
  for (const id of k.keyIds) await get(`/v1/admin/api-keys/${id}`, root);
  return out;
}
