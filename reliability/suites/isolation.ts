// Tenant isolation and access control, black-box (API.md §1, §3, §4). Two organizations A
// and B with orders, receipts, refunds, methods and invoices. For every route /openapi.json
// documents and every id position in it (path, query, body, the organization-id header),
// A's keys are used with B's ids and, separately, with unknown ids: B's ids must never
// succeed and must answer exactly like ids that do not exist. Then: keys below an action's
// role never succeed; a revoked key gets the one 401 body everywhere; protected fields in
// bodies are refused and never stored; B's data is unchanged; the stored invariants hold.
// The routes and their cases come from reliability/endpoints.ts (endpoints × roles × cases);
// a documented /v1/ route without an entry there fails the suite.
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

import {
  ENDPOINT_BY_ROUTE,
  ID_FIELDS,
  Maker,
  RANK,
  ROLES,
  buildKit,
  documentedRoutes,
  idsOfKind,
  tableGaps,
  type Endpoint,
  type Factory,
  type Kind,
  type Kit,
  type Req,
  type Role,
} from '../endpoints.ts';

interface Operation {
  method: string;
  path: string;
  key: string;
  admin: boolean;
  query: string[];
  /** Declared properties of `params` in the request body. */
  bodyFields: string[];
  hasBody: boolean;
  /** Its entry in reliability/endpoints.ts (undefined: a finding). */
  entry: Endpoint | undefined;
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
        entry: ENDPOINT_BY_ROUTE.get(`${method} ${path}`),
      });
    }
  }
  return ops;
}

type Covered = Operation & { entry: Endpoint };

// ---------------------------------------------------------------------------------------
// An organization over HTTP: the Factory the table's entries build their objects with.

class Org implements Factory {
  constructor(
    readonly base: string,
    readonly rootKey: string,
    readonly keys: OrgKeys,
  ) {}
  get id(): string {
    return this.keys.id;
  }
  get mainMethod(): string {
    return this.keys.method;
  }
  h(role: Role = 'admin'): Record<string, string> {
    return headersFor(this.keys, role);
  }
  private async ok(what: string, reply: Reply): Promise<any> {
    if (reply.status !== 200)
      throw new Error(`setup: ${what} answered ${reply.status} ${reply.text.slice(0, 300)}`);
    return reply.body.data;
  }
  async post(url: string, params?: unknown): Promise<string> {
    const body = params === undefined ? undefined : { params };
    return (await this.ok(`POST ${url}`, await call(this.base, 'POST', url, this.h(), body)))
      .id as string;
  }
  async get(url: string): Promise<any> {
    return this.ok(`GET ${url}`, await call(this.base, 'GET', url, this.h()));
  }
  async patch(url: string, params?: unknown): Promise<void> {
    await this.ok(
      `PATCH ${url}`,
      await call(this.base, 'PATCH', url, this.h(), params === undefined ? undefined : { params }),
    );
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
  async keyIds(): Promise<string[]> {
    const keys = await call(this.base, 'GET', '/v1/admin/api-keys?limit=100', this.h('admin'));
    return (keys.body.data.items as { id: string }[]).map((k) => k.id);
  }
}

/** The names of a route's path ids (`uid`, `deliveryId`, …), in order. */
function pathIds(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}

function urlOf(op: Operation, t: Req): string {
  const ids: Record<string, string | undefined> = { ...t.path, uid: t.uid };
  const path = op.path.replace(/\{(\w+)\}/g, (whole, name: string) =>
    ids[name] === undefined ? whole : encodeURIComponent(ids[name]),
  );
  const qs = new URLSearchParams(t.query ?? {}).toString();
  return qs === '' ? path : `${path}?${qs}`;
}

async function send(
  base: string,
  op: Operation,
  t: Req,
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
      // No delivery worker: B's deliveries stay as they were (the snapshot compares them).
      server = await startServer(fx.testDatabase.url, { WEBHOOK_WORKER: '0' });
      const base = server.url;
      const doc = await (await fetch(`${base}/openapi.json`)).json();
      const ops = loadOperations(doc);
      // Every documented route must have its entry in the table, and every entry its route.
      const gaps = tableGaps('isolation', documentedRoutes(doc));
      const covered = ops.filter((o): o is Covered => o.entry !== undefined);
      const A = new Org(base, fx.rootKey, await makeOrganization(base, fx.rootKey, 'SAR'));
      const B = new Org(base, fx.rootKey, await makeOrganization(base, fx.rootKey, 'SAR'));
      const mA = new Maker(A);
      const kitA = await buildKit(mA);
      const kitB = await buildKit(new Maker(B));
      const bIds = new Set<string>([
        B.id,
        ...(['order', 'payment', 'invoice', 'method', 'apiKey'] as Kind[]).flatMap((kind) =>
          idsOfKind(kitB, kind),
        ),
      ]);
      const before = await snapshot(base, fx.rootKey, B, kitB, covered);

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
      let uncovered: string[] = gaps.missing.map((r) => `${r} (no endpoints table entry)`);
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

      const opsOm = covered.filter((o) => !o.admin);
      // 1a. Path {uid}: A's admin key on B's objects of the route's kind, with the template's
      // body and each of the entry's variants.
      for (const op of covered) {
        for (const name of pathIds(op.path)) {
          const kind = name === 'uid' ? op.entry.uid : op.entry.pathIds?.[name];
          if (kind === undefined) {
            uncovered.push(`${op.key} path {${name}}`);
            continue;
          }
          const t = op.entry.template(kitA);
          const at = (id: string): Req =>
            name === 'uid' ? { ...t, uid: id } : { ...t, path: { ...t.path, [name]: id } };
          const bodies = [t.params, ...(op.entry.variants ?? [])];
          for (const [n, params] of bodies.entries()) {
            await compare(
              `${op.key} {${name}}${n === 0 ? '' : ` ${JSON.stringify(params)}`}`,
              (id) => send(base, op, { ...at(id), params }, A.h('admin')),
              idsOfKind(kitB, kind),
            );
          }
        }
      }
      // 1b. Query ids of the lists.
      for (const op of ops.filter((o) => o.method === 'GET')) {
        for (const q of op.query.filter((name) => name in ID_FIELDS)) {
          const kind = ID_FIELDS[q]!;
          await compare(
            `${op.key} ?${q}`,
            (id) => send(base, op, { query: { [q]: id } }, A.h('admin')),
            idsOfKind(kitB, kind),
            { list: true },
          );
          // Control: A's own id of that kind finds A's objects, so the filter is live.
          const own = await send(
            base,
            op,
            { query: { [q]: idsOfKind(kitA, kind)[0]! } },
            A.h('admin'),
          );
          if (own.status !== 200 || (own.body?.data?.items?.length ?? 0) === 0)
            controlFailures.push(`${op.key} ?${q}: ${own.status} ${own.text.slice(0, 200)}`);
        }
      }
      // 1c. Body ids: each position on a base that succeeds with A's own id (the control).
      // (POST /v1/admin/api-keys `organizations`: A's admin, limited to A, naming B.)
      for (const op of covered.filter((o) => o.hasBody)) {
        for (const field of op.bodyFields.filter((f) => f in ID_FIELDS)) {
          const make = op.entry.bodyIds?.[field];
          if (make === undefined) {
            uncovered.push(`${op.key} params.${field}`);
            continue;
          }
          const c = await make(mA, kitA, kitB);
          const value = c.value ?? ((id: string) => id);
          await compare(
            `${op.key} params.${field}`,
            (id) =>
              send(
                base,
                op,
                { uid: c.uid, params: { ...c.params, [field]: value(id) } },
                A.h(c.role),
              ),
            c.foreign,
          );
          const own = await send(
            base,
            op,
            { uid: c.uid, params: { ...c.params, [field]: value(c.own) } },
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
        const t = op.entry.template(kitA);
        for (const role of ROLES) {
          await compare(
            `${op.key} organization-id (${role})`,
            (id) => send(base, op, t, { ...A.h(role), 'organization-id': id }),
            [B.id],
          );
        }
      }
      // 1e. Administration lists with A's admin key (limited to A): nothing of B.
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
      // Every route's least role, and the entry's further actions, on a fresh setup each time.
      const actions = covered.flatMap((op) =>
        [
          {
            label: op.entry.label,
            role: op.entry.role,
            fresh: op.entry.fresh,
            allOrganizations: op.entry.allOrganizations === true,
          },
          ...(op.entry.actions ?? []).map((a) => ({ ...a, allOrganizations: false })),
        ].map((a) => ({ ...a, op })),
      );
      let underSuccesses = 0;
      let underNot403 = 0;
      const roleControlFailures: string[] = [];
      const writeOps = ops.filter((o) => o.method !== 'GET' || o.admin);
      const withoutRoleCheck = writeOps
        .filter((o) => !actions.some((a) => a.op.key === o.key))
        .map((o) => o.key);
      for (const action of actions) {
        const op = action.op;
        for (const role of ROLES.filter((r) => RANK[r] < RANK[action.role])) {
          const t = await action.fresh(mA);
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
        const t = await action.fresh(mA);
        const controlHeaders = action.allOrganizations
          ? { 'api-key': fx.rootKey }
          : A.h(action.role);
        const reply = await send(base, op, t, controlHeaders);
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
      for (const op of covered) {
        // Should the revoked key still work, let it spend a throwaway object, not one in use.
        const t = op.entry.spends ? await op.entry.fresh(mA) : op.entry.template(kitA);
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
      // A valid body for each route (its fresh request), with a key that may send it.
      const make = async (op: Covered) => {
        const t = await op.entry.fresh(mA);
        const headers = op.admin ? { 'api-key': fx.rootKey } : A.h('admin');
        return { uid: t.uid, path: t.path, params: t.params ?? {}, headers };
      };
      for (const op of covered.filter((o) => o.hasBody)) {
        const fields = Object.keys(protectedValues).filter((f) => !op.bodyFields.includes(f));
        for (const field of fields) {
          for (const where of ['params', 'top'] as const) {
            const c = await make(op);
            const body =
              where === 'params'
                ? { params: { ...c.params, [field]: protectedValues[field] } }
                : { params: c.params, [field]: protectedValues[field] };
            const reply = await call(base, op.method, urlOf(op, c), c.headers, body);
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
      const after = await snapshot(base, fx.rootKey, B, kitB, covered);
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
        routesWithoutTableEntry: gaps.missing,
        tableEntriesNotDocumented: gaps.stale,
        roleActions: actions.map((a) => `${a.label} (${a.role})`),
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
          exactly('routes without an endpoints table entry', gaps.missing.length, 0),
          exactly('endpoints table entries /openapi.json does not document', gaps.stale.length, 0),
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
  ops: Covered[],
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const headersOf = (op: Covered) => (op.admin ? { 'api-key': rootKey } : B.h('admin'));
  const get = async (op: Covered, url: string) => {
    const reply = await call(base, 'GET', url, headersOf(op));
    out[url] = `${reply.status} ${JSON.stringify(scrub(reply.body, []))}`;
    return reply;
  };
  const gets = ops.filter((o) => o.method === 'GET');
  const byId = gets.filter((o) => pathIds(o.path).join() === 'uid');
  // B's lists (the platform's own lists also hold other organizations and what the run
  // made), and each item through every route on `${list}/{uid}`.
  for (const list of gets.filter((o) => !o.admin && pathIds(o.path).length === 0)) {
    const query = { ...list.entry.template(k).query };
    if (list.query.includes('limit')) query.limit = '100';
    const reply = await get(list, urlOf(list, { query }));
    for (const item of (reply.body?.data?.items ?? []) as { id: string }[]) {
      for (const op of byId.filter((o) => o.path.startsWith(`${list.path}/{uid}`)))
        await get(op, urlOf(op, { uid: item.id }));
    }
  }
  // Also what the kit named, in case a list lost (or never showed) an item.
  for (const op of byId) {
    for (const id of idsOfKind(k, op.entry.uid!)) await get(op, urlOf(op, { uid: id }));
  }
  return out;
}
