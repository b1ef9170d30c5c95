// The back-office console (API.md §10). Preact + htm, no build step. Text from the API is
// always inserted as text (htm/Preact create text nodes; nothing here sets HTML).
import { html, render, useCallback, useEffect, useState } from '/console/vendor/standalone.mjs';
import { api, ApiError, clearSession, loadSession, saveSession } from '/console/api.js';
import {
  formatDateTime,
  formatDay,
  formatMoney,
  formatNumber,
  localDate,
  nextDate,
  startOfDay,
} from '/console/format.js';
import { errorText, text } from '/console/texts.js';

const LANG_KEY = 'om-console-lang';

function initialLang() {
  const saved = localStorage.getItem(LANG_KEY);
  return saved === 'ar' || saved === 'en' ? saved : 'en';
}

function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = () => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Arabic-Indic digits and the Arabic decimal separator, as a JSON number's text. */
function parseAmount(value) {
  const latin = value
    .trim()
    .replace(/[٠-٩]/g, (d) => String(d.charCodeAt(0) - 0x0660))
    .replace(/[۰-۹]/g, (d) => String(d.charCodeAt(0) - 0x06f0))
    .replace('٫', '.');
  return /^\d+(\.\d+)?$/.test(latin) ? Number(latin) : Number.NaN;
}

// ---- shared pieces -------------------------------------------------------------------------

function ErrorSummary({ t, lang, error }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : 'INTERNAL';
  const field = error instanceof ApiError ? error.details?.field : undefined;
  return html`<div class="error-summary" role="alert" tabindex="-1">
    <h2>${t('errorTitle')}</h2>
    <p>${errorText(lang, code)}</p>
    ${field ? html`<p class="muted">${t('field', { field })}</p>` : null}
    ${error.requestId ? html`<p class="muted mono">requestId: ${error.requestId}</p>` : null}
  </div>`;
}

function Status({ value, t }) {
  return html`<span class=${`badge badge-${value}`}>${t(value)}</span>`;
}

function Money({ ctx, amount }) {
  return html`<span class="money">${formatMoney(ctx.lang, ctx.org.currency, amount)}</span>`;
}

// ---- sign-in -------------------------------------------------------------------------------

function SignIn({ t, lang, onSignedIn }) {
  const [apiKey, setApiKey] = useState('');
  const [organizationId, setOrganizationId] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const session = { apiKey: apiKey.trim(), organizationId: organizationId.trim() };
    try {
      const { data } = await api(session, 'GET', '/organization');
      saveSession(session);
      onSignedIn(session, data.organization);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin" id="main">
    <form class="card" onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">${t('signInTitle')}</h1>
      <p class="muted">${t('signInHint')}</p>
      <${ErrorSummary} t=${t} lang=${lang} error=${error} />
      <div class="field">
        <label for="api-key">${t('apiKey')}</label>
        <input
          id="api-key"
          type="password"
          autocomplete="off"
          required
          value=${apiKey}
          onInput=${(e) => setApiKey(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for="organization-id">${t('organization')}</label>
        <input
          id="organization-id"
          type="text"
          autocomplete="off"
          spellcheck="false"
          required
          value=${organizationId}
          onInput=${(e) => setOrganizationId(e.currentTarget.value)}
        />
      </div>
      <button type="submit" class="primary" disabled=${busy}>${t('signIn')}</button>
    </form>
  </main>`;
}

// ---- orders --------------------------------------------------------------------------------

function OrdersPage({ ctx }) {
  const { t } = ctx;
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState({ status: '', search: '' });
  const [cursors, setCursors] = useState([undefined]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let live = true;
    (async () => {
      setError(null);
      const term = applied.search.trim();
      const base = { status: applied.status, limit: 20, cursor: cursors.at(-1) };
      try {
        let result;
        if (term === '') result = await api(ctx.session, 'GET', '/orders', { query: base });
        else {
          // A number may be an order number or an external reference: both are asked.
          const byNumber = /^\d{1,15}$/.test(term)
            ? await api(ctx.session, 'GET', '/orders', { query: { ...base, number: term } })
            : { data: { items: [] } };
          const byRef = await api(ctx.session, 'GET', '/orders', {
            query: { ...base, externalRef: term },
          });
          const seen = new Set();
          const items = [...byNumber.data.items, ...byRef.data.items].filter(
            (o) => !seen.has(o.id) && seen.add(o.id),
          );
          result = { data: { items, next: null } };
        }
        if (live) setPage(result.data);
      } catch (e) {
        if (live) setError(e);
      }
    })();
    return () => {
      live = false;
    };
  }, [applied, cursors, ctx.session]);

  const find = (event) => {
    event.preventDefault();
    setCursors([undefined]);
    setApplied({ status, search });
  };
  const clear = () => {
    setStatus('');
    setSearch('');
    setCursors([undefined]);
    setApplied({ status: '', search: '' });
  };
  return html`<section aria-labelledby="orders-title">
    <h1 id="orders-title">${t('orders')}</h1>
    <form class="filters" onSubmit=${find} role="search">
      <div class="field">
        <label for="order-status">${t('status')}</label>
        <select
          id="order-status"
          value=${status}
          onChange=${(e) => setStatus(e.currentTarget.value)}
        >
          <option value="">${t('statusAll')}</option>
          <option value="open">${t('open')}</option>
          <option value="closed">${t('closed')}</option>
          <option value="canceled">${t('canceled')}</option>
        </select>
      </div>
      <div class="field grow">
        <label for="order-search">${t('search')}</label>
        <input
          id="order-search"
          type="search"
          maxlength="128"
          value=${search}
          onInput=${(e) => setSearch(e.currentTarget.value)}
        />
      </div>
      <div class="field-buttons">
        <button type="submit" class="primary">${t('find')}</button>
        <button type="button" onClick=${clear}>${t('clear')}</button>
      </div>
    </form>
    <${ErrorSummary} t=${t} lang=${ctx.lang} error=${error} />
    ${
      page === null
        ? html`<p class="muted" role="status">${t('loading')}</p>`
        : page.items.length === 0
          ? html`<p class="empty" role="status">${t('noOrders')}</p>`
          : html`<div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">${t('number')}</th>
                    <th scope="col">${t('status')}</th>
                    <th scope="col">${t('externalRef')}</th>
                    <th scope="col" class="num">${t('total')}</th>
                    <th scope="col" class="num">${t('paid')}</th>
                    <th scope="col" class="num">${t('balance')}</th>
                    <th scope="col">${t('created')}</th>
                  </tr>
                </thead>
                <tbody>
                  ${page.items.map(
                    (o) =>
                      html`<tr key=${o.id}>
                        <td>
                          <a href=${`#/orders/${encodeURIComponent(o.id)}`}
                            >${t('order')} #${o.number}</a
                          >
                        </td>
                        <td><${Status} value=${o.status} t=${t} /></td>
                        <td class="ref">${o.externalRef ?? '—'}</td>
                        <td class="num"><${Money} ctx=${ctx} amount=${o.total} /></td>
                        <td class="num"><${Money} ctx=${ctx} amount=${o.paidAmount} /></td>
                        <td class="num"><${Money} ctx=${ctx} amount=${o.balanceDue} /></td>
                        <td>${formatDateTime(ctx.lang, ctx.org.settings.timeZone, o.createdAt)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
    }
    <nav class="pager" aria-label=${t('orders')}>
      ${
        cursors.length > 1
          ? html`<button type="button" onClick=${() => setCursors([undefined])}>
              ${t('firstPage')}
            </button>`
          : null
      }
      ${
        page?.next
          ? html`<button type="button" onClick=${() => setCursors([...cursors, page.next])}>
              ${t('nextPage')}
            </button>`
          : null
      }
    </nav>
  </section>`;
}

function methodName(ctx, methods, id) {
  if (!id) return ctx.t('noMethod');
  const method = methods.find((m) => m.id === id);
  if (!method) return id;
  return method.locales[ctx.lang]?.name ?? method.locales.en.name;
}

function AmountForm({ ctx, label, id, onSubmit, onCancel }) {
  const [value, setValue] = useState('');
  const submit = (event) => {
    event.preventDefault();
    onSubmit(parseAmount(value));
  };
  return html`<form class="inline-form" onSubmit=${submit}>
    <label for=${id}>${label}</label>
    <input
      id=${id}
      type="text"
      inputmode="decimal"
      autocomplete="off"
      required
      value=${value}
      onInput=${(e) => setValue(e.currentTarget.value)}
    />
    <button type="submit" class="primary">${ctx.t('send')}</button>
    <button type="button" onClick=${onCancel}>${ctx.t('cancel')}</button>
  </form>`;
}

function History({ ctx, paymentId }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(ctx.session, 'GET', `/payments/${encodeURIComponent(paymentId)}/history`)
      .then(({ data }) => setItems(data.items))
      .catch(setError);
  }, [paymentId]);
  if (error) return html`<${ErrorSummary} t=${ctx.t} lang=${ctx.lang} error=${error} />`;
  if (items === null) return html`<p class="muted">${ctx.t('loading')}</p>`;
  return html`<div class="history">
    <h3>${ctx.t('historyOf')}</h3>
    <ol>
      ${items.map((e) => {
        // Sentences built as strings: whitespace between template parts is not kept.
        const meta = ` · ${formatDateTime(ctx.lang, ctx.org.settings.timeZone, e.createdAt)} · ${ctx.t('by')} ${e.by} · ${ctx.t('via')} ${e.via}`;
        const changes = Object.entries(e.changes ?? {}).map(
          ([field, c]) =>
            `${field}: ${JSON.stringify(c?.before ?? null)} → ${JSON.stringify(c?.after ?? null)}`,
        );
        return html`<li key=${e.id}>
          <span class="mono">${e.type}</span><span class="muted">${meta}</span>
          ${
            changes.length > 0
              ? html`<ul class="changes">
                  ${changes.map((line) => html`<li key=${line}>${line}</li>`)}
                </ul>`
              : null
          }
        </li>`;
      })}
    </ol>
  </div>`;
}

const ACTIONS = ['confirm', 'refund', 'reverse', 'delete', 'correct'];

function PaymentRow({ ctx, payment, methods, onAction }) {
  const { t } = ctx;
  const [form, setForm] = useState(null);
  const [showHistory, setShowHistory] = useState(false);
  const actions = ACTIONS.filter((a) => payment.can.includes(a));
  const act = (action, amount) => {
    setForm(null);
    onAction(action, payment, amount);
  };
  const label = `${t(payment.type)} ${formatMoney(ctx.lang, ctx.org.currency, payment.amount)} ${t(payment.status)}`;
  return html`<tr aria-label=${label}>
    <td>${t(payment.type)}</td>
    <td><${Status} value=${payment.status} t=${t} /></td>
    <td>${methodName(ctx, methods, payment.methodUid)}</td>
    <td class="num"><${Money} ctx=${ctx} amount=${payment.amount} /></td>
    <td class="num">
      ${
        payment.type === 'receipt' && payment.refundableAmount !== undefined
          ? html`<${Money} ctx=${ctx} amount=${payment.refundableAmount} />`
          : '—'
      }
    </td>
    <td>${formatDateTime(ctx.lang, ctx.org.settings.timeZone, payment.createdAt)}</td>
    <td class="actions">
      <div class="button-row">
        ${actions.map((a) =>
          a === 'refund' || a === 'correct'
            ? html`<button
                type="button"
                aria-expanded=${form === a}
                onClick=${() => setForm(form === a ? null : a)}
              >
                ${t(a)}
              </button>`
            : html`<button
                type="button"
                class=${a === 'confirm' ? 'primary' : a === 'delete' || a === 'reverse' ? 'danger' : ''}
                onClick=${() => act(a)}
              >
                ${t(a)}
              </button>`,
        )}
        <button
          type="button"
          class="link"
          aria-expanded=${showHistory}
          onClick=${() => setShowHistory(!showHistory)}
        >
          ${showHistory ? t('hideHistory') : t('history')}
        </button>
      </div>
      ${
        form
          ? html`<${AmountForm}
              ctx=${ctx}
              id=${`${form}-${payment.id}`}
              label=${form === 'refund' ? t('refundAmount') : t('correctedAmount')}
              onSubmit=${(amount) => act(form, amount)}
              onCancel=${() => setForm(null)}
            />`
          : null
      }
      ${showHistory ? html`<${History} ctx=${ctx} paymentId=${payment.id} />` : null}
    </td>
  </tr>`;
}

function OrderPage({ ctx, id }) {
  const { t } = ctx;
  const [order, setOrder] = useState(null);
  const [warnings, setWarnings] = useState([]);
  const [payments, setPayments] = useState(null);
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState(null);

  const load = useCallback(async () => {
    try {
      const [o, p] = await Promise.all([
        api(ctx.session, 'GET', `/orders/${encodeURIComponent(id)}`),
        api(ctx.session, 'GET', `/orders/${encodeURIComponent(id)}/payments`),
      ]);
      setOrder(o.data.order);
      setWarnings(o.warnings);
      setPayments(p.data);
    } catch (e) {
      setError(e);
    }
  }, [id, ctx.session]);
  useEffect(() => {
    load();
  }, [load]);

  const onAction = async (action, payment, amount) => {
    setError(null);
    setNotice(null);
    const path = `/payments/${encodeURIComponent(payment.id)}`;
    try {
      let result;
      if (action === 'confirm') result = await api(ctx.session, 'PATCH', `${path}/confirm`);
      else if (action === 'reverse')
        result = await api(ctx.session, 'PATCH', path, { params: { status: 'reversed' } });
      else if (action === 'delete') result = await api(ctx.session, 'DELETE', path);
      else if (action === 'correct')
        result = await api(ctx.session, 'PATCH', path, { params: { amount, correction: true } });
      else if (action === 'refund')
        result = await api(ctx.session, 'POST', '/payments', {
          // Money handed back at the counter: recorded as complete at once (API.md §3.5).
          params: {
            orderId: order.id,
            type: 'refund',
            sourcePaymentId: payment.id,
            amount,
            status: 'complete',
          },
        });
      setNotice([t('done'), ...result.warnings.map((w) => w.code)].join(' '));
      await load();
    } catch (e) {
      setError(e);
    }
  };

  if (order === null)
    return html`<section>
      <a href="#/orders">${t('backToOrders')}</a>
      ${error ? html`<${ErrorSummary} t=${t} lang=${ctx.lang} error=${error} />` : html`<p class="muted">${t('loading')}</p>`}
    </section>`;
  const figures = [
    ['total', order.total],
    ['paid', order.paidAmount],
    ['refunded', order.refundedAmount],
    ['pendingAmount', order.pendingAmount],
    ['balance', order.balanceDue],
  ];
  return html`<section aria-labelledby="order-title">
    <a href="#/orders" class="back">${t('backToOrders')}</a>
    <div class="title-row">
      <h1 id="order-title">${t('order')} #${order.number}</h1>
      <${Status} value=${order.status} t=${t} />
    </div>
    <p class="muted">
      ${`${t('externalRef')}: `}<span class="ref">${order.externalRef ?? '—'}</span>
      ${` · ${t('created')}: ${formatDateTime(ctx.lang, ctx.org.settings.timeZone, order.createdAt)}`}
    </p>
    <dl class="figures">
      ${figures.map(
        ([key, amount]) =>
          html`<div class=${`figure figure-${key}`} key=${key}>
            <dt>${t(key)}</dt>
            <dd data-figure=${key}><${Money} ctx=${ctx} amount=${amount} /></dd>
          </div>`,
      )}
    </dl>
    ${
      warnings.length > 0
        ? html`<div class="warnings" role="note">
            <h2>${t('warnings')}</h2>
            <ul>
              ${warnings.map((w) => html`<li key=${w.code}><span class="mono">${w.code}</span> ${w.message}</li>`)}
            </ul>
          </div>`
        : null
    }
    <div aria-live="polite">
      ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    </div>
    <${ErrorSummary} t=${t} lang=${ctx.lang} error=${error} />
    <h2>${t('payments')}</h2>
    ${
      payments.items.length === 0
        ? html`<p class="empty">${t('noPayments')}</p>`
        : html`<div class="table-wrap">
            <table class="payments">
              <thead>
                <tr>
                  <th scope="col">${t('type')}</th>
                  <th scope="col">${t('status')}</th>
                  <th scope="col">${t('method')}</th>
                  <th scope="col" class="num">${t('amount')}</th>
                  <th scope="col" class="num">${t('refundable')}</th>
                  <th scope="col">${t('created')}</th>
                  <th scope="col">${t('actions')}</th>
                </tr>
              </thead>
              <tbody>
                ${payments.items.map(
                  (p) =>
                    html`<${PaymentRow}
                      key=${p.id}
                      ctx=${ctx}
                      payment=${p}
                      methods=${payments.paymentMethods}
                      onAction=${onAction}
                    />`,
                )}
              </tbody>
            </table>
          </div>`
    }
  </section>`;
}

// ---- day's takings -------------------------------------------------------------------------

function BarChart({ ctx, rows }) {
  const width = 640;
  const barHeight = 28;
  const gap = 12;
  const labelWidth = 150;
  const max = Math.max(...rows.map((r) => Math.abs(r.value)), 1);
  const height = rows.length * (barHeight + gap) + gap;
  const rtl = ctx.lang === 'ar';
  const plot = width - labelWidth - 130;
  return html`<figure class="chart">
    <figcaption>${ctx.t('chartTitle')}</figcaption>
    <svg
      viewBox=${`0 0 ${width} ${height}`}
      role="img"
      aria-label=${ctx.t('chartTitle')}
      preserveAspectRatio="xMinYMin meet"
    >
      ${rows.map((r, i) => {
        const y = gap + i * (barHeight + gap);
        const w = Math.max(2, (Math.abs(r.value) / max) * plot);
        const x = rtl ? width - labelWidth - w : labelWidth;
        const labelX = rtl ? width - 8 : 8;
        const valueX = rtl ? x - 8 : x + w + 8;
        return html`<g key=${r.key}>
          <text
            x=${labelX}
            y=${y + barHeight / 2}
            dominant-baseline="middle"
            text-anchor=${rtl ? 'end' : 'start'}
            class="chart-label"
            >${r.label}</text
          >
          <rect
            x=${x}
            y=${y}
            width=${w}
            height=${barHeight}
            rx="4"
            class=${r.value < 0 ? 'bar bar-negative' : 'bar'}
          />
          <text
            x=${valueX}
            y=${y + barHeight / 2}
            dominant-baseline="middle"
            text-anchor=${rtl ? 'end' : 'start'}
            class="chart-value"
            >${formatMoney(ctx.lang, ctx.org.currency, r.value)}</text
          >
        </g>`;
      })}
    </svg>
  </figure>`;
}

function TakingsPage({ ctx }) {
  const { t } = ctx;
  const zone = ctx.org.settings.timeZone;
  const [day, setDay] = useState(() => localDate(Date.now(), zone));
  const [shown, setShown] = useState(day);
  const [report, setReport] = useState(null);
  const [methods, setMethods] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(ctx.session, 'GET', '/payment-methods', { query: { limit: 100 } })
      .then(({ data }) => setMethods(data.items))
      .catch(() => setMethods([]));
  }, [ctx.session]);
  useEffect(() => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(shown)) return;
    setError(null);
    setReport(null);
    const from = new Date(startOfDay(shown, zone)).toISOString();
    const to = new Date(startOfDay(nextDate(shown), zone)).toISOString();
    api(ctx.session, 'GET', '/reports/payments-summary', {
      query: { from, to, timeZone: zone, groupBy: 'method' },
    })
      .then(({ data }) => setReport(data))
      .catch(setError);
  }, [shown, zone, ctx.session]);
  const submit = (event) => {
    event.preventDefault();
    setShown(day);
  };
  const fig = (f) =>
    html` <td class="num">${formatNumber(ctx.lang, f.receipts.count)}</td>
      <td class="num"><${Money} ctx=${ctx} amount=${f.receipts.amount} /></td>
      <td class="num">${formatNumber(ctx.lang, f.refunds.count)}</td>
      <td class="num"><${Money} ctx=${ctx} amount=${f.refunds.amount} /></td>
      <td class="num strong"><${Money} ctx=${ctx} amount=${f.net} /></td>
      <td class="num">${formatNumber(ctx.lang, f.pending.count)}</td>
      <td class="num"><${Money} ctx=${ctx} amount=${f.pending.amount} /></td>`;
  return html`<section aria-labelledby="takings-title">
    <h1 id="takings-title">${t('takings')}</h1>
    <form class="filters" onSubmit=${submit}>
      <div class="field">
        <label for="takings-day">${t('day')}</label>
        <input
          id="takings-day"
          type="date"
          required
          value=${day}
          onInput=${(e) => setDay(e.currentTarget.value)}
        />
      </div>
      <div class="field-buttons"><button type="submit" class="primary">${t('show')}</button></div>
    </form>
    <p class="muted">${formatDay(ctx.lang, zone, shown)} · ${t('timeZoneNote', { zone })}</p>
    <${ErrorSummary} t=${t} lang=${ctx.lang} error=${error} />
    ${
      report === null
        ? error
          ? null
          : html`<p class="muted" role="status">${t('loading')}</p>`
        : report.groups.length === 0
          ? html`<p class="empty" role="status">${t('noTakings')}</p>`
          : html` <${BarChart}
                ctx=${ctx}
                rows=${report.groups.map((g) => ({
                  key: g.methodId ?? 'none',
                  label: methodName(ctx, methods, g.methodId),
                  value: g.net,
                }))}
              />
              <div class="table-wrap">
                <table class="takings">
                  <thead>
                    <tr>
                      <th scope="col">${t('method')}</th>
                      <th scope="col" class="num">${t('receipts')} · ${t('count')}</th>
                      <th scope="col" class="num">${t('receipts')}</th>
                      <th scope="col" class="num">${t('refunds')} · ${t('count')}</th>
                      <th scope="col" class="num">${t('refunds')}</th>
                      <th scope="col" class="num">${t('net')}</th>
                      <th scope="col" class="num">${t('pending')} · ${t('count')}</th>
                      <th scope="col" class="num">${t('pending')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${report.groups.map(
                      (g) =>
                        html`<tr key=${g.methodId ?? 'none'}>
                          <th scope="row">${methodName(ctx, methods, g.methodId)}</th>
                          ${fig(g)}
                        </tr>`,
                    )}
                  </tbody>
                  <tfoot>
                    <tr>
                      <th scope="row">${t('totals')}</th>
                      ${fig(report.totals)}
                    </tr>
                  </tfoot>
                </table>
              </div>`
    }
  </section>`;
}

// ---- webhooks ------------------------------------------------------------------------------

function Deliveries({ ctx, endpointId }) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api(ctx.session, 'GET', `/webhook-endpoints/${encodeURIComponent(endpointId)}/deliveries`, {
      query: { limit: 20 },
    })
      .then(({ data }) => setItems(data.items))
      .catch(setError);
  }, [endpointId]);
  const { t } = ctx;
  if (error) return html`<${ErrorSummary} t=${t} lang=${ctx.lang} error=${error} />`;
  if (items === null) return html`<p class="muted">${t('loading')}</p>`;
  if (items.length === 0) return html`<p class="empty">${t('noDeliveries')}</p>`;
  return html`<table class="deliveries">
    <thead>
      <tr>
        <th scope="col">${t('event')}</th>
        <th scope="col">${t('status')}</th>
        <th scope="col" class="num">${t('attempts')}</th>
        <th scope="col">${t('lastAttempt')}</th>
        <th scope="col">${t('lastStatus')}</th>
      </tr>
    </thead>
    <tbody>
      ${items.map(
        (d) =>
          html`<tr key=${d.id}>
            <td class="mono">${d.eventType}</td>
            <td><span class=${`badge badge-${d.status}`}>${d.status}</span></td>
            <td class="num">${formatNumber(ctx.lang, d.attempts)}</td>
            <td>${formatDateTime(ctx.lang, ctx.org.settings.timeZone, d.lastAttemptAt)}</td>
            <td>${d.lastStatusCode ?? d.lastError ?? '—'}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function WebhooksPage({ ctx }) {
  const { t } = ctx;
  const [state, setState] = useState({ loading: true });
  const [open, setOpen] = useState(null);
  useEffect(() => {
    api(ctx.session, 'GET', '/webhook-endpoints', { query: { limit: 100 } })
      .then(({ data }) => setState({ items: data.items }))
      .catch((error) =>
        // Until the service has webhook endpoints (API.md §7.2) the path is not found.
        setState(error.status === 404 ? { unavailable: true } : { error }),
      );
  }, [ctx.session]);
  return html`<section aria-labelledby="webhooks-title">
    <h1 id="webhooks-title">${t('webhooks')}</h1>
    ${state.loading ? html`<p class="muted" role="status">${t('loading')}</p>` : null}
    ${state.unavailable ? html`<p class="empty" role="status">${t('webhooksUnavailable')}</p>` : null}
    ${state.error ? html`<${ErrorSummary} t=${t} lang=${ctx.lang} error=${state.error} />` : null}
    ${state.items && state.items.length === 0 ? html`<p class="empty">${t('noEndpoints')}</p>` : null}
    ${state.items?.map(
      (e) =>
        html`<article class="card endpoint" key=${e.id}>
          <div class="title-row">
            <h2 class="mono url">${e.url}</h2>
            <span class=${`badge ${e.enabled ? 'badge-complete' : 'badge-canceled'}`}
              >${e.enabled ? t('enabled') : t('disabled')}</span
            >
          </div>
          ${e.description ? html`<p>${e.description}</p>` : null}
          <p class="muted">
            ${t('events')}:
            ${e.events && e.events.length > 0 ? e.events.join(', ') : t('allEvents')}
          </p>
          <button
            type="button"
            aria-expanded=${open === e.id}
            onClick=${() => setOpen(open === e.id ? null : e.id)}
          >
            ${open === e.id ? t('hideDeliveries') : t('deliveries')}
          </button>
          ${open === e.id ? html`<${Deliveries} ctx=${ctx} endpointId=${e.id} />` : null}
        </article>`,
    )}
  </section>`;
}

// ---- the shell -----------------------------------------------------------------------------

function App() {
  const [lang, setLang] = useState(initialLang);
  const [session, setSession] = useState(loadSession);
  const [org, setOrg] = useState(null);
  const [bootError, setBootError] = useState(null);
  const route = useRoute();
  const t = useCallback((key, values) => text(lang, key, values), [lang]);

  useEffect(() => {
    document.documentElement.lang = lang;
    document.documentElement.dir = lang === 'ar' ? 'rtl' : 'ltr';
    document.title = text(lang, 'appName');
    localStorage.setItem(LANG_KEY, lang);
  }, [lang]);

  useEffect(() => {
    if (session === null || org !== null) return;
    api(session, 'GET', '/organization')
      .then(({ data }) => setOrg(data.organization))
      .catch((e) => {
        if (e.status === 401 || e.status === 403) {
          clearSession();
          setSession(null);
        }
        setBootError(e);
      });
  }, [session, org]);

  const signOut = () => {
    clearSession();
    setSession(null);
    setOrg(null);
    location.hash = '';
  };
  const toggle = html`<button
    type="button"
    class="lang"
    lang=${lang === 'ar' ? 'en' : 'ar'}
    onClick=${() => setLang(lang === 'ar' ? 'en' : 'ar')}
  >
    ${t('switchLanguage')}
  </button>`;

  if (session === null || org === null) {
    return html`<header class="topbar"><span class="brand">${t('appName')}</span>${toggle}</header>
      ${
        session === null
          ? html`<${SignIn}
              t=${t}
              lang=${lang}
              onSignedIn=${(s, o) => {
                setSession(s);
                setOrg(o);
                if (!location.hash) location.hash = '#/orders';
              }}
            />`
          : html`<main class="signin">
              <${ErrorSummary} t=${t} lang=${lang} error=${bootError} />
              ${bootError ? null : html`<p class="muted">${t('loading')}</p>`}
            </main>`
      }`;
  }
  const ctx = { lang, t, session, org };
  const [section, id] = route;
  const page =
    section === 'orders' && id
      ? html`<${OrderPage} ctx=${ctx} id=${decodeURIComponent(id)} key=${id} />`
      : section === 'takings'
        ? html`<${TakingsPage} ctx=${ctx} />`
        : section === 'webhooks'
          ? html`<${WebhooksPage} ctx=${ctx} />`
          : html`<${OrdersPage} ctx=${ctx} />`;
  const current = section === 'takings' || section === 'webhooks' ? section : 'orders';
  const nav = [
    ['orders', 'navOrders'],
    ['takings', 'navTakings'],
    ['webhooks', 'navWebhooks'],
  ];
  return html`<header class="topbar">
      <span class="brand">${t('appName')}</span>
      <nav aria-label=${t('appName')} class="nav">
        ${nav.map(
          ([key, label]) =>
            html`<a
              href=${`#/${key}`}
              key=${key}
              aria-current=${current === key ? 'page' : undefined}
              >${t(label)}</a
            >`,
        )}
      </nav>
      <span class="org" title=${org.id}>${org.name} · ${org.currency}</span>
      ${toggle}
      <button type="button" class="link" onClick=${signOut}>${t('signOut')}</button>
    </header>
    <main id="main" class="content">${page}</main>`;
}

render(html`<${App} />`, document.getElementById('app'));
