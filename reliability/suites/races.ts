// Races, black-box (API.md §5, §6): many requests sent at once over HTTP to the real server —
// one process, then two sharing the database, then one of two workers (WORKERS=2) — fighting for one receipt's refundable amount,
// one order's balance, or one payment's next state. Every limit must hold exactly (no
// over-refund, no over-collection), every payment must move once, and nothing may be a 5xx.
import { performance } from 'node:perf_hooks';
import { checkDatabaseInvariants, minorToWire } from '../invariants.ts';
import {
  ENGINE,
  atMost,
  call,
  exactly,
  fixture,
  headersFor,
  makeOrganization,
  startServer,
  type Figure,
  type OrgKeys,
  type Profile,
  type Reply,
  type ServerHandle,
  type SuiteResult,
} from '../lib.ts';

/** KWD: three decimals, so every amount below exercises exact conversion. */
const CURRENCY = 'KWD';
const EXPONENT = 3;
/** The receipt (and the order total) of the money races: 12.340 KWD. */
const WHOLE_MINOR = 12_340;
/** One tenth of it: 1.234 KWD. Ten fit exactly, the eleventh never. */
const SHARE_MINOR = 1_234;
const SHARES = WHOLE_MINOR / SHARE_MINOR;

const COUNTS = {
  ci: {
    refunds: 50,
    receipts: 30,
    pendingPayments: 10,
    rounds: 3,
    refundsToReverse: 5,
    reversals: 10,
  },
  full: {
    refunds: 300,
    receipts: 200,
    pendingPayments: 40,
    rounds: 5,
    refundsToReverse: 10,
    reversals: 30,
  },
} as const;

const wire = (minor: number) => minorToWire(minor, EXPONENT);

/** A wire amount back to minor units, exactly (from its decimal text, no float maths). */
function toMinor(amount: unknown): number {
  const text = String(amount);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (match === null || (match[2] ?? '').length > EXPONENT)
    throw new Error(`not an amount of ${CURRENCY}: ${text}`);
  return Number(match[1]! + (match[2] ?? '').padEnd(EXPONENT, '0'));
}

/** `200`, `200:WARNING+…`, `400:CODE`, or `0:network`: what a reply was, for tallies. */
function outcomeOf(r: Reply): string {
  if (r.status === 0) return '0:network';
  if (r.status === 200) {
    const codes = Array.isArray(r.body?.warnings)
      ? (r.body.warnings as { code: string }[]).map((w) => w.code)
      : [];
    return codes.length === 0 ? '200' : `200:${codes.join('+')}`;
  }
  const code: unknown = r.body?.error?.code;
  return `${r.status}:${typeof code === 'string' ? code : 'no-error-code'}`;
}

function tally(replies: Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of replies) {
    const k = outcomeOf(r);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

const serverErrors = (replies: Reply[]) => replies.filter((r) => r.status >= 500).length;

/** All requests at once (every fetch started in the same tick), timed. */
async function race(
  count: number,
  send: (i: number) => Promise<Reply>,
): Promise<{ replies: Reply[]; ms: number }> {
  const started = performance.now();
  const replies = await Promise.all(Array.from({ length: count }, (_, i) => send(i)));
  return { replies, ms: performance.now() - started };
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000 * 10) / 10;

/** A setup call that must succeed. */
async function must(r: Promise<Reply>, what: string): Promise<Reply> {
  const reply = await r;
  if (reply.status !== 200) throw new Error(`${what}: ${reply.status} ${reply.text.slice(0, 300)}`);
  return reply;
}

async function createOrder(base: string, org: OrgKeys, totalMinor: number): Promise<string> {
  const r = await must(
    call(base, 'POST', '/v1/om/orders', headersFor(org, 'cashier'), {
      params: { total: wire(totalMinor) },
    }),
    'create order',
  );
  return r.body.data.id as string;
}

async function createPayment(
  base: string,
  org: OrgKeys,
  params: Record<string, unknown>,
): Promise<string> {
  const r = await must(
    call(base, 'POST', '/v1/om/payments', headersFor(org, 'cashier'), { params }),
    'create payment',
  );
  return r.body.data.id as string;
}

/** Every payment of an order, through the list endpoint (bounded paging). */
async function paymentsOf(base: string, org: OrgKeys, orderId: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const q: string = `/v1/om/payments?orderId=${orderId}&limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const r = await must(call(base, 'GET', q, headersFor(org, 'viewer')), 'list payments');
    items.push(...(r.body.data.items as any[]));
    cursor = r.body.data.next as string | null;
    if (cursor === null) return items;
  }
  throw new Error('list payments: more than 100 pages');
}

/** How many events of each type a payment has: its history, or (deleted: hidden) the table. */
async function eventTypes(
  base: string,
  org: OrgKeys,
  paymentId: string,
  readEvents: (id: string) => Promise<string[]>,
): Promise<{ types: Record<string, number>; via: 'history' | 'database' }> {
  const r = await call(base, 'GET', `/v1/om/payments/${paymentId}/history`, headersFor(org));
  let list: string[];
  let via: 'history' | 'database';
  if (r.status === 200) {
    list = (r.body.data.items as { type: string }[]).map((e) => e.type);
    via = 'history';
  } else if (r.status === 404) {
    list = await readEvents(paymentId);
    via = 'database';
  } else {
    throw new Error(`history of ${paymentId}: ${r.status} ${r.text.slice(0, 300)}`);
  }
  const types: Record<string, number> = {};
  for (const t of list) types[t] = (types[t] ?? 0) + 1;
  return { types, via };
}

interface Part {
  figures: Figure[];
  info: Record<string, unknown>;
}

/** (a) n refunds of 1/10 of one complete receipt at once: exactly 10 fit. */
async function refundRace(bases: string[], org: OrgKeys, n: number, label: string): Promise<Part> {
  const base = bases[0]!;
  const orderId = await createOrder(base, org, WHOLE_MINOR);
  const receiptId = await createPayment(base, org, {
    orderId,
    type: 'receipt',
    methodId: org.method,
    amount: wire(WHOLE_MINOR),
    status: 'complete',
  });
  const body = {
    params: {
      orderId,
      type: 'refund',
      amount: wire(SHARE_MINOR),
      sourcePaymentId: receiptId,
      status: 'complete',
    },
  };
  const { replies, ms } = await race(n, (i) =>
    call(bases[i % bases.length]!, 'POST', '/v1/om/payments', headersFor(org, 'cashier'), body),
  );
  const successes = replies.filter((r) => r.status === 200).length;
  const limited = replies.filter(
    (r) => r.status === 400 && r.body?.error?.code === 'LIMIT_REACHED',
  ).length;

  const stored = await paymentsOf(base, org, orderId);
  const refunds = stored.filter((p) => p.type === 'refund' && p.status !== 'reversed');
  const refundedMinor = refunds.reduce((s, p) => s + toMinor(p.amount), 0);
  const receipt = stored.find((p) => p.id === receiptId);
  const receiptRefundedMinor = toMinor(receipt?.refundedAmount ?? 0);
  const order = await must(
    call(base, 'GET', `/v1/om/orders/${orderId}`, headersFor(org, 'viewer')),
    'get order',
  );
  const orderRefundedMinor = toMinor(order.body.data.order.refundedAmount);
  const capViolations = [refundedMinor, receiptRefundedMinor, orderRefundedMinor].filter(
    (m) => m > WHOLE_MINOR,
  ).length;
  const successIds = new Set(replies.filter((r) => r.status === 200).map((r) => r.body.data.id));
  const effectMismatch =
    Math.abs(refunds.length - successes) + (successIds.size === successes ? 0 : 1);
  return {
    figures: [
      exactly(`${label}: successes`, successes, SHARES),
      exactly(`${label}: LIMIT_REACHED`, limited, n - SHARES),
      exactly(`${label}: other answers`, n - successes - limited, 0),
      exactly(`${label}: 5xx`, serverErrors(replies), 0),
      exactly(`${label}: cap violations (Σ refunds > receipt)`, capViolations, 0),
      exactly(`${label}: stored refunds ≠ successes`, effectMismatch, 0),
    ],
    info: {
      requests: n,
      servers: bases.length,
      ms: Math.round(ms),
      reqPerSec: rate(n, ms),
      counts: tally(replies),
      refundedMinor,
      receiptRefundedMinor,
      orderRefundedMinor,
    },
  };
}

/** (b) m receipts of 1/10 of an order's total at once: exactly 10 fit. */
async function receiptRace(bases: string[], org: OrgKeys, m: number, label: string): Promise<Part> {
  const base = bases[0]!;
  const orderId = await createOrder(base, org, WHOLE_MINOR);
  const body = {
    params: {
      orderId,
      type: 'receipt',
      methodId: org.method,
      amount: wire(SHARE_MINOR),
      status: 'complete',
    },
  };
  const { replies, ms } = await race(m, (i) =>
    call(bases[i % bases.length]!, 'POST', '/v1/om/payments', headersFor(org, 'cashier'), body),
  );
  const successes = replies.filter((r) => r.status === 200).length;
  const limited = replies.filter(
    (r) => r.status === 400 && r.body?.error?.code === 'LIMIT_REACHED',
  ).length;
  const stored = (await paymentsOf(base, org, orderId)).filter(
    (p) => p.type === 'receipt' && p.status !== 'reversed',
  );
  const collectedMinor = stored.reduce((s, p) => s + toMinor(p.amount), 0);
  const order = await must(
    call(base, 'GET', `/v1/om/orders/${orderId}`, headersFor(org, 'viewer')),
    'get order',
  );
  const o = order.body.data.order;
  const orderMinor = toMinor(o.paidAmount) + toMinor(o.pendingAmount);
  const overCollection = [collectedMinor, orderMinor].filter((x) => x > WHOLE_MINOR).length;
  return {
    figures: [
      exactly(`${label}: successes`, successes, SHARES),
      exactly(`${label}: LIMIT_REACHED`, limited, m - SHARES),
      exactly(`${label}: other answers`, m - successes - limited, 0),
      exactly(`${label}: 5xx`, serverErrors(replies), 0),
      exactly(`${label}: over-collection (Σ receipts > total)`, overCollection, 0),
      exactly(`${label}: stored receipts ≠ successes`, Math.abs(stored.length - successes), 0),
    ],
    info: {
      requests: m,
      servers: bases.length,
      ms: Math.round(ms),
      reqPerSec: rate(m, ms),
      counts: tally(replies),
      collectedMinor,
      orderPaidPlusPendingMinor: orderMinor,
    },
  };
}

/**
 * (c1) Pending receipts, each raced by `rounds` confirms and `rounds` deletes (interleaved,
 * all at once): each ends either confirmed once or deleted once, and the answers agree.
 */
async function confirmDeleteRace(
  base: string,
  org: OrgKeys,
  count: number,
  rounds: number,
  readEvents: (id: string) => Promise<string[]>,
): Promise<Part> {
  // Never fully paid, so a confirmation carries no balance warning.
  const orderId = await createOrder(base, org, 2 * count * SHARE_MINOR);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(
      await createPayment(base, org, {
        orderId,
        type: 'receipt',
        methodId: org.method,
        amount: wire(SHARE_MINOR),
      }),
    );
  }
  const ops: { kind: 'confirm' | 'delete'; id: string }[] = [];
  for (let round = 0; round < rounds; round++) {
    ids.forEach((id, n) => {
      const pair = [
        { kind: 'delete' as const, id },
        { kind: 'confirm' as const, id },
      ];
      ops.push(...((n + round) % 2 === 0 ? pair : pair.reverse()));
    });
  }
  const { replies, ms } = await race(ops.length, (i) => {
    const op = ops[i]!;
    return op.kind === 'confirm'
      ? call(base, 'PATCH', `/v1/om/payments/${op.id}/confirm`, headersFor(org, 'cashier'))
      : call(base, 'DELETE', `/v1/om/payments/${op.id}`, headersFor(org, 'cashier'));
  });

  let notOneEffect = 0;
  let inconsistent = 0;
  let confirmedWins = 0;
  let deletedWins = 0;
  const viaDatabase: string[] = [];
  const samples: unknown[] = [];
  for (const id of ids) {
    const mine = (kind: 'confirm' | 'delete') =>
      tally(replies.filter((_, i) => ops[i]!.kind === kind && ops[i]!.id === id));
    const { types, via } = await eventTypes(base, org, id, readEvents);
    if (via === 'database') viaDatabase.push(id);
    const confirmed = types['payment.confirmed'] ?? 0;
    const deleted = types['payment.deleted'] ?? 0;
    const confirms = mine('confirm');
    const deletes = mine('delete');
    const same = (a: Record<string, number>, b: Record<string, number>) =>
      JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
    let consistent: boolean;
    if (confirmed === 1 && deleted === 0) {
      confirmedWins++;
      consistent =
        via === 'history' &&
        same(deletes, { '400:INVALID_STATUS': rounds }) &&
        same(
          confirms,
          rounds > 1 ? { '200': 1, '200:ALREADY_COMPLETE': rounds - 1 } : { '200': 1 },
        );
    } else if (confirmed === 0 && deleted === 1) {
      deletedWins++;
      consistent =
        via === 'database' &&
        same(deletes, rounds > 1 ? { '200': 1, '404:NOT_FOUND': rounds - 1 } : { '200': 1 }) &&
        same(confirms, { '404:NOT_FOUND': rounds });
    } else {
      notOneEffect++;
      consistent = false;
    }
    if (!consistent) {
      inconsistent++;
      if (samples.length < 3) samples.push({ id, types, confirms, deletes });
    }
  }
  return {
    figures: [
      exactly('confirm/delete: payments without exactly one effect', notOneEffect, 0),
      exactly('confirm/delete: answers inconsistent with the effect', inconsistent, 0),
      exactly('confirm/delete: 5xx', serverErrors(replies), 0),
    ],
    info: {
      payments: count,
      requests: ops.length,
      ms: Math.round(ms),
      reqPerSec: rate(ops.length, ms),
      confirmedWins,
      deletedWins,
      counts: tally(replies),
      // A deleted payment's history is hidden (404, §3.5.2): its events were read from the table.
      eventsReadFromDatabase: viaDatabase.length,
      inconsistentSamples: samples,
    },
  };
}

/** (c2) Complete refunds, each raced by `reversals` PATCH status=reversed (manager). */
async function reversalRace(
  base: string,
  org: OrgKeys,
  count: number,
  reversals: number,
): Promise<Part> {
  const orderId = await createOrder(base, org, WHOLE_MINOR);
  const receiptId = await createPayment(base, org, {
    orderId,
    type: 'receipt',
    methodId: org.method,
    amount: wire(WHOLE_MINOR),
    status: 'complete',
  });
  const refundIds: string[] = [];
  for (let i = 0; i < count; i++) {
    refundIds.push(
      await createPayment(base, org, {
        orderId,
        type: 'refund',
        amount: wire(SHARE_MINOR),
        sourcePaymentId: receiptId,
        status: 'complete',
      }),
    );
  }
  const total = count * reversals;
  const { replies, ms } = await race(total, (i) =>
    call(base, 'PATCH', `/v1/om/payments/${refundIds[i % count]!}`, headersFor(org, 'manager'), {
      params: { status: 'reversed' },
    }),
  );
  let notOne = 0;
  const reversedEvents: number[] = [];
  for (const id of refundIds) {
    const { types } = await eventTypes(base, org, id, () => Promise.resolve([]));
    const n = types['payment.reversed'] ?? 0;
    reversedEvents.push(n);
    if (n !== 1) notOne++;
  }
  // Losers meet a reversed refund: a no-op 200 (§6.1) or INVALID_STATUS; nothing else.
  const other = replies.filter(
    (r) => r.status !== 200 && !(r.status === 400 && r.body?.error?.code === 'INVALID_STATUS'),
  ).length;
  const receipt = await must(
    call(base, 'GET', `/v1/om/payments/${receiptId}`, headersFor(org, 'viewer')),
    'get receipt',
  );
  const restored = toMinor(receipt.body.data.payment.refundableAmount) === WHOLE_MINOR;
  return {
    figures: [
      exactly('reversals: refunds without exactly one payment.reversed', notOne, 0),
      exactly('reversals: answers other than 200 / INVALID_STATUS', other, 0),
      exactly('reversals: 5xx', serverErrors(replies), 0),
      exactly('reversals: receipt refundable not restored', restored ? 0 : 1, 0),
    ],
    info: {
      refunds: count,
      requests: total,
      ms: Math.round(ms),
      reqPerSec: rate(total, ms),
      counts: tally(replies),
      reversedEvents,
    },
  };
}

export const suite = {
  name: 'races',
  async run(profile: Profile): Promise<SuiteResult> {
    const started = performance.now();
    const counts = COUNTS[profile];
    const figures: Figure[] = [];
    const info: Record<string, unknown> = { currency: CURRENCY, counts };
    const fx = await fixture();
    const servers: ServerHandle[] = [];
    try {
      const readEvents = async (id: string) =>
        (
          await fx.database.db
            .selectFrom('events')
            .select(['type'])
            .where('entity_id', '=', id)
            .orderBy('id')
            .execute()
        ).map((e) => e.type);

      const one = await startServer(fx.testDatabase.url);
      servers.push(one);
      const org = await makeOrganization(one.url, fx.rootKey, CURRENCY);

      const parts: Record<string, Part> = {};
      parts.refunds = await refundRace([one.url], org, counts.refunds, 'refunds');
      parts.receipts = await receiptRace([one.url], org, counts.receipts, 'receipts');
      parts.confirmDelete = await confirmDeleteRace(
        one.url,
        org,
        counts.pendingPayments,
        counts.rounds,
        readEvents,
      );
      parts.reversals = await reversalRace(
        one.url,
        org,
        Math.min(counts.refundsToReverse, SHARES),
        counts.reversals,
      );

      // (d) Two server processes on the same database, requests alternating between them.
      const two = await startServer(fx.testDatabase.url);
      servers.push(two);
      const both = [one.url, two.url];
      parts.refunds2 = await refundRace(both, org, counts.refunds, '2 servers refunds');
      parts.receipts2 = await receiptRace(both, org, counts.receipts, '2 servers receipts');

      // (e) One instance of two workers (WORKERS=2): the processes share one port.
      const clustered = await startServer(fx.testDatabase.url, { WORKERS: '2' });
      servers.push(clustered);
      const port = [clustered.url];
      parts.refundsWorkers = await refundRace(port, org, counts.refunds, 'WORKERS=2 refunds');
      parts.receiptsWorkers = await receiptRace(port, org, counts.receipts, 'WORKERS=2 receipts');

      for (const [name, part] of Object.entries(parts)) {
        figures.push(...part.figures);
        info[name] = part.info;
      }
      const violations = await checkDatabaseInvariants(fx.database.db);
      figures.push(atMost('invariant violations', violations.length, 0));
      if (violations.length > 0) info.invariantViolations = violations.slice(0, 20);
    } finally {
      await Promise.all(servers.map((s) => s.kill('SIGTERM')));
      await fx.close();
    }
    return {
      suite: 'races',
      engine: ENGINE,
      profile,
      durationMs: Math.round(performance.now() - started),
      figures,
      info,
    };
  },
};
