// Tenants: the list, the creation form, and one tenant's page (edit, deactivate/activate,
// its API keys). The Pinecone API key is write-only: the API only says
// `has_pinecone_api_key`, and the input is never filled from anything the API returns.

import * as api from '../api.js';
import { h, mount, errorBox, notice, when, field, showFieldErrors } from '../dom.js';
import * as v from '../validate.js';
import { section as keysSection } from './keys.js';

const PINECONE_FIELDS = [
  ['pinecone_environment', 'Pinecone environment'],
  ['pinecone_index_name', 'Pinecone index name'],
  ['pinecone_index_host', 'Pinecone index host', 'A host name (https implied) or a full URL'],
  ['pinecone_namespace', 'Pinecone namespace'],
];

function retrieverSelect(value, withDefault) {
  const options = [];
  if (withDefault) options.push(h('option', { value: '', text: 'default (by key)' }));
  for (const kind of ['builtin', 'pinecone', 'none']) {
    options.push(h('option', { value: kind, text: kind, selected: kind === value }));
  }
  const select = h('select', { name: 'retriever' }, options);
  if (value) select.value = value;
  return select;
}

function statusBadge(tenant) {
  return h('span', { class: tenant.is_active ? 'badge ok' : 'badge off', text: tenant.is_active ? 'active' : 'inactive' });
}

export async function list(view, ctx) {
  mount(view, h('h1', { text: 'Tenants' }), h('p', { class: 'muted', text: 'Loading tenants…' }));
  const rows = await api.get('/admin/tenants?include_inactive=true&limit=1000');
  const table = h(
    'table',
    { class: 'table', id: 'tenants-table' },
    h('thead', {}, h('tr', {}, ['id', 'name', 'retriever', 'status', 'Pinecone key', 'updated'].map((t) => h('th', { text: t })))),
    h(
      'tbody',
      {},
      rows.length === 0
        ? h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No tenants yet.' }))
        : rows.map((t) =>
            h(
              'tr',
              { 'data-tenant': t.id },
              h('td', {}, h('a', { href: `#/tenants/${encodeURIComponent(t.id)}`, text: t.id })),
              h('td', { text: t.name }),
              h('td', { text: t.retriever }),
              h('td', {}, statusBadge(t)),
              h('td', { text: t.has_pinecone_api_key ? 'set' : '—' }),
              h('td', { text: when(t.updated_at) }),
            ),
          ),
    ),
  );
  const canCreate = !ctx.session.tenantScoped;
  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', { text: 'Tenants' }), h('span', { class: 'muted', text: `${rows.length} in all` })),
    canCreate ? createForm(ctx) : null,
    table,
  );
}

function createForm(ctx) {
  const inputs = {
    id: h('input', { name: 'id', required: true, maxlength: 64, autocomplete: 'off', placeholder: 'acme' }),
    name: h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'Acme Corp' }),
    retriever: retrieverSelect('', true),
    system_prompt: h('textarea', { name: 'system_prompt', rows: 3 }),
    pinecone_api_key: h('input', { name: 'pinecone_api_key', type: 'password', autocomplete: 'new-password' }),
  };
  for (const [name] of PINECONE_FIELDS) inputs[name] = h('input', { name, autocomplete: 'off' });
  const status = h('div', { class: 'status' });
  const form = h(
    'form',
    { class: 'card', id: 'create-tenant', novalidate: true },
    h('h2', { text: 'New tenant' }),
    h(
      'div',
      { class: 'grid' },
      field('Id', inputs.id, '1–64 of A-Z a-z 0-9 _ - . starting with a letter or digit'),
      field('Name', inputs.name),
      field('Retriever', inputs.retriever),
    ),
    field('System prompt', inputs.system_prompt, 'Empty: the gateway default'),
    h(
      'details',
      {},
      h('summary', { text: 'Pinecone settings' }),
      h(
        'div',
        { class: 'grid' },
        PINECONE_FIELDS.map(([name, label, hint]) => field(label, inputs[name], hint)),
        field('Pinecone API key', inputs.pinecone_api_key, 'Write-only: stored encrypted, never shown again'),
      ),
    ),
    h('button', { type: 'submit', text: 'Create tenant' }),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (k) => inputs[k].value;
    const errors = v.collect([
      ['id', v.tenantId(value('id'))],
      ['name', v.name(value('name'))],
      ['system_prompt', v.prompt(value('system_prompt'))],
      ...PINECONE_FIELDS.map(([k]) => [k, v.setting(k, value(k).trim())]),
    ]);
    if (!showFieldErrors(form, errors)) {
      mount(status, errorBox({ detail: 'Please correct the highlighted fields.' }));
      return;
    }
    const body = { id: value('id'), name: value('name').trim() };
    if (value('retriever')) body.retriever = value('retriever');
    if (value('system_prompt').trim()) body.system_prompt = value('system_prompt');
    for (const [k] of PINECONE_FIELDS) if (value(k).trim()) body[k] = value(k).trim();
    if (value('pinecone_api_key')) body.pinecone_api_key = value('pinecone_api_key');
    try {
      const created = await api.post('/admin/tenants', body);
      inputs.pinecone_api_key.value = '';
      flash = `Tenant ${created.id} created.`;
      ctx.navigate(`#/tenants/${encodeURIComponent(created.id)}`);
    } catch (error) {
      showFieldErrors(form, error.errors);
      mount(status, errorBox(error));
    }
  });
  return form;
}

// A message to show once on the next page (after a create that navigates away).
let flash = null;

export async function detail(view, ctx, id) {
  mount(view, h('h1', { text: `Tenant ${id}` }), h('p', { class: 'muted', text: 'Loading…' }));
  const tenant = await api.get(`/admin/tenants/${api.seg(id)}`);
  const message = flash;
  flash = null;
  renderDetail(view, ctx, tenant, message);
}

function renderDetail(view, ctx, tenant, message) {
  const scoped = ctx.session.tenantScoped;
  const keys = h('section', { class: 'card', id: 'api-keys' });
  mount(
    view,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, `Tenant ${tenant.id} `, statusBadge(tenant)),
      h(
        'span',
        { class: 'links' },
        scoped ? null : h('a', { href: '#/tenants', text: '← all tenants' }),
        h('a', { href: `#/usage/${encodeURIComponent(tenant.id)}`, text: 'usage' }),
        h('a', { href: `#/audit?tenant_id=${encodeURIComponent(tenant.id)}`, text: 'audit log' }),
      ),
    ),
    message ? notice(message) : null,
    editForm(view, ctx, tenant),
    keys,
  );
  keysSection(keys, ctx, tenant.id).catch((error) => mount(keys, h('h2', { text: 'API keys' }), errorBox(error)));
}

function editForm(view, ctx, tenant) {
  const scoped = ctx.session.tenantScoped;
  const inputs = {
    name: h('input', { name: 'name', value: tenant.name, autocomplete: 'off' }),
    system_prompt: h('textarea', { name: 'system_prompt', rows: 5, value: tenant.system_prompt || '' }),
  };
  if (!scoped) {
    inputs.retriever = retrieverSelect(tenant.retriever, false);
    for (const [name] of PINECONE_FIELDS) inputs[name] = h('input', { name, value: tenant[name] || '', autocomplete: 'off' });
    inputs.pinecone_api_key = h('input', { name: 'pinecone_api_key', type: 'password', autocomplete: 'new-password' });
    inputs.clear_key = h('input', { name: 'clear_key', type: 'checkbox' });
  }
  const status = h('div', { class: 'status' });
  const form = h(
    'form',
    { class: 'card', id: 'edit-tenant', novalidate: true },
    h('h2', { text: 'Settings' }),
    h(
      'dl',
      { class: 'facts' },
      h('dt', { text: 'version' }),
      h('dd', { text: String(tenant.version) }),
      h('dt', { text: 'created' }),
      h('dd', { text: when(tenant.created_at) }),
      h('dt', { text: 'updated' }),
      h('dd', { text: when(tenant.updated_at) }),
    ),
    h('div', { class: 'grid' }, field('Name', inputs.name), scoped ? null : field('Retriever', inputs.retriever)),
    field('System prompt', inputs.system_prompt, 'Empty: the gateway default'),
    scoped
      ? null
      : h(
          'fieldset',
          {},
          h('legend', { text: 'Pinecone' }),
          h('div', { class: 'grid' }, PINECONE_FIELDS.map(([name, label, hint]) => field(label, inputs[name], hint))),
          h('p', {
            class: 'key-state',
            id: 'pinecone-key-state',
            text: tenant.has_pinecone_api_key ? 'A Pinecone API key is stored (never shown).' : 'No Pinecone API key is stored.',
          }),
          field(
            tenant.has_pinecone_api_key ? 'Replace the Pinecone API key' : 'Set a Pinecone API key',
            inputs.pinecone_api_key,
            'Write-only; leave empty to keep the current one',
          ),
          tenant.has_pinecone_api_key
            ? h('label', { class: 'check' }, inputs.clear_key, ' Remove the stored key')
            : null,
        ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', text: 'Save changes' }),
      scoped ? null : activeButton(view, ctx, tenant, status),
    ),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const val = (k) => inputs[k].value;
    const checks = [
      ['name', v.name(val('name'))],
      ['system_prompt', v.prompt(val('system_prompt'))],
    ];
    if (!scoped) for (const [k] of PINECONE_FIELDS) checks.push([k, v.setting(k, val(k).trim())]);
    const errors = v.collect(checks);
    if (!showFieldErrors(form, errors)) {
      mount(status, errorBox({ detail: 'Please correct the highlighted fields.' }));
      return;
    }
    // Only what changed is sent: the API keeps absent fields and clears on null.
    const body = {};
    if (val('name').trim() !== tenant.name) body.name = val('name').trim();
    const prompt = val('system_prompt');
    if (prompt !== (tenant.system_prompt || '')) body.system_prompt = prompt.trim() ? prompt : null;
    if (!scoped) {
      if (val('retriever') !== tenant.retriever) body.retriever = val('retriever');
      for (const [k] of PINECONE_FIELDS) {
        const now = val(k).trim();
        if (now !== (tenant[k] || '')) body[k] = now || null;
      }
      if (val('pinecone_api_key')) body.pinecone_api_key = val('pinecone_api_key');
      else if (inputs.clear_key.checked) body.pinecone_api_key = null;
    }
    if (Object.keys(body).length === 0) {
      mount(status, notice('Nothing changed.'));
      return;
    }
    try {
      const updated = await api.patch(`/admin/tenants/${api.seg(tenant.id)}`, body);
      renderDetail(view, ctx, updated, 'Saved.');
    } catch (error) {
      showFieldErrors(form, error.errors);
      mount(status, errorBox(error));
    } finally {
      if (inputs.pinecone_api_key) inputs.pinecone_api_key.value = '';
    }
  });
  return form;
}

function activeButton(view, ctx, tenant, status) {
  const button = h('button', {
    type: 'button',
    id: 'toggle-active',
    class: tenant.is_active ? 'danger' : 'secondary',
    text: tenant.is_active ? 'Deactivate tenant' : 'Activate tenant',
  });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const updated = tenant.is_active
        ? await api.del(`/admin/tenants/${api.seg(tenant.id)}`)
        : await api.patch(`/admin/tenants/${api.seg(tenant.id)}`, { is_active: true });
      renderDetail(view, ctx, updated, updated.is_active ? 'Tenant activated.' : 'Tenant deactivated: its tokens and keys are refused until it is activated again.');
    } catch (error) {
      mount(status, errorBox(error));
      button.disabled = false;
    }
  });
  return button;
}
