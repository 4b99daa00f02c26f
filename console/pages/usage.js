// Usage per tenant: the last 30 UTC days from `GET /admin/tenants/{id}/usage` (§9), as two
// charts (requests; prompt and completion tokens) and a table. Days without traffic are
// shown as zero; rows for several models on one day are added together.

import * as api from '../api.js';
import { h, mount, errorBox, notice } from '../dom.js';
import { barChart } from '../chart.js';

const DAYS = 30;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function lastDays(n) {
  const today = new Date();
  const base = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  return Array.from({ length: n }, (_, i) => isoDay(new Date(base - (n - 1 - i) * 86400000)));
}

const num = (n) => Number(n || 0).toLocaleString('en');

export async function page(view, ctx, id) {
  const scoped = ctx.session.tenantScoped;
  mount(view, h('h1', { text: 'Usage' }), h('p', { class: 'muted', text: 'Loading…' }));
  const tenants = scoped ? [{ id: ctx.session.me.tenant_id, name: ctx.session.me.tenant_id }] : await api.get('/admin/tenants?include_inactive=true&limit=1000');
  if (tenants.length === 0 || !tenants[0].id) {
    mount(view, h('h1', { text: 'Usage' }), notice('There are no tenants yet.'));
    return;
  }
  const tenantId = id || tenants[0].id;
  const select = h('select', { id: 'usage-tenant', name: 'tenant' }, tenants.map((t) => h('option', { value: t.id, text: t.id })));
  select.value = tenantId;
  select.addEventListener('change', () => ctx.navigate(`#/usage/${encodeURIComponent(select.value)}`));
  const body = h('div', { id: 'usage-body' }, h('p', { class: 'muted', text: 'Loading usage…' }));
  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', { text: 'Usage' }), h('label', { class: 'inline' }, 'Tenant ', select)),
    body,
  );
  const days = lastDays(DAYS);
  let usage;
  try {
    usage = await api.get(`/admin/tenants/${api.seg(tenantId)}/usage${api.query({ from: days[0], to: days[DAYS - 1] })}`);
  } catch (error) {
    if (error.status === 404) {
      mount(
        body,
        h(
          'div',
          { class: 'notice', id: 'usage-unavailable', role: 'status' },
          h('p', { text: `Usage is not available for ${tenantId}: ${error.detail}` }),
          h('p', { class: 'muted', text: 'This gateway may not meter usage yet.' }),
        ),
      );
      return;
    }
    mount(body, errorBox(error));
    return;
  }
  const byDay = new Map(days.map((d) => [d, { requests: 0, chat_requests: 0, retrievals: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }]));
  for (const row of usage.days || []) {
    const slot = byDay.get(String(row.day).slice(0, 10));
    if (!slot) continue;
    for (const k of Object.keys(slot)) slot[k] += Number(row[k] || 0);
  }
  const column = (k) => days.map((d) => byDay.get(d)[k]);
  const totals = usage.totals || {};
  mount(
    body,
    h(
      'div',
      { class: 'totals', id: 'usage-totals' },
      [
        ['requests', totals.requests],
        ['chat requests', totals.chat_requests],
        ['retrievals', totals.retrievals],
        ['prompt tokens', totals.prompt_tokens],
        ['completion tokens', totals.completion_tokens],
        ['total tokens', totals.total_tokens],
      ].map(([label, value]) => h('div', { class: 'total' }, h('strong', { text: num(value) }), h('span', { text: label }))),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', { text: `Requests per day, ${days[0]} to ${days[DAYS - 1]} (UTC)` }),
      barChart({ id: 'chart-requests', title: 'Requests per day', labels: days, series: [{ name: 'requests', class: 's1', values: column('requests') }] }),
      h('h2', { text: 'Tokens per day' }),
      barChart({
        id: 'chart-tokens',
        title: 'Tokens per day',
        labels: days,
        series: [
          { name: 'prompt tokens', class: 's2', values: column('prompt_tokens') },
          { name: 'completion tokens', class: 's3', values: column('completion_tokens') },
        ],
      }),
      h(
        'p',
        { class: 'legend' },
        h('span', { class: 'swatch s1' }),
        ' requests ',
        h('span', { class: 'swatch s2' }),
        ' prompt tokens ',
        h('span', { class: 'swatch s3' }),
        ' completion tokens',
      ),
    ),
    h(
      'table',
      { class: 'table numbers', id: 'usage-table' },
      h('thead', {}, h('tr', {}, ['day', 'requests', 'chat', 'retrievals', 'prompt tokens', 'completion tokens', 'total tokens'].map((t) => h('th', { text: t })))),
      h(
        'tbody',
        {},
        [...days].reverse().map((d) => {
          const r = byDay.get(d);
          return h(
            'tr',
            { 'data-day': d, class: r.requests || r.total_tokens ? null : 'quiet' },
            h('td', { text: d }),
            ['requests', 'chat_requests', 'retrievals', 'prompt_tokens', 'completion_tokens', 'total_tokens'].map((k) => h('td', { text: num(r[k]) })),
          );
        }),
      ),
    ),
  );
}
