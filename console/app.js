// The console's entry point: the login form, the session (who is logged in and what their
// role allows), the navigation and a hash router (#/tenants, #/tenants/ID, #/users, #/usage,
// #/audit). Every page is a module under pages/ that renders into the element it is given,
// using only the public admin API (api.js).

import * as api from './api.js';
import { h, mount, errorBox, notice, field } from './dom.js';
import * as tenants from './pages/tenants.js';
import * as users from './pages/users.js';
import * as usage from './pages/usage.js';
import * as audit from './pages/audit.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logoutButton = document.getElementById('logout');

let session = null;

/** What the logged-in person may do, from `GET /auth/me` (§10 roles). */
function makeSession(me) {
  // Before organizations and roles, `/auth/me` has only `is_superuser`.
  const role = me.role || (me.is_superuser ? 'superuser' : 'member');
  return {
    me,
    role,
    permissions: Array.isArray(me.permissions) ? me.permissions : null,
    // Whether the gateway knows roles at all (user JSON with `role`).
    hasRoles: typeof me.role === 'string',
    isSuperuser: role === 'superuser',
    canAdminister: role === 'superuser' || role === 'org_admin' || role === 'tenant_admin',
    // Tenant admins administer their own tenant only: no create, no deactivate, and only
    // `name` and `system_prompt` may change.
    tenantScoped: role === 'tenant_admin',
  };
}

function navItems(s) {
  if (!s.canAdminister) return [];
  const tenantsItem = s.tenantScoped
    ? ['Tenant', `#/tenants/${encodeURIComponent(s.me.tenant_id || '')}`, 'tenants']
    : ['Tenants', '#/tenants', 'tenants'];
  return [tenantsItem, ['Users', '#/users', 'users'], ['Usage', '#/usage', 'usage'], ['Audit log', '#/audit', 'audit']];
}

function renderChrome() {
  const loggedIn = session !== null;
  nav.hidden = !loggedIn;
  who.hidden = !loggedIn;
  logoutButton.hidden = !loggedIn;
  if (!loggedIn) {
    nav.replaceChildren();
    who.textContent = '';
    return;
  }
  const current = location.hash.split('?')[0].split('/')[1] || 'tenants';
  mount(
    nav,
    navItems(session).map(([label, href, key]) =>
      h('a', {
        href,
        class: key === current ? 'active' : null,
        'data-nav': key,
        text: label,
        // The page the person is on: clicking its link again reloads it.
        onclick: (event) => {
          if (location.hash === href) {
            event.preventDefault();
            route();
          }
        },
      }),
    ),
  );
  who.textContent = `${session.me.email} · ${session.role.replace('_', ' ')}`;
}

function endSession(message) {
  session = null;
  api.logout();
  renderChrome();
  showLogin(message);
}

function showLogin(message) {
  const email = h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'status' });
  const submit = h('button', { type: 'submit', text: 'Log in' });
  const form = h(
    'form',
    { class: 'card login', id: 'login-form', novalidate: true },
    h('h1', { text: 'Log in' }),
    h('p', { class: 'muted', text: 'Superusers, organization admins and tenant admins manage the gateway here.' }),
    message ? notice(message) : null,
    field('Email', email),
    field('Password', password),
    submit,
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!email.value.trim() || !password.value) {
      mount(status, errorBox({ detail: 'Enter your email and password.' }));
      return;
    }
    submit.disabled = true;
    mount(status, h('p', { class: 'muted', text: 'Logging in…' }));
    try {
      await api.login(email.value.trim(), password.value);
      const me = await api.get('/auth/me');
      session = makeSession(me);
      password.value = '';
      if (!location.hash || location.hash === '#' || location.hash === '#/') {
        location.hash = session.tenantScoped ? `#/tenants/${encodeURIComponent(me.tenant_id || '')}` : '#/tenants';
      }
      route();
    } catch (error) {
      api.logout();
      mount(status, errorBox(error));
      submit.disabled = false;
    }
  });
  mount(main, form);
  email.focus();
}

const ctx = {
  get session() {
    return session;
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

function route() {
  renderChrome();
  if (!session) {
    showLogin();
    return;
  }
  if (!session.canAdminister) {
    mount(
      main,
      h(
        'div',
        { class: 'card' },
        h('h1', { text: 'No administration rights' }),
        h('p', { text: 'Your account can use the API but cannot administer tenants. Ask a superuser for a role.' }),
      ),
    );
    return;
  }
  const [path] = location.hash.split('?');
  const [, page = 'tenants', arg] = path.split('/');
  const id = arg ? decodeURIComponent(arg) : null;
  const view = h('div', { class: 'page' });
  mount(main, view);
  const pages = {
    tenants: () => (id ? tenants.detail(view, ctx, id) : tenants.list(view, ctx)),
    users: () => users.list(view, ctx),
    usage: () => usage.page(view, ctx, id),
    audit: () => audit.page(view, ctx),
  };
  const render = pages[page];
  if (!render) {
    mount(view, errorBox({ detail: 'There is no such page.' }));
    return;
  }
  Promise.resolve(render()).catch((error) => mount(view, errorBox(error)));
}

api.setSessionEndHandler(endSession);
logoutButton.addEventListener('click', () => endSession('You have logged out.'));
window.addEventListener('hashchange', route);
route();
