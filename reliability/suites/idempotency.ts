// Idempotency-Key, black-box (API.md §5): over HTTP against the real server — one process,
// then two sharing the database. One key sent many times at once has one effect and one
// answer; a key reused with another request is 422 and does nothing; a finished key replays
// its stored status and body (functional 400s included, even once the condition changed)
// with `idempotent-replayed: true`; keys of two organizations never meet.
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

const CURRENCY = 'KWD';
const EXPONENT = 3;
const TOTAL_MINOR = 12_340;
const SHARE_MINOR = 1_234;

const COUNTS = {
  ci: { keys: 10, copies: 20, reuses: 50, replays: 10, orgKeys: 10, stored400: 5 },
  full: { keys: 50, copies: 50, reuses: 500, replays: 20, orgKeys: 50, stored400: 20 },
} as const;
/** Keys raced at once: with their copies, at most a few hundred requests in flight. */
const KEYS_PER_WAVE = 10;

const wire = (minor: number) => minorToWire(minor, EXPONENT);

function outcomeOf(r: Reply): string {
  if (r.status === 0) return '0:network';
  if (r.status === 200)
    return r.headers.get('idempotent-replayed') === 'true' ? '200:replay' : '200';
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
const isReplay = (r: Reply) => r.headers.get('idempotent-replayed') === 'true';
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000 * 10) / 10;

async function must(r: Promise<Reply>, what: string): Promise<Reply> {
  const reply = await r;
  if (reply.status !== 200) throw new Error(`${what}: ${reply.status} ${reply.text.slice(0, 300)}`);
  return reply;
}

const withKey = (org: OrgKeys, key: string, role: keyof OrgKeys['keys'] = 'cashier') => ({
  ...headersFor(org, role),
  'idempotency-key': key,
});

async function createOrder(base: string, org: OrgKeys, totalMinor = TOTAL_MINOR): Promise<string> {
  const r = await must(
    call(base, 'POST', '/v1/om/orders', headersFor(org, 'cashier'), {
      params: { total: wire(totalMinor) },
    }),
    'create order',
  );
  return r.body.data.id as string;
}

/** Every row of a list endpoint (bounded paging). */
async function listAll(base: string, org: OrgKeys, path: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  const sep = path.includes('?') ? '&' : '?';
  for (let page = 0; page < 200; page++) {
    const url: string = `${path}${sep}limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const r = await must(call(base, 'GET', url, headersFor(org, 'viewer')), `list ${path}`);
    items.push(...(r.body.data.items as any[]));
    cursor = r.body.data.next as string | null;
    if (cursor === null) return items;
  }
  throw new Error(`list ${path}: more than 200 pages`);
}

const paymentCount = async (base: string, org: OrgKeys, orderId: string) =>
  (await listAll(base, org, `/v1/om/payments?orderId=${orderId}`)).length;

async function historyLength(base: string, org: OrgKeys, paymentId: string): Promise<number> {
  const r = await must(
    call(base, 'GET', `/v1/om/payments/${paymentId}/history`, headersFor(org, 'viewer')),
    'history',
  );
  return (r.body.data.items as unknown[]).length;
}

interface Part {
  figures: Figure[];
  info: Record<string, unknown>;
}

/** What one key's race ended with. */
interface KeyRun {
  key: string;
  orderId: string;
  replies: Reply[];
  body: unknown;
}

/**
 * (a), (f) `copies` copies of each of `keys` keys (one order per key, a receipt of 1/10 of
 * its total), sent at once in waves of KEYS_PER_WAVE keys, alternating between the servers.
 */
async function sameKeyRace(
  bases: string[],
  org: OrgKeys,
  keys: number,
  copies: number,
  label: string,
  tag: string,
): Promise<Part & { runs: KeyRun[] }> {
  const base = bases[0]!;
  const runs: KeyRun[] = [];
  for (let k = 0; k < keys; k++) {
    const orderId = await createOrder(base, org);
    runs.push({
      key: `${tag}-${k}-${orderId}`,
      orderId,
      replies: [],
      body: {
        params: {
          orderId,
          type: 'receipt',
          methodId: org.method,
          amount: wire(SHARE_MINOR),
          status: 'complete',
        },
      },
    });
  }
  let ms = 0;
  let sent = 0;
  for (let w = 0; w < runs.length; w += KEYS_PER_WAVE) {
    const wave = runs.slice(w, w + KEYS_PER_WAVE);
    const plan: KeyRun[] = [];
    for (let c = 0; c < copies; c++) plan.push(...wave);
    const started = performance.now();
    const replies = await Promise.all(
      plan.map((run, i) =>
        call(bases[i % bases.length]!, 'POST', '/v1/om/payments', withKey(org, run.key), run.body),
      ),
    );
    ms += performance.now() - started;
    sent += plan.length;
    plan.forEach((run, i) => run.replies.push(replies[i]!));
  }

  let duplicates = 0;
  let noEffect = 0;
  let notOneOriginal = 0;
  let nonIdentical = 0;
  let other = 0;
  let inProgress = 0;
  let replays = 0;
  const all: Reply[] = [];
  for (const run of runs) {
    all.push(...run.replies);
    const effects = await paymentCount(base, org, run.orderId);
    if (effects > 1) duplicates += effects - 1;
    if (effects === 0) noEffect++;
    const ok = run.replies.filter((r) => r.status === 200);
    if (ok.filter((r) => !isReplay(r)).length !== 1) notOneOriginal++;
    replays += ok.filter(isReplay).length;
    const bodies = new Set(ok.map((r) => r.text));
    nonIdentical += Math.max(0, bodies.size - 1);
    const busy = run.replies.filter(
      (r) => r.status === 409 && r.body?.error?.code === 'IDEMPOTENCY_IN_PROGRESS',
    ).length;
    inProgress += busy;
    other += run.replies.length - ok.length - busy;
  }
  return {
    runs,
    figures: [
      exactly(`${label}: duplicate effects`, duplicates, 0),
      exactly(`${label}: keys without effect`, noEffect, 0),
      exactly(`${label}: keys without exactly one original 200`, notOneOriginal, 0),
      exactly(`${label}: non-identical successful bodies`, nonIdentical, 0),
      exactly(`${label}: answers other than 200 / 409 IN_PROGRESS`, other, 0),
      exactly(`${label}: 5xx`, serverErrors(all), 0),
    ],
    info: {
      keys,
      copies,
      servers: bases.length,
      requests: sent,
      ms: Math.round(ms),
      reqPerSec: rate(sent, ms),
      replays,
      inProgress409: inProgress,
      counts: tally(all),
    },
  };
}

/** (b) One finished key, then `n` requests reusing it with another body, path or method. */
async function reuse(base: string, org: OrgKeys, n: number): Promise<Part> {
  const orderId = await createOrder(base, org);
  const key = `reuse-${orderId}`;
  const body = (amountMinor: number, note?: string) => ({
    params: {
      orderId,
      type: 'receipt',
      methodId: org.method,
      amount: wire(amountMinor),
      ...(note === undefined ? {} : { note }),
    },
  });
  const first = await must(
    call(base, 'POST', '/v1/om/payments', withKey(org, key), body(SHARE_MINOR)),
    'reuse: first',
  );
  const paymentId = first.body.data.id as string;
  const ordersBefore = (await listAll(base, org, '/v1/om/orders')).length;
  const variants: ((i: number) => Promise<Reply>)[] = [
    // another amount
    (i) => call(base, 'POST', '/v1/om/payments', withKey(org, key), body(1 + (i % 1000))),
    // the same amount, one more field
    (i) => call(base, 'POST', '/v1/om/payments', withKey(org, key), body(SHARE_MINOR, `n${i}`)),
    // another path
    (i) =>
      call(base, 'POST', '/v1/om/orders', withKey(org, key), {
        params: { total: wire(TOTAL_MINOR + i) },
      }),
    // another method and path
    (i) =>
      call(base, 'PATCH', `/v1/om/payments/${paymentId}`, withKey(org, key, 'manager'), {
        params: { note: `n${i}` },
      }),
    (i) =>
      i % 2 === 0
        ? call(base, 'PATCH', `/v1/om/payments/${paymentId}/confirm`, withKey(org, key))
        : call(base, 'DELETE', `/v1/om/payments/${paymentId}`, withKey(org, key)),
  ];
  // One after another: each one meets the finished key (not another reuse still running).
  const replies: Reply[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) replies.push(await variants[i % variants.length]!(i));
  const ms = performance.now() - started;
  const refused = replies.filter(
    (r) => r.status === 422 && r.body?.error?.code === 'IDEMPOTENCY_KEY_REUSED',
  ).length;
  const effects =
    (await paymentCount(base, org, orderId)) -
    1 +
    ((await historyLength(base, org, paymentId)) - 1) +
    ((await listAll(base, org, '/v1/om/orders')).length - ordersBefore);
  const payment = await must(
    call(base, 'GET', `/v1/om/payments/${paymentId}`, headersFor(org, 'viewer')),
    'reuse: payment',
  );
  const untouched =
    payment.body.data.payment.status === 'pending' && payment.body.data.payment.note === null;
  return {
    figures: [
      exactly('reuse: answers other than 422 IDEMPOTENCY_KEY_REUSED', n - refused, 0),
      exactly('reuse: effects', Math.abs(effects) + (untouched ? 0 : 1), 0),
      exactly('reuse: 5xx', serverErrors(replies), 0),
    ],
    info: { requests: n, ms: Math.round(ms), reqPerSec: rate(n, ms), counts: tally(replies) },
  };
}

/** One write with a key and its first answer, to replay. */
interface Recorded {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  first: Reply;
}

async function record(
  base: string,
  name: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Recorded> {
  const first = await call(base, method, path, headers, body);
  return { name, method, path, headers, body, first };
}

/**
 * Replays each recorded write `times` times — all at once, or one after another — and counts
 * what differs from its first answer.
 */
async function replayAll(
  bases: string[],
  recorded: Recorded[],
  times: number,
  mode: 'concurrent' | 'sequential',
) {
  const plan: Recorded[] = [];
  for (let t = 0; t < times; t++) plan.push(...recorded);
  const send = (w: Recorded, i: number) =>
    call(bases[i % bases.length]!, w.method, w.path, w.headers, w.body);
  const started = performance.now();
  let replies: Reply[];
  if (mode === 'concurrent') replies = await Promise.all(plan.map(send));
  else {
    replies = [];
    for (let i = 0; i < plan.length; i++) replies.push(await send(plan[i]!, i));
  }
  const ms = performance.now() - started;
  let differing = 0;
  let unmarked = 0;
  const samples: unknown[] = [];
  replies.forEach((r, i) => {
    const w = plan[i]!;
    const same = r.status === w.first.status && r.text === w.first.text;
    if (!same) {
      differing++;
      if (samples.length < 3)
        samples.push({
          name: w.name,
          first: w.first.status,
          replay: r.status,
          text: r.text.slice(0, 200),
        });
    }
    if (!isReplay(r)) unmarked++;
  });
  return { replies, differing, unmarked, ms, samples };
}

/**
 * (c) Writes of every kind with a key, then replays after completion: the same status and
 * body, `idempotent-replayed: true`, and no second effect.
 */
async function replays(
  base: string,
  org: OrgKeys,
  races: KeyRun[],
  times: number,
  tag: string,
): Promise<Part & { recorded: Recorded[] }> {
  const k = (name: string) => withKey(org, `${tag}-${name}`, 'manager');
  const recorded: Recorded[] = [];
  const orderWrite = await record(base, 'create order', 'POST', '/v1/om/orders', k('order'), {
    params: { total: wire(TOTAL_MINOR) },
  });
  recorded.push(orderWrite);
  const orderId = orderWrite.first.body?.data?.id as string;
  const ordersAfterCreate = (await listAll(base, org, '/v1/om/orders')).length;
  const receipt = (amountMinor: number) => ({
    params: { orderId, type: 'receipt', methodId: org.method, amount: wire(amountMinor) },
  });
  const p1Write = await record(
    base,
    'create receipt',
    'POST',
    '/v1/om/payments',
    k('p1'),
    receipt(5 * SHARE_MINOR),
  );
  recorded.push(p1Write);
  const p1 = p1Write.first.body?.data?.id as string;
  recorded.push(
    await record(base, 'update note', 'PATCH', `/v1/om/payments/${p1}`, k('p1-note'), {
      params: { note: 'first' },
    }),
  );
  recorded.push(
    await record(base, 'confirm', 'PATCH', `/v1/om/payments/${p1}/confirm`, k('p1-confirm')),
  );
  const p2Write = await record(
    base,
    'create receipt 2',
    'POST',
    '/v1/om/payments',
    k('p2'),
    receipt(SHARE_MINOR),
  );
  recorded.push(p2Write);
  const p2 = p2Write.first.body?.data?.id as string;
  recorded.push(await record(base, 'delete', 'DELETE', `/v1/om/payments/${p2}`, k('p2-delete')));
  const refundWrite = await record(base, 'create refund', 'POST', '/v1/om/payments', k('refund'), {
    params: {
      orderId,
      type: 'refund',
      amount: wire(SHARE_MINOR),
      sourcePaymentId: p1,
      status: 'complete',
    },
  });
  recorded.push(refundWrite);
  const refund = refundWrite.first.body?.data?.id as string;
  recorded.push(
    await record(
      base,
      'reverse refund',
      'PATCH',
      `/v1/om/payments/${refund}`,
      k('refund-reverse'),
      {
        params: { status: 'reversed' },
      },
    ),
  );
  recorded.push(
    await record(base, 'update order', 'PATCH', `/v1/om/orders/${orderId}`, k('order-total'), {
      params: { total: wire(2 * TOTAL_MINOR) },
    }),
  );
  const setupFailures = recorded.filter((w) => w.first.status !== 200).length;
  const firstMarked = recorded.filter((w) => isReplay(w.first)).length;
  // The payment creations of (a), each replayed once more now that every copy has finished.
  for (const run of races) {
    const original = run.replies.find((r) => r.status === 200 && !isReplay(r));
    if (original === undefined) continue;
    recorded.push({
      name: 'raced create',
      method: 'POST',
      path: '/v1/om/payments',
      headers: withKey(org, run.key),
      body: run.body,
      first: original,
    });
  }
  // First one replay of each, one at a time: nothing else runs under the key (§5 to the letter).
  const one = await replayAll([base], recorded, 1, 'sequential');
  // Then `times` copies of each at once: the first finished long ago, so every copy is a
  // replay too, however many arrive together.
  const many = await replayAll([base], recorded, times, 'concurrent');
  const extraEffects =
    Math.abs((await paymentCount(base, org, orderId)) - 2) + // p1 and the refund; p2 deleted
    Math.abs((await historyLength(base, org, p1)) - 3) + // created, updated, confirmed
    Math.abs((await historyLength(base, org, refund)) - 2) + // created, reversed
    Math.abs((await listAll(base, org, '/v1/om/orders')).length - ordersAfterCreate);
  let racedExtra = 0;
  for (const run of races) racedExtra += Math.abs((await paymentCount(base, org, run.orderId)) - 1);
  return {
    recorded,
    figures: [
      exactly('replay: writes that failed before replaying', setupFailures, 0),
      exactly('replay: first answers marked replayed', firstMarked, 0),
      exactly('replay: status or body mismatches', one.differing, 0),
      exactly('replay: without idempotent-replayed: true', one.unmarked, 0),
      exactly('replay at once: status or body mismatches', many.differing, 0),
      exactly('replay at once: without idempotent-replayed: true', many.unmarked, 0),
      exactly('replay: extra effects', extraEffects + racedExtra, 0),
      exactly('replay: 5xx', serverErrors([...one.replies, ...many.replies]), 0),
    ],
    info: {
      writes: recorded.length,
      sequential: {
        replays: one.replies.length,
        ms: Math.round(one.ms),
        reqPerSec: rate(one.replies.length, one.ms),
        counts: tally(one.replies),
        mismatchSamples: one.samples,
      },
      concurrent: {
        replays: many.replies.length,
        ms: Math.round(many.ms),
        reqPerSec: rate(many.replies.length, many.ms),
        counts: tally(many.replies),
        mismatchSamples: many.samples,
      },
    },
  };
}

/** (d) The same key in organizations A and B, at once, with different bodies. */
async function acrossOrganizations(
  base: string,
  a: OrgKeys,
  b: OrgKeys,
  keys: number,
): Promise<Part> {
  const pairs: { key: string; orderA: string; orderB: string }[] = [];
  for (let i = 0; i < keys; i++) {
    const orderA = await createOrder(base, a);
    const orderB = await createOrder(base, b);
    pairs.push({ key: `shared-${i}-${orderA}`, orderA, orderB });
  }
  const started = performance.now();
  const replies = await Promise.all(
    pairs.flatMap(({ key, orderA, orderB }) => [
      call(base, 'POST', '/v1/om/payments', withKey(a, key), {
        params: { orderId: orderA, type: 'receipt', methodId: a.method, amount: wire(SHARE_MINOR) },
      }),
      call(base, 'POST', '/v1/om/payments', withKey(b, key), {
        params: {
          orderId: orderB,
          type: 'receipt',
          methodId: b.method,
          amount: wire(2 * SHARE_MINOR),
        },
      }),
    ]),
  );
  const ms = performance.now() - started;
  let crossTalk = 0;
  for (let i = 0; i < pairs.length; i++) {
    const ra = replies[2 * i]!;
    const rb = replies[2 * i + 1]!;
    const fresh = (r: Reply) => r.status === 200 && !isReplay(r);
    const countA = await paymentCount(base, a, pairs[i]!.orderA);
    const countB = await paymentCount(base, b, pairs[i]!.orderB);
    if (
      !fresh(ra) ||
      !fresh(rb) ||
      ra.body.data.id === rb.body.data.id ||
      countA !== 1 ||
      countB !== 1
    )
      crossTalk++;
  }
  return {
    figures: [
      exactly('two organizations: keys with cross-talk', crossTalk, 0),
      exactly('two organizations: 5xx', serverErrors(replies), 0),
    ],
    info: { keys, requests: replies.length, ms: Math.round(ms), counts: tally(replies) },
  };
}

/** (e) A stored 400 (LIMIT_REACHED) replays as that 400 after the order's total was raised. */
async function storedRefusal(
  base: string,
  org: OrgKeys,
  n: number,
): Promise<Part & { recorded: Recorded[] }> {
  const recorded: Recorded[] = [];
  const orders: string[] = [];
  for (let i = 0; i < n; i++) {
    const orderId = await createOrder(base, org);
    orders.push(orderId);
    recorded.push(
      await record(
        base,
        'over the total',
        'POST',
        '/v1/om/payments',
        withKey(org, `over-${orderId}`),
        {
          params: { orderId, type: 'receipt', methodId: org.method, amount: wire(TOTAL_MINOR + 1) },
        },
      ),
    );
    await must(
      call(base, 'PATCH', `/v1/om/orders/${orderId}`, headersFor(org, 'manager'), {
        params: { total: wire(2 * TOTAL_MINOR) },
      }),
      'raise the total',
    );
  }
  const notRefused = recorded.filter(
    (w) => w.first.status !== 400 || w.first.body?.error?.code !== 'LIMIT_REACHED',
  ).length;
  const result = await replayAll([base], recorded, 1, 'sequential');
  let effects = 0;
  for (const orderId of orders) effects += await paymentCount(base, org, orderId);
  return {
    recorded,
    figures: [
      exactly('stored 400: first answers not LIMIT_REACHED', notRefused, 0),
      exactly('stored 400: replays not the stored 400', result.differing + result.unmarked, 0),
      exactly('stored 400: effects after the condition changed', effects, 0),
    ],
    info: { keys: n, counts: tally(result.replies), mismatchSamples: result.samples },
  };
}

export const suite = {
  name: 'idempotency',
  async run(profile: Profile): Promise<SuiteResult> {
    const started = performance.now();
    const counts = COUNTS[profile];
    const figures: Figure[] = [];
    const info: Record<string, unknown> = { currency: CURRENCY, counts };
    const fx = await fixture();
    const servers: ServerHandle[] = [];
    const tag = `r${Date.now().toString(36)}`;
    try {
      const one = await startServer(fx.testDatabase.url);
      servers.push(one);
      const orgA = await makeOrganization(one.url, fx.rootKey, CURRENCY);
      const orgB = await makeOrganization(one.url, fx.rootKey, CURRENCY);

      const parts: Record<string, Part> = {};
      const raced = await sameKeyRace(
        [one.url],
        orgA,
        counts.keys,
        counts.copies,
        'same key',
        `${tag}-a`,
      );
      parts.sameKey = raced;
      parts.reuse = await reuse(one.url, orgA, counts.reuses);
      const replayed = await replays(one.url, orgA, raced.runs, counts.replays, `${tag}-c`);
      parts.replay = replayed;
      parts.organizations = await acrossOrganizations(one.url, orgA, orgB, counts.orgKeys);
      const refusals = await storedRefusal(one.url, orgA, counts.stored400);
      parts.stored400 = refusals;

      // Two server processes on one database.
      const two = await startServer(fx.testDatabase.url);
      servers.push(two);
      const both = [one.url, two.url];
      parts.sameKey2 = await sameKeyRace(
        both,
        orgA,
        counts.keys,
        counts.copies,
        '2 servers same key',
        `${tag}-f`,
      );
      // One instance of two workers (WORKERS=2): the same key on two processes behind one port.
      const clustered = await startServer(fx.testDatabase.url, { WORKERS: '2' });
      servers.push(clustered);
      parts.sameKeyWorkers = await sameKeyRace(
        [clustered.url],
        orgA,
        counts.keys,
        counts.copies,
        'WORKERS=2 same key',
        `${tag}-w`,
      );
      // What the first server stored, replayed by the second.
      const across = await replayAll(
        [two.url],
        [...replayed.recorded, ...refusals.recorded],
        1,
        'sequential',
      );
      parts.replay2 = {
        figures: [
          exactly('2 servers: replays differing from the stored answer', across.differing, 0),
          exactly('2 servers: replays without idempotent-replayed: true', across.unmarked, 0),
        ],
        info: {
          replays: across.replies.length,
          counts: tally(across.replies),
          mismatchSamples: across.samples,
        },
      };

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
      suite: 'idempotency',
      engine: ENGINE,
      profile,
      durationMs: Math.round(performance.now() - started),
      figures,
      info,
    };
  },
};
