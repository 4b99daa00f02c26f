// The audit log (`GET /admin/audit`), newest first, filtered by tenant and limited in count.
// Entries name changed fields only, never values.

import * as api from '../api.js';
import { h, mount, errorBox, when, field, showFieldErrors } from '../dom.js';
import * as v from '../validate.js';

function params() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

export async function page(view, ctx) {
  const p = params();
  const scoped = ctx.session.tenantScoped;
  const tenantId = scoped ? ctx.session.me.tenant_id || '' : p.get('tenant_id') || '';
  const limitValue = p.get('limit') || '100';
  const tenant = h('input', { name: 'tenant_id', value: tenantId, placeholder: 'all tenants', disabled: scoped, autocomplete: 'off' });
  const limit = h('input', { name: 'limit', type: 'number', min: 1, max: 1000, value: limitValue });
  const results = h('div', { id: 'audit-results' }, h('p', { class: 'muted', text: 'Loading…' }));
  const form = h(
    'form',
    { class: 'inline-form', id: 'audit-filters', novalidate: true },
    field('Tenant', tenant),
    field('Limit', limit, '1–1000'),
    h('button', { type: 'submit', text: 'Filter' }),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const errors = v.collect([
      ['tenant_id', tenant.value && v.tenantId(tenant.value)],
      ['limit', v.limit(limit.value)],
    ]);
    if (!showFieldErrors(form, errors)) return;
    ctx.navigate(`#/audit${api.query({ tenant_id: scoped ? '' : tenant.value, limit: limit.value })}`);
  });
  mount(view, h('div', { class: 'page-head' }, h('h1', { text: 'Audit log' })), form, results);
  if (v.limit(limitValue)) {
    mount(results, errorBox({ detail: `limit: ${v.limit(limitValue)}` }));
    return;
  }
  try {
    const entries = await api.get(`/admin/audit${api.query({ tenant_id: tenantId, limit: limitValue })}`);
    mount(
      results,
      h(
        'table',
        { class: 'table', id: 'audit-table' },
        h('thead', {}, h('tr', {}, ['at', 'actor', 'action', 'target', 'tenant', 'changed fields', 'request id'].map((t) => h('th', { text: t })))),
        h(
          'tbody',
          {},
          entries.length === 0
            ? h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No entries.' }))
            : entries.map((e) =>
                h(
                  'tr',
                  { 'data-action': e.action },
                  h('td', { text: when(e.at) }),
                  h('td', {}, h('code', { text: e.actor })),
                  h('td', { text: e.action }),
                  h('td', {}, h('code', { text: e.target })),
                  h('td', { text: e.tenant_id || '—' }),
                  h('td', { text: (e.changed_fields || []).join(', ') || '—' }),
                  h('td', {}, h('code', { class: 'small', text: e.request_id || '—' })),
                ),
              ),
        ),
      ),
    );
  } catch (error) {
    mount(results, errorBox(error));
  }
}
