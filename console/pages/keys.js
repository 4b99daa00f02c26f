// A tenant's API keys: the list (prefixes only), creating one (its key shown once, with a
// copy button and a warning) and revoking one.

import * as api from '../api.js';
import { h, mount, errorBox, notice, when, field, showFieldErrors } from '../dom.js';
import * as v from '../validate.js';

function keyState(key) {
  if (key.revoked_at) return h('span', { class: 'badge off', text: 'revoked' });
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return h('span', { class: 'badge off', text: 'expired' });
  return h('span', { class: 'badge ok', text: 'active' });
}

export async function section(container, ctx, tenantId, message, created) {
  mount(container, h('h2', { text: 'API keys' }), h('p', { class: 'muted', text: 'Loading keys…' }));
  const keys = await api.get(`/admin/tenants/${api.seg(tenantId)}/api-keys`);
  const status = h('div', { class: 'status' });
  const rerender = (msg, made) => section(container, ctx, tenantId, msg, made).catch((e) => mount(status, errorBox(e)));
  mount(
    container,
    h('h2', { text: 'API keys' }),
    h('p', { class: 'muted', text: 'For server-to-server calls: send it as X-API-Key or Authorization: Bearer.' }),
    created ? shownOnce(created) : null,
    message ? notice(message) : null,
    h(
      'table',
      { class: 'table', id: 'keys-table' },
      h('thead', {}, h('tr', {}, ['name', 'prefix', 'created', 'expires', 'last used', 'status', ''].map((t) => h('th', { text: t })))),
      h(
        'tbody',
        {},
        keys.length === 0
          ? h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No API keys.' }))
          : keys.map((key) =>
              h(
                'tr',
                { 'data-key': key.id },
                h('td', { text: key.name }),
                h('td', {}, h('code', { text: key.prefix })),
                h('td', { text: when(key.created_at) }),
                h('td', { text: key.expires_at ? when(key.expires_at) : 'never' }),
                h('td', { text: when(key.last_used_at) }),
                h('td', {}, keyState(key)),
                h('td', {}, key.revoked_at ? null : revokeControl(tenantId, key, status, rerender)),
              ),
            ),
      ),
    ),
    createForm(tenantId, status, rerender),
    status,
  );
}

function shownOnce(created) {
  const input = h('input', { id: 'new-key', class: 'secret', readonly: true, value: created.key, autocomplete: 'off', spellcheck: 'false' });
  const copied = h('span', { class: 'muted', role: 'status' });
  const copy = h('button', { type: 'button', id: 'copy-key', text: 'Copy' });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      copied.textContent = 'Copied.';
    } catch {
      input.select();
      copied.textContent = document.execCommand('copy') ? 'Copied.' : 'Select the key and copy it by hand.';
    }
  });
  return h(
    'div',
    { class: 'shown-once', id: 'created-key' },
    h('p', { class: 'warning', text: `This is the only time the key “${created.name}” is shown. Copy it now and keep it somewhere safe: the gateway stores only a hash and cannot show it again.` }),
    h('div', { class: 'copy-row' }, input, copy, copied),
  );
}

function revokeControl(tenantId, key, status, rerender) {
  const cell = h('span', { class: 'revoke' });
  const ask = h('button', { type: 'button', class: 'danger small', 'data-revoke': key.id, text: 'Revoke' });
  ask.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: 'danger small', 'data-confirm-revoke': key.id, text: 'Yes, revoke' });
    const no = h('button', { type: 'button', class: 'secondary small', text: 'Cancel' });
    no.addEventListener('click', () => mount(cell, ask));
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await api.del(`/admin/tenants/${api.seg(tenantId)}/api-keys/${api.seg(key.id)}`);
        rerender(`Key ${key.prefix} revoked: it stops working on every replica within a second.`);
      } catch (error) {
        mount(status, errorBox(error));
        yes.disabled = false;
      }
    });
    mount(cell, h('span', { text: 'Revoke this key? ' }), yes, no);
  });
  mount(cell, ask);
  return cell;
}

function createForm(tenantId, status, rerender) {
  const name = h('input', { name: 'name', autocomplete: 'off', placeholder: 'ingest-worker' });
  const days = h('input', { name: 'expires_at', type: 'number', min: 1, max: 3650, placeholder: 'never' });
  const form = h(
    'form',
    { class: 'inline-form', id: 'create-key', novalidate: true },
    field('Key name', name),
    field('Expires in days', days, 'Empty: never'),
    h('button', { type: 'submit', text: 'Create key' }),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const n = days.value === '' ? null : Number(days.value);
    const errors = v.collect([
      ['name', v.name(name.value)],
      ['expires_at', n === null || (Number.isInteger(n) && n >= 1 && n <= 3650) ? null : 'must be a whole number of days from 1 to 3650'],
    ]);
    if (!showFieldErrors(form, errors)) return;
    const body = { name: name.value.trim() };
    if (n !== null) body.expires_at = new Date(Date.now() + n * 86400000).toISOString();
    try {
      const created = await api.post(`/admin/tenants/${api.seg(tenantId)}/api-keys`, body);
      rerender(null, created);
    } catch (error) {
      showFieldErrors(form, error.errors);
      mount(status, errorBox(error));
    }
  });
  return form;
}
