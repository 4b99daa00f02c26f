// Users: the list, creating one (email, password, tenant, role) and changing a user's role,
// tenant or active state. With organizations and roles (§10) the role is one of
// superuser | org_admin | tenant_admin | member, limited by the caller's own role; before
// that, the only choice is superuser or not.

import * as api from '../api.js';
import { h, mount, errorBox, notice, when, field, showFieldErrors } from '../dom.js';
import * as v from '../validate.js';

const ROLES_ALLOWED = {
  superuser: ['member', 'tenant_admin', 'org_admin', 'superuser'],
  org_admin: ['member', 'tenant_admin', 'org_admin'],
  tenant_admin: ['member', 'tenant_admin'],
};

function roleOf(user) {
  return user.role || (user.is_superuser ? 'superuser' : 'member');
}

function roleSelect(ctx, value) {
  const allowed = ROLES_ALLOWED[ctx.session.role] || [];
  const select = h('select', { name: 'role' }, allowed.map((r) => h('option', { value: r, text: r.replace('_', ' ') })));
  select.value = allowed.includes(value) ? value : 'member';
  return select;
}

function tenantSelect(ctx, tenants, value) {
  if (ctx.session.tenantScoped) {
    const own = ctx.session.me.tenant_id || '';
    return h('select', { name: 'tenant_id', disabled: true }, h('option', { value: own, text: own }));
  }
  const select = h(
    'select',
    { name: 'tenant_id' },
    h('option', { value: '', text: '(no tenant)' }),
    tenants.map((t) => h('option', { value: t.id, text: `${t.id} — ${t.name}` })),
  );
  select.value = value || '';
  return select;
}

/** The role part of a create/update body: `role` when the gateway has roles, else `is_superuser`. */
function roleBody(ctx, role) {
  return ctx.session.hasRoles ? { role } : { is_superuser: role === 'superuser' };
}

export async function list(view, ctx, message) {
  mount(view, h('h1', { text: 'Users' }), h('p', { class: 'muted', text: 'Loading users…' }));
  const scoped = ctx.session.tenantScoped;
  const [users, tenants] = await Promise.all([
    api.get(`/admin/users${api.query({ limit: 1000, tenant_id: scoped ? ctx.session.me.tenant_id : '' })}`),
    scoped ? Promise.resolve([]) : api.get('/admin/tenants?include_inactive=true&limit=1000'),
  ]);
  const status = h('div', { class: 'status' });
  const again = (msg) => list(view, ctx, msg).catch((e) => mount(status, errorBox(e)));
  mount(
    view,
    h('div', { class: 'page-head' }, h('h1', { text: 'Users' }), h('span', { class: 'muted', text: `${users.length} in all` })),
    message ? notice(message) : null,
    createForm(ctx, tenants, again),
    h(
      'table',
      { class: 'table', id: 'users-table' },
      h('thead', {}, h('tr', {}, ['email', 'tenant', 'role', 'status', 'created', ''].map((t) => h('th', { text: t })))),
      h(
        'tbody',
        {},
        users.length === 0
          ? h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No users.' }))
          : users.map((u) => userRow(ctx, u, tenants, status, again)),
      ),
    ),
    status,
  );
}

function userRow(ctx, user, tenants, status, again) {
  const row = h('tr', { 'data-user': user.id });
  const show = () =>
    mount(
      row,
      h('td', { text: user.email }),
      h('td', { text: user.tenant_id || '—' }),
      h('td', { text: roleOf(user).replace('_', ' ') }),
      h('td', {}, h('span', { class: user.is_active ? 'badge ok' : 'badge off', text: user.is_active ? 'active' : 'inactive' })),
      h('td', { text: when(user.created_at) }),
      h('td', { class: 'row-actions' }, editButton(), user.is_active ? deactivateButton() : null),
    );
  const editButton = () => {
    const b = h('button', { type: 'button', class: 'secondary small', text: 'Edit' });
    b.addEventListener('click', edit);
    return b;
  };
  const deactivateButton = () => {
    const b = h('button', { type: 'button', class: 'danger small', text: 'Deactivate' });
    b.addEventListener('click', async () => {
      b.disabled = true;
      try {
        await api.del(`/admin/users/${api.seg(user.id)}`);
        again(`${user.email} deactivated: their tokens stop working.`);
      } catch (error) {
        mount(status, errorBox(error));
        b.disabled = false;
      }
    });
    return b;
  };
  const edit = () => {
    const tenant = tenantSelect(ctx, tenants, user.tenant_id);
    const role = roleSelect(ctx, roleOf(user));
    const active = h('input', { type: 'checkbox', name: 'is_active', checked: user.is_active });
    const save = h('button', { type: 'button', class: 'small', text: 'Save' });
    const cancel = h('button', { type: 'button', class: 'secondary small', text: 'Cancel' });
    cancel.addEventListener('click', show);
    save.addEventListener('click', async () => {
      const body = { ...roleBody(ctx, role.value), is_active: active.checked };
      if (!ctx.session.tenantScoped) body.tenant_id = tenant.value || null;
      try {
        await api.patch(`/admin/users/${api.seg(user.id)}`, body);
        again(`${user.email} updated.`);
      } catch (error) {
        mount(status, errorBox(error));
      }
    });
    mount(
      row,
      h('td', { text: user.email }),
      h('td', {}, tenant),
      h('td', {}, role),
      h('td', {}, h('label', { class: 'check' }, active, ' active')),
      h('td', { text: when(user.created_at) }),
      h('td', { class: 'row-actions' }, save, cancel),
    );
  };
  show();
  return row;
}

function createForm(ctx, tenants, again) {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'off' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
  const tenant = tenantSelect(ctx, tenants, ctx.session.tenantScoped ? ctx.session.me.tenant_id : '');
  const role = roleSelect(ctx, 'member');
  const status = h('div', { class: 'status' });
  const form = h(
    'form',
    { class: 'card', id: 'create-user', novalidate: true },
    h('h2', { text: 'New user' }),
    h(
      'div',
      { class: 'grid' },
      field('Email', email),
      field('Password', password, `At least ${v.MIN_PASSWORD} characters`),
      field('Tenant', tenant),
      field('Role', role),
    ),
    h('button', { type: 'submit', text: 'Create user' }),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const errors = v.collect([
      ['email', v.email(email.value)],
      ['password', v.password(password.value)],
    ]);
    if (!showFieldErrors(form, errors)) {
      mount(status, errorBox({ detail: 'Please correct the highlighted fields.' }));
      return;
    }
    const body = { email: email.value.trim(), password: password.value, ...roleBody(ctx, role.value) };
    if (tenant.value) body.tenant_id = tenant.value;
    try {
      const user = await api.post('/admin/users', body);
      password.value = '';
      again(`User ${user.email} created.`);
    } catch (error) {
      showFieldErrors(form, error.errors);
      mount(status, errorBox(error));
    }
  });
  return form;
}
