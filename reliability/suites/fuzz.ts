// Schema-derived fuzzing of every /v1/ route the server documents (API.md §1): valid requests
// built from /openapi.json with real ids (so success paths run), and mutated ones — wrong
// types, missing/unknown/protected fields, boundary numbers, odd and huge strings, malformed
// JSON, wrong content types, odd path ids, odd query strings, odd headers and methods.
// Every answer must be the envelope (or the error envelope), never a 5xx, never leak
// internals, and every 2xx must match its documented response schema. Black-box: HTTP to the
// real server process on loopback. The request sequence is a pure function of the seed
// (RELIABILITY_FUZZ_SEED), printed in `info`, so a failure can be replayed.
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { checkDatabaseInvariants } from '../invariants.ts';
import {
  ENDPOINT_BY_ROUTE,
  WEBHOOK_URL,
  documentedRoutes,
  tableGaps,
  type Endpoint,
  type Kind,
  type Req,
} from '../endpoints.ts';
import { AMOUNTS, Rng, recent, type AdminWorld, type OrgWorld } from '../fuzz-world.ts';
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
  type ServerHandle,
  type SuiteResult,
} from '../lib.ts';

// ajv-formats is CommonJS; under NodeNext its default export sits one level down.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const DEFAULT_SEED = 0x5eed2024;

// ---------------------------------------------------------------------------------------
// The OpenAPI document.

type Schema = Record<string, any>;

interface Operation {
  method: string;
  path: string;
  key: string;
  admin: boolean;
  hasUid: boolean;
  /** Names of the path's other ids ({deliveryId}, …). */
  pathIds: string[];
  query: { name: string; schema: Schema; required: boolean }[];
  /** The object branch of the request body schema, if the route takes a body. */
  body: Schema | undefined;
  /** The whole request body schema (may be anyOf [object, null]). */
  bodySchema: Schema | undefined;
  validateBody: ValidateFunction | undefined;
  validate200: ValidateFunction | undefined;
  /** Its entry in reliability/endpoints.ts (undefined: a finding). */
  entry: Endpoint | undefined;
}

function loadOperations(doc: any, ajv: Ajv): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [m, op] of Object.entries<any>(item)) {
      const method = m.toUpperCase();
      if (!['GET', 'POST', 'PATCH', 'DELETE'].includes(method)) continue;
      const params: any[] = op.parameters ?? [];
      const bodySchema: Schema | undefined = op.requestBody?.content?.['application/json']?.schema;
      const objectBranch =
        bodySchema === undefined
          ? undefined
          : Array.isArray(bodySchema.anyOf)
            ? bodySchema.anyOf.find((b: Schema) => b.type === 'object')
            : bodySchema;
      const response = op.responses?.['200']?.content?.['application/json']?.schema;
      ops.push({
        method,
        path,
        key: `${method} ${path}`,
        admin: path.startsWith('/v1/admin/'),
        hasUid: path.includes('{uid}'),
        pathIds: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).filter((n) => n !== 'uid'),
        query: params
          .filter((p) => p.in === 'query')
          .map((p) => ({ name: p.name, schema: p.schema, required: p.required === true })),
        body: objectBranch,
        bodySchema,
        validateBody:
          bodySchema === undefined
            ? undefined
            : ajv.compile({ ...bodySchema, components: doc.components }),
        validate200:
          response === undefined
            ? undefined
            : ajv.compile({ ...response, components: doc.components }),
        entry: ENDPOINT_BY_ROUTE.get(`${method} ${path}`),
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------
// The world: real objects the valid requests point at, refreshed as the fuzz uses them up.

const TOTALS: Record<number, number[]> = {
  0: [100, 250, 1000],
  2: [100, 250.5, 1000, 99.99],
  3: [100, 250.125, 1000],
};
const CURRENCIES = ['SAR', 'KWD', 'JPY', 'USD', 'EUR', 'BHD', 'OMR', 'AED'];

async function must(what: string, reply: Awaited<ReturnType<typeof call>>): Promise<any> {
  if (reply.status !== 200) {
    throw new Error(`setup: ${what} answered ${reply.status} ${reply.text.slice(0, 300)}`);
  }
  return reply.body.data;
}

async function refreshOrg(base: string, w: OrgWorld, round: number): Promise<void> {
  const h = headersFor(w.org, 'manager');
  const admin = headersFor(w.org, 'admin');
  const post = (url: string, params: unknown) => call(base, 'POST', url, h, { params });
  const amount = (major: number) => major; // totals below are exact in every exponent used
  const order = async (total: number) =>
    (await must('order', await post('/v1/om/orders', { total: amount(total) }))).id as string;
  const payment = async (params: Record<string, unknown>) =>
    (await must('payment', await post('/v1/om/payments', params))).id as string;

  const o1 = await order(100);
  const r1 = await payment({
    orderId: o1,
    type: 'receipt',
    methodId: w.org.method,
    amount: 40,
    status: 'complete',
  });
  const p1 = await payment({ orderId: o1, type: 'receipt', methodId: w.org.method, amount: 10 });
  const f1 = await payment({ orderId: o1, type: 'refund', sourcePaymentId: r1, amount: 5 });
  const i1 = (await must('invoice', await post('/v1/om/invoices', { orderId: o1 }))).id as string;
  const i2 = (await must('invoice', await post('/v1/om/invoices', { orderId: o1 }))).id as string;
  await must('close invoice', await call(base, 'PATCH', `/v1/om/invoices/${i2}/close`, h));
  const o2 = await order(50);
  // o3: paid in full and closed (reopen, refunds after the sale); o4: paid in full, still
  // open (close); o5: nothing paid (cancel).
  const o3 = await order(20);
  const r3 = await payment({
    orderId: o3,
    type: 'receipt',
    methodId: w.org.method,
    amount: 20,
    status: 'complete',
  });
  await must('close order', await call(base, 'PATCH', `/v1/om/orders/${o3}/close`, h));
  const o4 = await order(20);
  const r4 = await payment({
    orderId: o4,
    type: 'receipt',
    methodId: w.org.method,
    amount: 20,
    status: 'complete',
  });
  const o5 = await order(30);
  const m = (
    await must(
      'method',
      await call(base, 'POST', '/v1/om/payment-methods', admin, {
        params: {
          locales: { ar: { name: `طريقة ${round}` }, en: { name: `Method ${round}` } },
          code: `m${round}-${w.org.id.slice(-6)}`,
        },
      }),
    )
  ).id as string;
  w.orders.push(o1, o2, o3, o4, o5);
  w.openOrders.push(o1, o2);
  w.closedOrders.push(o3);
  w.settledOrders.push(o4);
  w.emptyOrders.push(o5);
  w.payments.push(r1, p1, f1, r3, r4);
  w.pending.push({ id: p1, orderId: o1 }, { id: f1, orderId: o1 });
  w.completeReceipts.push(
    { id: r1, orderId: o1 },
    { id: r3, orderId: o3 },
    { id: r4, orderId: o4 },
  );
  w.refunds.push(f1);
  w.invoices.push({ id: i1, orderId: o1 }, { id: i2, orderId: o1 });
  w.openInvoices.push({ id: i1, orderId: o1 });
  w.closedInvoices.push({ id: i2, orderId: o1 });
  w.methods.push(m);
  const hook = await must(
    'webhook endpoint',
    await call(base, 'POST', '/v1/om/webhook-endpoints', admin, { params: { url: WEBHOOK_URL } }),
  );
  await must(
    'test event',
    await call(base, 'POST', `/v1/om/webhook-endpoints/${hook.id}/test`, admin),
  );
  const deliveries = await must(
    'deliveries',
    await call(base, 'GET', `/v1/om/webhook-endpoints/${hook.id}/deliveries?limit=1`, admin),
  );
  w.webhookEndpoints.push(hook.id as string);
  w.deliveries.push({ id: deliveries.items[0].id as string, endpointId: hook.id as string });
  const list = await must('list', await call(base, 'GET', '/v1/om/orders?limit=1', h));
  if (typeof list.next === 'string') w.cursors.push(list.next);
}

async function refreshAdmin(base: string, a: AdminWorld, round: number): Promise<void> {
  const h = { 'api-key': a.rootKey };
  const org = await must(
    'organization',
    await call(base, 'POST', '/v1/admin/organizations', h, {
      params: { name: `Spare ${round}`, currency: 'SAR' },
    }),
  );
  a.spareOrgs.push(org.id);
  a.allOrgs.push(org.id);
  for (const role of ['viewer', 'manager'] as const) {
    const key = await must(
      'api key',
      await call(base, 'POST', '/v1/admin/api-keys', h, {
        params: { name: `spare ${round} ${role}`, role, organizations: [org.id] },
      }),
    );
    a.spareKeys.push(key.id);
    a.allKeys.push(key.id);
  }
  const list = await must('list', await call(base, 'GET', '/v1/admin/api-keys?limit=1', h));
  if (typeof list.next === 'string') a.cursors.push(list.next);
}

// ---------------------------------------------------------------------------------------
// Requests.

interface FuzzRequest {
  op: Operation | undefined;
  /** The route key counted (the method may be mutated). */
  routeKey: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** JSON text, raw text, or bytes (sent without a content type unless headers say). */
  body: string | Uint8Array | undefined;
  mutation: string;
  /** An unknown or protected field was sent: a 2xx is a finding. */
  mustReject: boolean;
  /** `params` sent to a POST/PATCH route that documents no body (info only). */
  bodilessParams: boolean;
  /** The x-request-id sent, if any. */
  requestId: string | undefined;
}

interface Answer {
  status: number;
  text: string;
  json: unknown;
  headers: Headers;
}

async function send(base: string, r: FuzzRequest): Promise<Answer> {
  try {
    const res = await fetch(base + r.url, {
      method: r.method,
      headers: r.headers,
      ...(r.body !== undefined ? { body: r.body } : {}),
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, text, json, headers: res.headers };
  } catch {
    return { status: 0, text: '', json: null, headers: new Headers() };
  }
}

/** Placeholders replaced by raw JSON literals after serialization (-0, 2^53+1, 1e400…). */
class Raw {
  private readonly literals: string[] = [];
  token(literal: string): string {
    this.literals.push(literal);
    return `__RAW_${this.literals.length - 1}__`;
  }
  serialize(value: unknown): string {
    let text = JSON.stringify(value);
    this.literals.forEach((literal, i) => {
      text = text.split(`"__RAW_${i}__"`).join(literal);
    });
    return text;
  }
}

interface Gen {
  g: Rng;
  w: OrgWorld;
  a: AdminWorld;
  op: Operation;
  uid: string | undefined;
  counter: () => number;
  refs: string[];
}

/** A valid value for a field the service gives meaning to, or undefined (use the schema). */
function semantic(name: string, c: Gen): unknown {
  const { g, w, a } = c;
  switch (name) {
    case 'orderId':
      return g.chance(0.8) ? recent(g, w.openOrders) : g.pick(w.orders);
    case 'methodId':
      return g.chance(0.8) ? w.org.method : g.pick(w.methods);
    case 'invoiceId':
      return g.chance(0.7) ? recent(g, w.openInvoices).id : g.pick(w.invoices).id;
    case 'sourcePaymentId':
      return recent(g, w.completeReceipts).id;
    case 'referenceInvoiceId':
      return recent(g, w.closedInvoices).id;
    case 'id':
      return c.uid ?? g.pick(w.payments);
    case 'amount':
      return g.pick(AMOUNTS[w.exponent]!);
    case 'total':
      return g.pick(TOTALS[w.exponent]!);
    case 'currency':
      return g.pick(CURRENCIES);
    case 'organizations':
      return g.chance(0.2) ? 'all' : [g.pick(a.spareOrgs)];
    case 'customerUid':
      return `cust-${g.int(5)}`;
    case 'transactionRef':
    case 'externalRef': {
      // Sometimes a repeat, to reach ALREADY_RECORDED / DUPLICATE_* too.
      if (c.refs.length > 0 && g.chance(0.2)) return g.pick(c.refs);
      const ref = `${name}-${c.counter()}`;
      c.refs.push(ref);
      return ref;
    }
    case 'name':
      return `Fuzz ${c.counter()}`;
    case 'note':
      return `note ${c.counter()}`;
    case 'principal':
      return 'fuzz-principal';
    case 'via':
      return g.pick(['pos', 'web', 'api']);
    case 'code':
      return `c${c.counter()}`;
    case 'channel':
      return g.pick(['email', 'sms', 'whatsapp']);
    case 'recipient':
      return 'someone@example.com';
    case 'invoiceSource':
      return 'fuzz';
    case 'applyExpiresAt':
      return g.chance(0.8) ? '2031-01-01T00:00:00.000Z' : null;
    case 'maxPaymentsPerOrder':
      return g.pick([100, 500, 10000]);
    case 'createdFrom':
      return '2020-01-01T00:00:00Z';
    case 'createdTo':
      return '2100-01-01T00:00:00.000Z';
    case 'cursor': {
      const pool = c.op.admin ? a.cursors : w.cursors;
      return pool.length > 0 ? g.pick(pool) : undefined;
    }
    case 'limit':
      return g.pick([1, 5, 20, 100]);
    case 'wait':
      // The feed's long-poll (API.md §7.1): short, so a held request never outlasts the fuzz.
      return g.chance(0.9) ? 0 : 1;
    default:
      return undefined;
  }
}

function alnum(g: Rng, n: number): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[g.int(chars.length)];
  return s;
}

/** A value valid for `schema`; `name` lets semantic() choose real ids and amounts. */
function gen(schema: Schema, c: Gen, name?: string, optionalP = 0.5): unknown {
  if (name !== undefined) {
    const value = semantic(name, c);
    if (value !== undefined) return value;
  }
  const { g } = c;
  if (Array.isArray(schema.anyOf)) {
    const branches = (schema.anyOf as Schema[]).filter((b) => b.type !== 'null');
    if (branches.length < schema.anyOf.length && g.chance(0.1)) return null;
    return gen(g.pick(branches), c, undefined, optionalP);
  }
  if (Array.isArray(schema.enum)) return g.pick(schema.enum as unknown[]);
  if ('const' in schema) return schema.const;
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const required: string[] = schema.required ?? [];
      const props = Object.entries<Schema>(schema.properties ?? {});
      if (props.length === 0 && schema.additionalProperties !== false) {
        return g.chance(0.5) ? {} : { source: 'fuzz', n: g.int(100), nested: { ok: true } };
      }
      for (const [key, sub] of props) {
        if (required.includes(key) || g.chance(optionalP)) {
          const value = gen(sub, c, key, optionalP);
          if (value !== undefined) out[key] = value;
        }
      }
      return out;
    }
    case 'array': {
      const n = Math.max(schema.minItems ?? 0, 1);
      return Array.from({ length: n }, () => gen(schema.items ?? {}, c));
    }
    case 'string': {
      if (schema.format === 'date-time') return new Date(Date.UTC(2030, 0, 1)).toISOString();
      const min = Math.max(schema.minLength ?? 1, 1);
      const max = Math.min(schema.maxLength ?? 12, 12);
      const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern) : null;
      for (let i = 0; i < 5; i++) {
        const s = alnum(c.g, min + g.int(Math.max(1, max - min + 1)));
        if (pattern === null || pattern.test(s)) return s;
      }
      return 'abc';
    }
    case 'number':
      return g.pick([1, 2.5, 10]);
    case 'integer': {
      const lo = schema.minimum ?? 0;
      const hi = Math.min(schema.maximum ?? lo + 100, lo + 100);
      return lo + g.int(hi - lo + 1);
    }
    case 'boolean':
      return g.chance(0.5);
    case 'null':
      return null;
    default:
      return 'x';
  }
}

/**
 * Bodies and path ids that reach the route's success path with a real, fitting object: the
 * route's `fuzz` entry in reliability/endpoints.ts (undefined: the schema's own values).
 */
function happy(c: Gen): Req | undefined {
  // Drawn for every route, first: the request sequence is a function of the seed.
  const amount = c.g.pick(AMOUNTS[c.w.exponent]!);
  return c.op.entry?.fuzz?.({ g: c.g, w: c.w, a: c.a, counter: c.counter, amount });
}

/** A real id of each kind, chosen so writes never touch what the fuzz relies on. */
const REAL_UIDS: Record<Kind, (g: Rng, w: OrgWorld, a: AdminWorld, write: boolean) => string> = {
  order: (g, w) => recent(g, w.orders),
  payment: (g, w) => recent(g, w.payments, 10),
  invoice: (g, w) => recent(g, w.invoices).id,
  method: (g, w, _a, write) => (write || g.chance(0.5) ? recent(g, w.methods) : w.org.method),
  organization: (g, _w, a, write) => (write ? g.pick(a.spareOrgs) : g.pick(a.allOrgs)),
  apiKey: (g, _w, a, write) => (write ? recent(g, a.spareKeys) : g.pick(a.allKeys)),
  webhookEndpoint: (g, w) => recent(g, w.webhookEndpoints),
  delivery: (g, w) => recent(g, w.deliveries).id,
};

/** A real id for the route's path, of the kind its table entry names. */
function realUid(c: Gen): string {
  const kind = c.op.entry?.uid;
  if (kind === undefined) return randomLooking(c.g);
  return REAL_UIDS[kind](c.g, c.w, c.a, c.op.method !== 'GET');
}

function randomLooking(g: Rng): string {
  const hex = (n: number) =>
    Array.from({ length: n }, () => '0123456789abcdef'[g.int(16)]).join('');
  return `${hex(8)}-${hex(4)}-7${hex(3)}-8${hex(3)}-${hex(12)}`;
}

interface Draft {
  op: Operation;
  method: string;
  path: string;
  uid: string | undefined;
  /** Values of the path's other ids. */
  pathIds: Record<string, string>;
  query: [string, string][];
  /** The body as a value (undefined: no body). */
  value: unknown;
  raw: Raw;
  /** Overrides `value`: exact text sent. */
  rawText: string | undefined;
  bytes: Uint8Array | undefined;
  contentType: string | null | undefined;
  headers: Record<string, string>;
  mutation: string;
  mustReject: boolean;
  bodilessParams: boolean;
  requestId: string | undefined;
}

function draftValid(c: Gen, role: 'manager' | 'admin'): Draft {
  const { g, op, w, a } = c;
  const h = happy(c);
  const uid = op.hasUid ? (h?.uid ?? realUid(c)) : undefined;
  c.uid = uid;
  const pathIds: Record<string, string> = {};
  for (const name of op.pathIds) {
    const kind = op.entry?.pathIds?.[name];
    pathIds[name] =
      h?.path?.[name] ??
      (kind === undefined ? randomLooking(g) : REAL_UIDS[kind](g, w, a, op.method !== 'GET'));
  }
  let value: unknown;
  if (op.bodySchema !== undefined) {
    if (h?.params !== undefined && g.chance(0.7)) value = { params: h.params };
    else if (!((op.body?.required ?? []) as string[]).includes('params') && g.chance(0.2))
      value = undefined;
    else value = gen(op.body!, c, undefined, g.pick([0, 0.3, 0.6, 1]));
  }
  // The entry's query first (a report's range); the schema's values for the rest.
  const query: [string, string][] = Object.entries(h?.query ?? {});
  for (const q of op.query) {
    if (h?.query?.[q.name] !== undefined) continue;
    if (q.name === 'limit' ? g.chance(0.5) : g.chance(0.25)) {
      const v = gen(q.schema, c, q.name);
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        query.push([q.name, String(v)]);
    }
  }
  const headers: Record<string, string> = op.admin
    ? { 'api-key': a.rootKey }
    : headersFor(w.org, role);
  if (op.method !== 'GET' && g.chance(0.1)) headers['idempotency-key'] = `fz-${c.counter()}`;
  const requestId = g.chance(0.1) ? `fz.req:${c.counter()}` : undefined;
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  return {
    op,
    method: op.method,
    path: op.path,
    uid,
    pathIds,
    query,
    value,
    raw: new Raw(),
    rawText: undefined,
    bytes: undefined,
    contentType: undefined,
    headers,
    mutation: 'valid',
    mustReject: false,
    bodilessParams: false,
    requestId,
  };
}

function finish(d: Draft): FuzzRequest {
  const ids: Record<string, string | undefined> = { ...d.pathIds, uid: d.uid };
  const path = d.path.replace(/\{(\w+)\}/g, (whole, name: string) => ids[name] ?? whole);
  const qs = d.query
    .map(([k, v]) => (k.startsWith('\u0001') ? k.slice(1) : `${enc(k)}=${enc(v)}`))
    .join('&');
  let body: string | Uint8Array | undefined;
  if (d.bytes !== undefined) body = d.bytes;
  else if (d.rawText !== undefined) body = d.rawText;
  else if (d.value !== undefined) body = d.raw.serialize(d.value);
  const headers = { ...d.headers };
  if (body !== undefined || d.contentType !== undefined) {
    if (d.contentType === undefined) headers['content-type'] = 'application/json';
    else if (d.contentType !== null) headers['content-type'] = d.contentType;
  }
  // A string body makes fetch add text/plain; bytes carry no content type of their own.
  if (typeof body === 'string' && d.contentType === null) body = new TextEncoder().encode(body);
  return {
    op: d.op,
    routeKey: d.method === d.op.method ? d.op.key : `${d.method} ${d.op.path}`,
    method: d.method,
    url: path + (qs === '' ? '' : `?${qs}`),
    headers,
    body,
    mutation: d.mutation,
    mustReject: d.mustReject,
    bodilessParams: d.bodilessParams,
    requestId: d.requestId,
  };
}

/** encodeURIComponent that survives lone surrogates (sent as their WTF-8 bytes, percent-encoded). */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return Array.from(s)
      .map((ch) => {
        try {
          return encodeURIComponent(ch);
        } catch {
          const code = ch.charCodeAt(0);
          return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
            .map((b) => `%${b.toString(16).toUpperCase()}`)
            .join('');
        }
      })
      .join('');
  }
}

// ---------------------------------------------------------------------------------------
// Mutations.

const PROTECTED = [
  'organizationId',
  'paidAmount',
  'refundedAmount',
  'pendingAmount',
  'balanceDue',
  'id',
  'createdBy',
  'createdAt',
  'createdVia',
  'updatedAt',
  'updatedBy',
  'number',
  'status',
  'invoiceNumber',
  'deletedAt',
  'can',
  'secret',
  'secretHash',
  'revokedAt',
  'currencyExponent',
];
const UNKNOWN = ['foo', 'Total', 'orderID', 'organization_id', 'amount ', ' note', 'toString'];
const FOREIGN_VALUES = ['01900000-0000-7000-8000-000000000000', 999, 'mallory', true, null, {}];

const ODD_STRINGS: string[] = [
  '',
  ' ',
  '   \t\n',
  'مرحبا بالعالم — دفع نقدي',
  '\u202Egnp.exe\u202C',
  '\u200B\u200B',
  '\uFEFFbom',
  'e\u0301\u0301\u0301',
  '💳🧾👨‍👩‍👧‍👦',
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\u0000',
  'a\u0000b',
  "'; drop table orders;--",
  '" OR "1"="1',
  "1' OR '1'='1",
  '%00',
  '%s%n%x',
  '../../../etc/passwd',
  '<script>alert(1)</script>',
  '${7*7}{{7*7}}',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e308',
  '\r\n\r\nHTTP/1.1 200 OK',
  'x'.repeat(129),
  'x'.repeat(201),
  'x'.repeat(1001),
];
/** Raw JSON literals for number fields. */
const NUMBER_LITERALS = [
  '0',
  '-0',
  '-0.0',
  '0e0',
  '-1',
  '-0.01',
  '1e308',
  '-1e308',
  '1e400',
  '-1e400',
  '9007199254740993',
  '9007199254740991',
  '1.005',
  '0.30000000000000004',
  '0.1',
  '1e-7',
  '5e-324',
  '1E2',
  '1e21',
  '4.35',
  '0.29',
  '1.15',
  '1000000000',
  '1000000000.01',
  '999999999.99',
  '100000000000',
  '123456789012.34',
  '100.000000000000001',
  '2.5',
  '1',
  '0.001',
  '1.0001',
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
  '"10"',
  '"1e3"',
  '" 10 "',
  'true',
  'null',
  '[]',
  '{}',
  '[10]',
];
const WRONG_VALUES: unknown[] = [
  0,
  -1,
  1.5,
  '',
  'x',
  '10',
  'true',
  true,
  false,
  null,
  [],
  {},
  ['a'],
  { a: 1 },
];

function typesOf(schema: Schema | undefined): Set<string> {
  const out = new Set<string>();
  if (schema === undefined) return out;
  if (Array.isArray(schema.anyOf))
    for (const b of schema.anyOf as Schema[]) typesOf(b).forEach((t) => out.add(t));
  if (typeof schema.type === 'string') out.add(schema.type);
  if (Array.isArray(schema.enum) && schema.type === undefined) out.add('string');
  if (out.has('integer')) out.add('number');
  return out;
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}

interface FieldPath {
  path: string[];
  schema: Schema;
  required: boolean;
}

/** Every property path the body schema declares (params.x, params.locales.ar.name, …). */
function fieldPaths(schema: Schema | undefined, prefix: string[] = []): FieldPath[] {
  if (schema === undefined) return [];
  const object = Array.isArray(schema.anyOf)
    ? (schema.anyOf as Schema[]).find((b) => b.type === 'object')
    : schema;
  if (object?.type !== 'object' || object.properties === undefined) return [];
  const out: FieldPath[] = [];
  const required: string[] = object.required ?? [];
  for (const [key, sub] of Object.entries<Schema>(object.properties)) {
    const path = [...prefix, key];
    out.push({ path, schema: sub, required: required.includes(key) });
    out.push(...fieldPaths(sub, path));
  }
  return out;
}

/** Paths of the objects that refuse unknown properties. */
function closedObjects(schema: Schema | undefined, prefix: string[] = []): string[][] {
  if (schema === undefined) return [];
  const object = Array.isArray(schema.anyOf)
    ? (schema.anyOf as Schema[]).find((b) => b.type === 'object')
    : schema;
  if (object?.type !== 'object') return [];
  const out: string[][] = object.additionalProperties === false ? [prefix] : [];
  for (const [key, sub] of Object.entries<Schema>(object.properties ?? {})) {
    out.push(...closedObjects(sub, [...prefix, key]));
  }
  return out;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function setPath(root: unknown, path: string[], value: unknown): unknown {
  const base: Record<string, unknown> =
    typeof root === 'object' && root !== null && !Array.isArray(root) ? (root as any) : {};
  let node: Record<string, unknown> = base;
  for (let i = 0; i < path.length - 1; i++) {
    const next = node[path[i]!];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[path[i]!] = {};
    node = node[path[i]!] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
  return base;
}

function getPath(root: unknown, path: string[]): unknown {
  let node: any = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = node[key];
  }
  return node;
}

function deletePath(root: unknown, path: string[]): void {
  const parent = getPath(root, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null) delete (parent as any)[path[path.length - 1]!];
}

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? '['.repeat(depth) + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

const PATH_IDS: string[] = [
  ' ',
  '%20',
  '0',
  '-1',
  '1e308',
  'null',
  'undefined',
  '%5Bobject%20Object%5D',
  'x'.repeat(64),
  'x'.repeat(65),
  'x'.repeat(200),
  'x'.repeat(201),
  'x'.repeat(1000),
  'x'.repeat(8000),
  'x'.repeat(20000),
  '%00',
  'a%00b',
  '%ZZ',
  '%',
  '%E0%A4%A',
  '%ED%A0%80',
  '%C0%AF',
  '%2e%2e',
  '%2F',
  'a%2Fb',
  '%252F',
  '%F0%9F%92%B3',
  '%D9%85%D8%B1%D8%AD%D8%A8%D8%A7',
  '%E2%80%AE',
  "'%20OR%201=1--",
  '%27%3B%20drop%20table%20orders%3B--',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '%7B%7D',
  '*',
  '..%5C..%5C',
  '%0d%0aSet-Cookie:%20x=1',
];

const QUERY_MUTATIONS: [string, string][][] = [
  [
    ['limit', '1'],
    ['limit', '2'],
  ],
  [
    ['status', 'open'],
    ['status', 'closed'],
  ],
  [['limit', '0']],
  [['limit', '101']],
  [['limit', '-1']],
  [['limit', '1.5']],
  [['limit', '1e1']],
  [['limit', 'abc']],
  [['limit', '']],
  [['limit', '99999999999999999999999']],
  [['limit', '\u0000']],
  [['cursor', 'garbage']],
  [['cursor', '']],
  [['cursor', 'x'.repeat(600)]],
  [['cursor', Buffer.from('["x"]').toString('base64url')]],
  [['cursor', Buffer.from('[1,2]').toString('base64url')]],
  [['cursor', Buffer.from('{"a":1}').toString('base64url')]],
  [['cursor', Buffer.from('null').toString('base64url')]],
  [['cursor', Buffer.from('["\\u0000","a"]').toString('base64url')]],
  [['cursor', Buffer.from(`["2024-01-01","'; drop table orders;--"]`).toString('base64url')]],
  [['cursor', Buffer.from('["\ud800","\udfff"]').toString('base64url')]],
  [['cursor', '%%%']],
  [['createdFrom', 'notadate']],
  [['createdFrom', '2024-02-30T00:00:00Z']],
  [['createdFrom', '2024-01-01']],
  [['createdFrom', '2024-01-01T00:00:00']],
  [['createdFrom', '9999-12-31T23:59:59Z']],
  [['createdFrom', '0000-01-01T00:00:00Z']],
  [['createdFrom', '2024-01-01T24:00:00Z']],
  [['createdTo', '2024-12-31T23:59:60Z']],
  [['createdTo', '+275760-09-13T00:00:00Z']],
  [
    ['createdFrom', '2030-01-01T00:00:00Z'],
    ['createdTo', '2020-01-01T00:00:00Z'],
  ],
  [['foo', 'bar']],
  [['orderId[]', 'x']],
  [['orderId[a]', 'b']],
  [['orderId', '\u0000']],
  [['orderId', 'x'.repeat(65)]],
  [['orderId', "'; drop table orders;--"]],
  [['customerUid', '\u0000']],
  [['customerUid', 'a\u0000b']],
  [['customerUid', '\ud800']],
  [['customerUid', 'x'.repeat(10_000)]],
  [['methodId', '%']],
  [['invoiceId', '']],
  [['visible', 'maybe']],
  [['visible', '1']],
  [['visible', 'TRUE']],
  [['type', 'RECEIPT']],
  [['status', 'deleted']],
  [['code', 'Cash!']],
  [['__proto__', 'x']],
  [['constructor', 'x']],
  [['hasOwnProperty', '1']],
  [['\u0001&&&', '']],
  [['\u0001=x', '']],
  [['\u0001limit', '']],
  [['\u0001%ZZ=1', '']],
  [['\u0001a=%E0%A4%A', '']],
];

const MALFORMED = [
  '{',
  '{"params":',
  '{"params":{}',
  '{"params":{}}}',
  "{'params':{}}",
  '{"params":{"a":1,}}',
  '{params:{}}',
  'nul',
  'undefined',
  'NaN',
  '[',
  ']',
  '"params"',
  '123',
  'true',
  '{"params":{"total":01}}',
  '{"params":{"total":.5}}',
  '{"params":{"total":+1}}',
  '{"params":{"total":0x10}}',
  '{"params":{"total":Infinity}}',
  '\uFEFF{"params":{}}',
  '/* c */{"params":{}}',
  '{"params":{"note":"\\x41"}}',
  '{"params":{"note":"\\u12"}}',
  '{"params":{"note":"a\nb"}}',
  '{"params":{"note":"\\ud800\\udc00\\udc00"}}',
  '{"__proto__":{"admin":true}}',
  '{"params":{"__proto__":{"x":1}}}',
  '{"params":{"attrs":{"__proto__":{"polluted":1}}}}',
  '{"constructor":{"prototype":{"x":1}}}',
  '{"params":{"attrs":{"constructor":{"prototype":{"x":1}}}}}',
  '\u0000',
  '{"params":{}}\u0000',
];

const CONTENT_TYPES: (string | null)[] = [
  null,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/jsonx',
  '*/*',
  'application/json, text/plain',
  'application/',
  ';',
];

function stringPaths(d: Draft): FieldPath[] {
  return fieldPaths(d.op.bodySchema).filter((f) => typesOf(f.schema).has('string'));
}

/** Applies one mutation to a valid draft; false when it does not apply to this route. */
function mutate(kind: string, d: Draft, c: Gen): boolean {
  const { g } = c;
  const fields = fieldPaths(d.op.bodySchema);
  const hasBody = d.op.bodySchema !== undefined;
  const base = () => (d.value === undefined ? { params: {} } : clone(d.value));
  switch (kind) {
    case 'wrong-type': {
      if (fields.length === 0) return false;
      const f = g.pick(fields);
      const types = typesOf(f.schema);
      const wrong = WRONG_VALUES.filter((v) => {
        const t = jsonType(v);
        return !(types.has(t) || (t === 'integer' && types.has('number')));
      });
      if (wrong.length === 0) return false;
      d.value = setPath(base(), f.path, clone(g.pick(wrong)));
      return true;
    }
    case 'missing-required': {
      if (!hasBody) return false;
      const required = fields.filter((f) => f.required && getPath(d.value, f.path) !== undefined);
      const v = base();
      if (required.length === 0 || g.chance(0.15)) deletePath(v, ['params']);
      else deletePath(v, g.pick(required).path);
      d.value = v;
      return true;
    }
    case 'unknown-field': {
      if (!hasBody) return false;
      const objects = closedObjects(d.op.bodySchema);
      if (objects.length === 0) return false;
      const target =
        g.chance(0.7) && objects.some((o) => o[0] === 'params') ? ['params'] : g.pick(objects);
      const declared = new Set(
        fields
          .filter((f) => f.path.length === target.length + 1)
          .map((f) => f.path[f.path.length - 1]!),
      );
      const names = [...PROTECTED, ...UNKNOWN].filter((n) => !declared.has(n));
      const name = g.pick(names);
      d.value = setPath(base(), [...target, name], clone(g.pick(FOREIGN_VALUES)));
      d.mustReject = true;
      return true;
    }
    case 'number-boundary': {
      const numeric = fields.filter((f) => typesOf(f.schema).has('number'));
      const literal = g.pick(NUMBER_LITERALS);
      if (numeric.length === 0) {
        if (d.op.query.some((q) => q.name === 'limit')) {
          d.query = [['limit', literal.replace(/"/g, '')]];
          return true;
        }
        return false;
      }
      d.value = setPath(base(), g.pick(numeric).path, d.raw.token(literal));
      return true;
    }
    case 'odd-string': {
      const strings = stringPaths(d);
      if (strings.length === 0) return false;
      const f = g.pick(strings);
      d.value = setPath(base(), f.path, g.pick(ODD_STRINGS));
      return true;
    }
    case 'huge-string': {
      const strings = stringPaths(d);
      if (strings.length === 0) return false;
      const size = g.pick([10_000, 60_000, 100_000]);
      d.value = setPath(base(), g.pick(strings).path, g.pick(['x', 'م', '💳']).repeat(size / 2));
      return true;
    }
    case 'malformed-json': {
      if (g.chance(0.3) && d.value !== undefined) {
        const text = d.raw.serialize(d.value);
        d.rawText = text.slice(0, 1 + g.int(Math.max(1, text.length - 1)));
      } else d.rawText = g.pick(MALFORMED);
      return true;
    }
    case 'empty-body': {
      const variant = g.int(6);
      if (variant === 0) d.rawText = '';
      else if (variant === 1) {
        d.value = undefined;
        d.contentType = null;
      } else if (variant === 2) d.rawText = 'null';
      else if (variant === 3) d.rawText = '{}';
      else if (variant === 4) d.rawText = '{"params":null}';
      else d.rawText = '   \r\n ';
      return true;
    }
    case 'array-for-object': {
      const variant = g.int(5);
      const v = base();
      if (variant === 0) d.rawText = '[]';
      else if (variant === 1) d.value = [v];
      else if (variant === 2) d.value = { params: [] };
      else if (variant === 3) d.value = { params: [(v as any).params ?? {}] };
      else {
        const objects = fields.filter((f) => typesOf(f.schema).has('object'));
        if (objects.length === 0) d.value = { params: [] };
        else {
          const f = g.pick(objects);
          d.value = setPath(v, f.path, [getPath(v, f.path) ?? {}]);
        }
      }
      return true;
    }
    case 'deep-nesting': {
      const depth = g.pick([64, 1000, 5000, 20_000]);
      const kind2 = g.pick(['array', 'object'] as const);
      const attrs = fields.find((f) => f.path[f.path.length - 1] === 'attrs');
      const path =
        attrs !== undefined && g.chance(0.5) ? [...attrs.path, 'deep'] : ['params', 'deep'];
      d.value = setPath(base(), path, d.raw.token(nested(depth, kind2)));
      if (path[1] === 'deep') d.mustReject = hasBody;
      return true;
    }
    case 'content-type': {
      d.contentType = g.pick(CONTENT_TYPES);
      if (d.method === 'GET') return true; // the header alone: GET carries no body
      if (d.value === undefined && d.rawText === undefined) d.value = { params: {} };
      if (d.contentType === 'application/x-www-form-urlencoded') d.rawText = 'params[total]=10';
      return true;
    }
    case 'too-large': {
      const v = base();
      d.rawText = d.raw.serialize(v).replace(/^\{/, `{${' '.repeat(70_000)}`);
      return true;
    }
    case 'duplicate-keys': {
      if (!hasBody || fields.length === 0) return false;
      const top = fields.filter((x) => x.path.length === 2);
      if (top.length === 0) return false;
      const f = g.pick(top);
      const text = d.raw.serialize(base());
      const key = JSON.stringify(f.path[1]);
      d.rawText = text.replace(/^\{"params":\{/, `{"params":{${key}:"first",`);
      return true;
    }
    case 'body-on-bodiless': {
      if (hasBody || d.op.method === 'GET') return false;
      d.value = g.pick([
        { params: { organizationId: c.a.spareOrgs[0], status: 'closed' } },
        { params: { paidAmount: 1e9 } },
        [],
      ]);
      d.bodilessParams = !Array.isArray(d.value) && d.op.method !== 'DELETE';
      return true;
    }
    case 'path-id': {
      if (!d.op.hasUid) return false;
      const variant = g.int(10);
      const real = d.uid ?? randomLooking(g);
      if (variant === 0) d.uid = real.toUpperCase();
      else if (variant === 1) d.uid = `${real}%20`;
      else if (variant === 2) d.uid = `${real}/`;
      else if (variant === 3) d.uid = `${real}%00`;
      else if (variant === 4) {
        // an id of another kind of object of the same organization
        d.uid = g.pick([
          c.w.orders[0]!,
          c.w.payments[0]!,
          c.w.invoices[0]!.id,
          c.w.org.method,
          c.w.org.id,
        ]);
      } else d.uid = g.pick(PATH_IDS);
      return true;
    }
    case 'query': {
      const picked = g.pick(QUERY_MUTATIONS);
      d.query = g.chance(0.5) ? [...d.query, ...picked] : [...picked];
      return true;
    }
    case 'headers': {
      const variant = g.int(12);
      const h = d.headers;
      if (variant === 0) delete h['organization-id'];
      else if (variant === 1) h['organization-id'] = '';
      else if (variant === 2) h['organization-id'] = 'x'.repeat(5000);
      else if (variant === 3) h['organization-id'] = g.pick(c.a.spareOrgs);
      else if (variant === 4) delete h['api-key'];
      else if (variant === 5)
        h['api-key'] = g.pick(['omk_', 'omk_x', 'x', `omk_${'a'.repeat(300)}`, "' OR 1=1--"]);
      else if (variant === 6)
        h['idempotency-key'] = g.pick(['', 'k'.repeat(256), ' ', 'k'.repeat(255)]);
      else if (variant === 7) {
        d.requestId = g.pick(['a b', '<script>', 'x'.repeat(129), 'ok-id_1:2.3', '', '%00']);
        h['x-request-id'] = d.requestId;
      } else if (variant === 8) h['api-key'] = headersFor(c.w.org, 'viewer')['api-key']!;
      else if (variant === 9) h['api-key'] = headersFor(c.w.org, 'cashier')['api-key']!;
      else if (variant === 10) h.accept = 'text/html';
      else h['organization-id'] = g.pick(c.a.allOrgs); // a key of one organization, another's id
      return true;
    }
    case 'method': {
      d.method = g.pick(
        ['PUT', 'OPTIONS', 'POST', 'PATCH', 'DELETE', 'GET'].filter((m) => m !== d.op.method),
      );
      if (d.method === 'GET') {
        d.value = undefined;
        d.rawText = undefined;
      }
      return true;
    }
    case 'url-shape': {
      const variant = g.int(5);
      if (variant === 0) d.path = d.path.replace('/v1/', '/V1/');
      else if (variant === 1) d.path = d.path.replace('/v1/om/', '/v1/om//');
      else if (variant === 2) d.path = `${d.path}/`;
      else if (variant === 3) d.path = `${d.path}/extra`;
      else d.path = d.path.replace('/v1/', '/v2/');
      return true;
    }
    default:
      throw new Error(`unknown mutation ${kind}`);
  }
}

const BODY_MUTATIONS = new Set([
  'wrong-type',
  'missing-required',
  'unknown-field',
  'odd-string',
  'huge-string',
  'malformed-json',
  'empty-body',
  'array-for-object',
  'deep-nesting',
  'too-large',
  'duplicate-keys',
  'body-on-bodiless',
]);

const MUTATIONS: [string, number][] = [
  ['wrong-type', 12],
  ['missing-required', 6],
  ['unknown-field', 12],
  ['number-boundary', 12],
  ['odd-string', 12],
  ['huge-string', 3],
  ['malformed-json', 6],
  ['empty-body', 4],
  ['array-for-object', 4],
  ['deep-nesting', 3],
  ['content-type', 5],
  ['too-large', 1],
  ['duplicate-keys', 2],
  ['body-on-bodiless', 2],
  ['path-id', 10],
  ['query', 8],
  ['headers', 6],
  ['method', 3],
  ['url-shape', 2],
];

// ---------------------------------------------------------------------------------------
// Judging answers.

// Every code the contract's catalogue knows (src/errors.ts is the one catalogue).
const ERROR_CODES = new Set<string>(Object.keys(ERROR_CATALOGUE));
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const sameKeys = (o: Record<string, unknown>, keys: string[]) =>
  Object.keys(o).sort().join(',') === [...keys].sort().join(',');

/** Why the answer is outside the envelope of API.md §1, or null. */
function envelopeProblem(r: FuzzRequest, a: Answer): string | null {
  const b = a.json;
  if (!isObject(b)) return `not a JSON object (status ${a.status})`;
  const replayed = a.headers.get('idempotent-replayed') === 'true';
  if (a.status === 200) {
    if (!sameKeys(b, ['app', 'service', 'warnings', 'instanceId', 'requestId', 'data']))
      return `success keys ${Object.keys(b).join(',')}`;
    if (b.app !== 'om-payments' || b.service !== 'om') return 'app/service';
    if (typeof b.instanceId !== 'string' || typeof b.requestId !== 'string') return 'ids';
    if (!('data' in b) || b.data === undefined) return 'data missing';
    if (
      !Array.isArray(b.warnings) ||
      !b.warnings.every(
        (w) => isObject(w) && typeof w.code === 'string' && typeof w.message === 'string',
      )
    )
      return 'warnings';
  } else if (a.status >= 400) {
    if (!sameKeys(b, ['error', 'requestId'])) return `error keys ${Object.keys(b).join(',')}`;
    const e = b.error;
    if (!isObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string')
      return 'error shape';
    if (!Object.keys(e).every((k) => ['code', 'message', 'details'].includes(k)))
      return 'error keys';
    if (e.details !== undefined && !isObject(e.details)) return 'details not an object';
    if (!ERROR_CODES.has(e.code)) return `unknown error code ${e.code}`;
    if (typeof b.requestId !== 'string' || b.requestId === '') return 'requestId';
  } else return `status ${a.status}`;
  if (!replayed) {
    if (a.headers.get('x-request-id') !== b.requestId) return 'x-request-id header ≠ requestId';
    // 431: Node's parser gave up before reading the headers, so there is nothing to echo.
    if (r.requestId !== undefined && a.status !== 431) {
      const sane = SANE_REQUEST_ID.test(r.requestId);
      if (sane !== (b.requestId === r.requestId)) return 'requestId echo rule';
    }
  }
  return null;
}

const STACK_PATTERNS = [
  /\bat\s+[\w$.<>]+\s+\(/,
  /\.(?:ts|js|mjs|cjs):\d+/,
  /node_modules/,
  /file:\/\//,
  /\/work\/|\/src\/|\/home\//,
];
const INTERNAL_PATTERNS = [
  /\bselect\s/i,
  /\binsert\s/i,
  /\bupdate\s+"?\w+"?\s+set\b/i,
  /\bdelete\s+from\b/i,
  /\bwhere\s+"?\w+"?\s*=/i,
  /SQLITE/i,
  /syntax error/i,
  /relation "/i,
  /duplicate key/i,
  /violates .*constraint/i,
  /invalid byte sequence/i,
  /\bkysely\b/i,
  /\bpg_\w+/i,
  /(?:Type|Reference|Range|Syntax)Error\b/,
  /Cannot read prop/i,
  /is not a function/i,
  /Unexpected token/i,
  /in JSON at position/i,
  /FST_[A-Z_]+/,
];

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => strings(x, out));
  else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      strings(x, out);
    }
  }
  return out;
}

function requestStrings(r: FuzzRequest): string[] {
  const out: string[] = [];
  const text =
    typeof r.body === 'string'
      ? r.body
      : r.body === undefined
        ? ''
        : new TextDecoder().decode(r.body);
  out.push(text);
  try {
    strings(JSON.parse(text), out);
  } catch {
    // not JSON: the raw text stands for itself
  }
  for (const piece of r.url.split(/[/?&=]/)) {
    out.push(piece);
    try {
      out.push(decodeURIComponent(piece));
    } catch {
      // undecodable: keep the raw piece
    }
  }
  out.push(...Object.values(r.headers));
  return out.filter((s) => s.length >= 3).sort((x, y) => y.length - x.length);
}

/** Internals in the answer (stack frames, SQL, driver messages) that are not echoes of input. */
function leakProblem(r: FuzzRequest, a: Answer): string | null {
  const echoes = requestStrings(r);
  const scrub = (s: string) => echoes.reduce((acc, e) => acc.split(e).join(' '), s);
  const texts: string[] = [];
  if (isObject(a.json)) {
    const b = a.json;
    if (isObject(b.error)) texts.push(...strings(b.error));
    if (Array.isArray(b.warnings)) texts.push(...strings(b.warnings));
  } else texts.push(a.text);
  for (const t of texts) {
    const s = scrub(t);
    for (const p of [...STACK_PATTERNS, ...INTERNAL_PATTERNS]) {
      if (p.test(s)) return `${p} in ${JSON.stringify(t.slice(0, 200))}`;
    }
  }
  // Stack frames never appear anywhere in a body, success or not.
  const whole = scrub(a.text);
  for (const p of STACK_PATTERNS.slice(0, 3)) if (p.test(whole)) return `${p} in body`;
  return null;
}

/** Where a NUL character reached the server, if anywhere (the one known 5xx cause). */
function nulCause(r: FuzzRequest): string {
  const body = typeof r.body === 'string' ? r.body : '';
  const [path = '', query = ''] = r.url.split('?');
  if (/%00/i.test(path)) return 'NUL in the path';
  if (/\\u0000/.test(body)) return 'NUL in the body';
  for (const pair of query.split('&')) {
    const [k = '', v = ''] = pair.split('=');
    if (/%00/i.test(v)) return 'NUL in a query value';
    if (k === 'cursor') {
      let decoded = '';
      try {
        decoded = Buffer.from(decodeURIComponent(v), 'base64url').toString('utf8');
      } catch {
        decoded = '';
      }
      if (decoded.includes('\u0000') || decoded.includes('\\u0000'))
        return 'NUL inside a (forged) cursor';
    }
  }
  return 'other';
}

// ---------------------------------------------------------------------------------------
// The suite.

interface Tally {
  requests: number;
  valid: number;
  mutated: number;
  success: number;
  statuses: Record<string, number>;
  /** Error codes answered to the schema-valid requests (business refusals). */
  validRefusals: Record<string, number>;
}

const bump = (o: Record<string, number>, k: string | number, n = 1) => {
  o[String(k)] = (o[String(k)] ?? 0) + n;
};

function sample(r: FuzzRequest, a: Answer, index: number, why: string) {
  const body =
    typeof r.body === 'string'
      ? r.body
      : r.body === undefined
        ? undefined
        : `<bytes> ${new TextDecoder().decode(r.body)}`;
  return {
    case: index,
    why,
    mutation: r.mutation,
    request: `${r.method} ${r.url.slice(0, 300)}`,
    contentType: r.headers['content-type'] ?? null,
    body:
      body === undefined
        ? null
        : body.length > 300
          ? `${body.slice(0, 300)}… (${body.length} chars)`
          : body,
    status: a.status,
    answer: a.text.slice(0, 400),
  };
}

export const suite = {
  name: 'fuzz',
  async run(profile: Profile): Promise<SuiteResult> {
    const started = Date.now();
    const seed = Number(process.env.RELIABILITY_FUZZ_SEED ?? DEFAULT_SEED) >>> 0;
    const total = Number(
      process.env.RELIABILITY_FUZZ_CASES ?? (profile === 'full' ? 30_000 : 3_000),
    );
    const concurrency = 4;
    const g = new Rng(seed);
    const fx = await fixture();
    let server: ServerHandle | undefined;
    try {
      // No delivery worker: webhook deliveries stay as the requests left them.
      server = await startServer(fx.testDatabase.url, { WEBHOOK_WORKER: '0' });
      const base = server.url;
      const doc = await (await fetch(`${base}/openapi.json`)).json();
      const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: true });
      addFormats(ajv);
      const ops = loadOperations(doc, ajv);
      // Every documented route must have its entry in the table, and every entry its route.
      const gaps = tableGaps('fuzz', documentedRoutes(doc));

      const org = (o: OrgKeys, exponent: number): OrgWorld => ({
        org: o,
        exponent,
        orders: [],
        openOrders: [],
        settledOrders: [],
        closedOrders: [],
        emptyOrders: [],
        payments: [],
        pending: [],
        completeReceipts: [],
        refunds: [],
        invoices: [],
        openInvoices: [],
        closedInvoices: [],
        methods: [],
        webhookEndpoints: [],
        deliveries: [],
        cursors: [],
      });
      const worlds: OrgWorld[] = [
        org(await makeOrganization(base, fx.rootKey, 'SAR'), 2),
        org(await makeOrganization(base, fx.rootKey, 'KWD'), 3),
        org(await makeOrganization(base, fx.rootKey, 'JPY'), 0),
      ];
      const admin: AdminWorld = {
        rootKey: fx.rootKey,
        spareOrgs: [],
        allOrgs: worlds.map((w) => w.org.id),
        spareKeys: [],
        allKeys: [],
        cursors: [],
      };
      const keyList = await must(
        'keys',
        await call(base, 'GET', '/v1/admin/api-keys?limit=100', { 'api-key': fx.rootKey }),
      );
      admin.allKeys.push(...(keyList.items as { id: string }[]).map((k) => k.id));
      let round = 0;
      const refresh = async () => {
        for (const w of worlds) await refreshOrg(base, w, round);
        await refreshAdmin(base, admin, round);
        round++;
      };
      await refresh();
      await refresh();

      let counter = 0;
      const refs: string[] = [];
      const routes: Record<string, Tally> = {};
      const statuses: Record<string, number> = {};
      const mutations: Record<string, Record<string, number>> = {};
      const failures = {
        serverErrors: 0,
        noAnswer: 0,
        envelope: 0,
        leaks: 0,
        schema: 0,
        acceptedUnknown: 0,
      };
      const samples: Record<keyof typeof failures, unknown[]> = {
        serverErrors: [],
        noAnswer: [],
        envelope: [],
        leaks: [],
        schema: [],
        acceptedUnknown: [],
      };
      const envelopeReasons: Record<string, number> = {};
      const acceptedMutations: Record<string, unknown[]> = {};
      let generatorInvalid = 0;
      let bodilessAccepted = 0;
      const serverErrorCauses: Record<string, number> = {};
      const serverErrorSamples: Record<string, unknown[]> = {};
      const note = (
        kind: keyof typeof failures,
        r: FuzzRequest,
        a: Answer,
        i: number,
        why: string,
      ) => {
        failures[kind]++;
        if (samples[kind].length < 12) samples[kind].push(sample(r, a, i, why));
      };

      const judge = (r: FuzzRequest, a: Answer, i: number) => {
        const t = (routes[r.routeKey] ??= {
          requests: 0,
          valid: 0,
          mutated: 0,
          success: 0,
          statuses: {},
          validRefusals: {},
        });
        t.requests++;
        if (r.mutation === 'valid') t.valid++;
        else t.mutated++;
        bump(t.statuses, a.status);
        bump(statuses, a.status);
        if (r.mutation === 'valid' && a.status >= 400 && isObject(a.json) && isObject(a.json.error))
          bump(t.validRefusals, String(a.json.error.code));
        bump((mutations[r.mutation] ??= {}), a.status);
        if (a.status === 0) {
          note('noAnswer', r, a, i, 'no answer (connection failed or timed out)');
          return;
        }
        if (a.status >= 500) {
          const cause = nulCause(r);
          bump(serverErrorCauses, cause);
          // Samples per cause, so a rarer cause is not hidden behind a frequent one.
          const list = (serverErrorSamples[cause] ??= []);
          if (list.length < 6) list.push(sample(r, a, i, `status ${a.status}`));
          note('serverErrors', r, a, i, `status ${a.status}: ${cause}`);
        }
        const env = envelopeProblem(r, a);
        if (env !== null) {
          bump(envelopeReasons, env.replace(/\d{3}/, 'NNN'));
          note('envelope', r, a, i, env);
        }
        const leak = leakProblem(r, a);
        if (leak !== null) note('leaks', r, a, i, leak);
        if (a.status >= 200 && a.status < 300) {
          t.success++;
          // Mutations the server accepted (not judged unless mustReject): kept for review.
          if (r.mutation !== 'valid') {
            const list = (acceptedMutations[r.mutation] ??= []);
            if (list.length < 3) list.push(sample(r, a, i, 'accepted'));
          }
          if (r.op !== undefined && r.method === r.op.method && r.op.validate200 !== undefined) {
            if (!r.op.validate200(a.json)) {
              note('schema', r, a, i, ajv.errorsText(r.op.validate200.errors));
            }
          }
          if (r.mustReject) note('acceptedUnknown', r, a, i, 'unknown/protected field accepted');
          if (r.bodilessParams) bodilessAccepted++;
        }
      };

      const draft = (): FuzzRequest => {
        const op = g.pick(ops);
        const w = g.weighted([
          [worlds[0]!, 6],
          [worlds[1]!, 2],
          [worlds[2]!, 2],
        ] as const);
        const c: Gen = { g, w, a: admin, op, uid: undefined, counter: () => ++counter, refs };
        // Payment methods are an admin's (API.md §4), as is every route whose least role is
        // admin: mostly the admin key there.
        const adminOdds =
          op.path.startsWith('/v1/om/payment-methods') || op.entry?.role === 'admin' ? 0.85 : 0.5;
        const d = draftValid(c, g.chance(adminOdds) ? 'admin' : 'manager');
        if (d.value !== undefined && op.validateBody !== undefined && !op.validateBody(d.value)) {
          generatorInvalid++;
        }
        if (g.chance(0.35)) return finish(d);
        for (let attempt = 0; attempt < 8; attempt++) {
          const kind = g.weighted(MUTATIONS);
          // fetch cannot send a body with GET: those mutations go to the other methods.
          if (op.method === 'GET' && BODY_MUTATIONS.has(kind)) continue;
          if (mutate(kind, d, c)) {
            d.mutation = kind;
            return finish(guard(d, c));
          }
        }
        return finish(d);
      };
      // A write never lands on an organization's main method (every valid receipt uses it):
      // a changed method or a swapped id redirects such a write to a spare method.
      const mains = new Set(worlds.map((w) => w.org.method));
      const guard = (d: Draft, c: Gen): Draft => {
        if (d.method !== 'GET' && d.uid !== undefined && mains.has(d.uid)) {
          d.uid = recent(c.g, c.w.methods);
        }
        return d;
      };

      const refreshEvery = 250;
      let done = 0;
      while (done < total) {
        if (done > 0 && done % refreshEvery === 0) await refresh();
        const batch: { r: FuzzRequest; i: number }[] = [];
        for (let k = 0; k < concurrency && done + batch.length < total; k++) {
          batch.push({ r: draft(), i: done + batch.length });
        }
        const answers = await Promise.all(batch.map(({ r }) => send(base, r)));
        batch.forEach(({ r, i }, k) => judge(r, answers[k]!, i));
        done += batch.length;
      }

      // A lone surrogate in a string field: what is stored (info only; see the report).
      const probe = await call(
        base,
        'POST',
        '/v1/om/orders',
        headersFor(worlds[0]!.org, 'manager'),
        undefined,
        '{"params":{"total":10,"customerUid":"a\\ud800b"}}',
      );
      let surrogate: unknown = { status: probe.status };
      if (probe.status === 200) {
        const back = await call(
          base,
          'GET',
          `/v1/om/orders/${probe.body.data.id}`,
          headersFor(worlds[0]!.org, 'manager'),
        );
        const stored = String(back.body?.data?.order?.customerUid);
        surrogate = {
          status: probe.status,
          sent: 'a\\ud800b',
          storedCodePoints: [...stored].map((ch) => `U+${ch.codePointAt(0)!.toString(16)}`),
        };
      }

      // The server must still be up and consistent afterwards.
      const health = await send(base, {
        op: undefined,
        routeKey: 'GET /readyz',
        method: 'GET',
        url: '/readyz',
        headers: {},
        body: undefined,
        mutation: 'final',
        mustReject: false,
        bodilessParams: false,
        requestId: undefined,
      });
      const violations = await checkDatabaseInvariants(fx.database.db);
      const covered = ops.filter((o) => (routes[o.key]?.requests ?? 0) > 0).length;
      const successRoutes = ops.filter((o) => (routes[o.key]?.success ?? 0) > 0).length;

      return {
        suite: 'fuzz',
        engine: ENGINE,
        profile,
        durationMs: Date.now() - started,
        figures: [
          exactly('responses with status >= 500', failures.serverErrors, 0),
          exactly('requests without an answer (status 0)', failures.noAnswer, 0),
          exactly('bodies outside the envelope', failures.envelope, 0),
          exactly('leaked internals (stack, SQL, driver text)', failures.leaks, 0),
          exactly('2xx failing the response schema', failures.schema, 0),
          exactly('unknown/protected fields accepted (2xx)', failures.acceptedUnknown, 0),
          exactly('invariant violations after the run', violations.length, 0),
          exactly('server ready after the run (1 = yes)', health.status === 200 ? 1 : 0, 1),
          exactly('routes under /v1/ not exercised', ops.length - covered, 0),
          exactly('routes without an endpoints table entry', gaps.missing.length, 0),
          exactly('endpoints table entries /openapi.json does not document', gaps.stale.length, 0),
        ],
        info: {
          seed,
          replay: `RELIABILITY_FUZZ_SEED=${seed} node --import tsx reliability/run.ts --only fuzz --profile ${profile}`,
          requests: done,
          concurrency,
          routesInOpenapi: ops.length,
          routesWithoutTableEntry: gaps.missing,
          tableEntriesNotDocumented: gaps.stale,
          routesWithASuccess: successRoutes,
          routesWithoutSuccess: ops
            .filter((o) => (routes[o.key]?.success ?? 0) === 0)
            .map((o) => o.key),
          generatorInvalid,
          setupRounds: round,
          statuses,
          routes,
          mutations,
          envelopeReasons,
          serverErrorCauses,
          serverErrorSamples,
          samples,
          acceptedMutations,
          bodilessWritesAcceptingParams: bodilessAccepted,
          loneSurrogateRoundTrip: surrogate,
          invariantViolations: violations.slice(0, 20),
        },
      };
    } finally {
      await server?.kill('SIGKILL');
      await fx.close();
    }
  },
};
