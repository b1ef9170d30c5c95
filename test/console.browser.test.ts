// The console (API.md §10) in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the real service listening on loopback, on the engine under test:
// sign in, find an order, confirm a pending receipt, refund part of a payment and see the
// balance change, a payment's history, the day's takings, webhooks, Arabic right-to-left,
// an API error as a sentence, and an order whose externalRef is HTML shown as text.
// With SAVE_SCREENSHOTS=1 the English and Arabic screenshots of the README are written to
// docs/img/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { json, startTestApp, type TestApp, type TestOrg } from './support/app.ts';

const XSS = '<img src=x onerror=alert(1)>';
const SHOTS =
  process.env.SAVE_SCREENSHOTS === '1'
    ? path.resolve('docs/img')
    : fs.mkdtempSync(path.join(os.tmpdir(), 'console-shots-'));

function chromiumPath(): string {
  // `command -v` through the shell: the same lookup .ci/run makes before installing it.
  return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
    encoding: 'utf8',
  }).trim();
}

let t: TestApp;
let base: string;
let browser: Browser;
let org: TestOrg;
const orders: Record<string, { id: string; number: number }> = {};
const dialogs: string[] = [];

async function ok(method: string, url: string, params?: object) {
  const r = await t.call(org, 'admin', {
    method: method as 'GET',
    url,
    ...(params && { payload: { params } }),
  });
  assert.equal(r.statusCode, 200, `${method} ${url}: ${r.body}`);
  return json(r).data;
}

before(async () => {
  t = await startTestApp({ rateLimitPerMinute: 0 });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
  org = await t.createOrg('KWD');
  const named = await t.app.inject({
    method: 'PATCH',
    url: `/v1/admin/organizations/${org.id}`,
    headers: { 'api-key': t.rootKey },
    payload: { params: { name: 'Al Noor Restaurant' } },
  });
  assert.equal(named.statusCode, 200, named.body);
  const cash = (
    await ok('POST', '/v1/om/payment-methods', {
      code: 'cash',
      locales: { ar: { name: 'نقدًا' }, en: { name: 'Cash' } },
    })
  ).id;
  const card = (
    await ok('POST', '/v1/om/payment-methods', {
      code: 'card',
      locales: { ar: { name: 'بطاقة' }, en: { name: 'Card' } },
    })
  ).id;
  const order = async (name: string, params: object) => {
    const { id } = await ok('POST', '/v1/om/orders', params);
    orders[name] = { id, number: (await ok('GET', `/v1/om/orders/${id}`)).order.number };
    return id as string;
  };
  for (let i = 1; i <= 3; i++) {
    const id = await order(`other${i}`, { total: 5 * i, externalRef: `POS-7/${1000 + i}` });
    await ok('POST', '/v1/om/payments', {
      orderId: id,
      type: 'receipt',
      methodId: i % 2 ? cash : card,
      amount: 5 * i,
      status: 'complete',
    });
  }
  await order('xss', { total: 1.5, externalRef: XSS });
  const main = await order('main', { total: 100, externalRef: 'TABLE-12' });
  await ok('POST', '/v1/om/payments', {
    orderId: main,
    type: 'receipt',
    methodId: cash,
    amount: 60,
    status: 'complete',
  });
  await ok('POST', '/v1/om/payments', {
    orderId: main,
    type: 'receipt',
    methodId: card,
    amount: 40,
  });
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await t?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return page;
}

async function signIn(page: Page, key = org.keys.manager) {
  await page.goto(`${base}/console`);
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('Organization').fill(org.id);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Orders' }).waitFor();
}

/** A figure's text, with Intl's no-break spaces as plain ones. */
const figure = async (page: Page, name: string) =>
  (await page.locator(`[data-figure=${name}]`).innerText()).replace(/\s/g, ' ');
const balance = (page: Page) => figure(page, 'balance');
// Functions, not strings: the page's CSP forbids eval, which string predicates need.
const balanceIs = (page: Page, text: string) =>
  page.waitForFunction(
    (expected) =>
      (globalThis as any).document
        .querySelector('[data-figure=balance]')
        ?.textContent.replace(/\s/g, ' ') === expected,
    text,
  );

void test('the console page is served with a strict Content-Security-Policy', async () => {
  const r = await fetch(`${base}/console/`);
  assert.equal(r.status, 200);
  const csp = r.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /default-src 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const page = await r.text();
  assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  // The API and docs keep their own headers.
  const docs = await fetch(`${base}/healthz`);
  assert.equal(docs.headers.get('content-security-policy'), null);
  assert.equal((await fetch(`${base}/console/vendor/standalone.mjs`)).status, 200);
  assert.equal((await fetch(`${base}/console/vendor/standalone.js`)).status, 404);
});

void test('a manager signs in, finds an order, confirms, refunds part and sees the balance change', async () => {
  const page = await newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await signIn(page);
  // Newest first: the main order heads the list.
  await page
    .getByRole('link', { name: `Order #${orders.main!.number}` })
    .first()
    .waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'console-orders-en.png'), fullPage: true });

  await page.getByLabel('Number or external reference').fill('TABLE-12');
  await page.getByRole('button', { name: 'Find' }).click();
  await page
    .getByRole('link', { name: `Order #${orders.other1!.number}` })
    .waitFor({ state: 'detached' });
  await page.getByRole('link', { name: `Order #${orders.main!.number}` }).click();
  await page.getByRole('heading', { name: `Order #${orders.main!.number}` }).waitFor();
  assert.equal(await balance(page), 'KWD 40.000');

  const pending = page.getByRole('row', { name: /Pending/ });
  // Exactly the actions its `can` lists: a manager on a pending receipt.
  assert.deepEqual(await pending.getByRole('button').allInnerTexts(), [
    'Confirm',
    'Delete',
    'History',
  ]);
  await pending.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('status').filter({ hasText: 'Done.' }).waitFor();
  await balanceIs(page, 'KWD 0.000');

  const cashRow = page.getByRole('row', { name: /Receipt KWD 60\.000/ });
  assert.deepEqual(await cashRow.getByRole('button').allInnerTexts(), [
    'Refund',
    'Reverse',
    'Correct',
    'History',
  ]);
  // Too much first: the API's LIMIT_REACHED as a sentence, nothing changed.
  await cashRow.getByRole('button', { name: 'Refund' }).click();
  await cashRow.getByLabel('Refund amount').fill('70');
  await cashRow.getByRole('button', { name: 'Send' }).click();
  await page
    .getByRole('alert')
    .filter({ hasText: 'The amount is more than what is available.' })
    .waitFor();
  assert.equal(await balance(page), 'KWD 0.000');

  await cashRow.getByRole('button', { name: 'Refund' }).click();
  await cashRow.getByLabel('Refund amount').fill('12.5');
  await cashRow.getByRole('button', { name: 'Send' }).click();
  await balanceIs(page, 'KWD 12.500');
  assert.equal(await figure(page, 'refunded'), 'KWD 12.500');
  const refundRow = page.getByRole('row', { name: /Refund KWD 12\.500 Complete/ });
  await refundRow.waitFor();

  await cashRow.getByRole('button', { name: 'History' }).click();
  await cashRow.getByRole('heading', { name: 'History of the payment' }).waitFor();
  await cashRow.getByText('payment.created').waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'console-order-en.png'), fullPage: true });

  // The key stays in this tab's session storage: never a cookie, never in a URL.
  assert.equal(await page.evaluate('document.cookie'), '');
  assert.ok(
    requests.every((u) => !u.includes(org.keys.manager)),
    'no URL carries the key',
  );
  assert.match(
    (await page.evaluate<string | null>(`sessionStorage.getItem('om-console-session')`)) ?? '',
    new RegExp(org.id),
  );
  // Each write carried its own Idempotency-Key: the refunds are two records, not one replay.
  const refunds = await ok('GET', `/v1/om/payments?orderId=${orders.main!.id}&type=refund`);
  assert.equal(refunds.items.length, 1, 'the refused refund left nothing');
  await page.context().close();
});

void test("the day's takings show a chart by method; a manager is told webhooks are the admin's", async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByRole('link', { name: "Day's takings" }).click();
  await page.getByRole('heading', { name: "Day's takings" }).waitFor();
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByRole('img', { name: 'Net takings by method' }).waitFor();
  const cash = page.getByRole('row', { name: /^Cash/ });
  await cash.waitFor();
  assert.match(await page.locator('tfoot').innerText(), /KWD/);
  await page.screenshot({ path: path.join(SHOTS, 'console-takings-en.png'), fullPage: true });

  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhook endpoints' }).waitFor();
  // Webhook endpoints are the admin's (API.md §7.2): a manager is told so in a sentence.
  await page.getByText('This api key may not do that, or may not use this organization.').waitFor();

  // Arabic: right to left, Arabic labels, amounts with Intl in Arabic.
  await page.getByRole('button', { name: 'العربية' }).click();
  await page.waitForFunction(() => (globalThis as any).document.documentElement.dir === 'rtl');
  assert.equal(await page.evaluate('document.documentElement.lang'), 'ar');
  await page.getByRole('link', { name: 'إيرادات اليوم' }).click();
  await page.getByRole('heading', { name: 'إيرادات اليوم' }).waitFor();
  await page.getByLabel('اليوم', { exact: true }).waitFor();
  await page.getByRole('img', { name: 'صافي الإيرادات حسب الطريقة' }).waitFor();
  await page.getByRole('row', { name: /^نقدًا/ }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'console-takings-ar.png'), fullPage: true });
  await page.getByRole('link', { name: 'الطلبات' }).click();
  await page.getByRole('heading', { name: 'الطلبات' }).waitFor();
  await page.getByRole('link', { name: `الطلب #${orders.main!.number}` }).click();
  await page.getByRole('button', { name: 'استرداد' }).first().waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'console-order-ar.png'), fullPage: true });
  await page.context().close();
});

void test('an admin sees the webhook endpoints and their deliveries', async () => {
  // A host that never resolves (RFC 2606): accepted at creation, refused at delivery.
  const url = 'https://hooks.example.invalid/console';
  const created = await t.call(org, 'admin', {
    method: 'POST',
    url: '/v1/om/webhook-endpoints',
    payload: { params: { url, description: 'ERP bookings' } },
  });
  assert.equal(created.statusCode, 200, created.body);
  const page = await newPage();
  await signIn(page, org.keys.admin);
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: url }).waitFor();
  await page.getByText('ERP bookings').waitFor();
  await page.getByRole('button', { name: 'Deliveries' }).click();
  await page.getByRole('button', { name: 'Hide deliveries' }).waitFor();
  await page
    .getByText(/No deliveries yet\.|webhook-endpoint\.created/)
    .first()
    .waitFor();
});

void test('an externalRef of HTML is shown as text and runs nothing', async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByLabel('Number or external reference').fill(XSS);
  await page.getByRole('button', { name: 'Find' }).click();
  const link = page.getByRole('link', { name: `Order #${orders.xss!.number}` });
  await link.waitFor();
  await page.getByText(XSS, { exact: true }).waitFor();
  await link.click();
  await page.getByRole('heading', { name: `Order #${orders.xss!.number}` }).waitFor();
  await page.getByText(XSS, { exact: true }).waitFor();
  assert.equal(await page.locator('main img').count(), 0, 'no element made of the text');
  assert.deepEqual(dialogs, []);
  await page.context().close();
});

void test('a wrong key is refused with a sentence and nothing is kept', async () => {
  const page = await newPage();
  await page.goto(`${base}/console`);
  await page.getByLabel('API key').fill('not-a-key');
  await page.getByLabel('Organization').fill(org.id);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page
    .getByRole('alert')
    .filter({ hasText: 'The api key is not valid. Check it and sign in again.' })
    .waitFor();
  assert.equal(await page.evaluate('sessionStorage.length'), 0);
  // Keyboard: the fields and the button are reachable with Tab, focus is visible.
  await page.getByLabel('API key').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate('document.activeElement?.id'), 'organization-id');
  const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
  assert.equal(outline, 'solid');
  await page.context().close();
});
