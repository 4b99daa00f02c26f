// A tiny element builder. Text always goes in as text nodes (never parsed as HTML), so a
// tenant name or an audit entry cannot inject markup; and no `style` attribute is ever set,
// because the Content-Security-Policy forbids inline styles.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = Boolean(value);
    else if (key === 'style') throw new Error('inline styles are not allowed by the CSP');
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === 'text') el.textContent = value;
    else if (key === 'style') throw new Error('inline styles are not allowed by the CSP');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** An error box showing the API's `detail` (and each field's message for a 422). */
export function errorBox(error) {
  const box = h('div', { class: 'error', role: 'alert' }, h('p', { text: error.detail || String(error.message || error) }));
  if (error.errors && error.errors.length > 1) {
    box.append(h('ul', {}, error.errors.map((e) => h('li', { text: `${e.field}: ${e.message}` }))));
  }
  return box;
}

export function notice(text) {
  return h('div', { class: 'notice', role: 'status', text });
}

/** RFC 3339 in UTC as "2026-12-01 12:49 UTC"; "—" for null. */
export function when(value) {
  if (!value) return '—';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id, text: label }),
    input,
    hint ? h('small', { class: 'hint', text: hint }) : null,
    h('small', { class: 'field-error', 'data-for': input.name || '' }),
  );
}

/** Shows per-field messages next to the inputs of `form`; returns true when there were none. */
export function showFieldErrors(form, errors) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const { field: name, message } of errors) {
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
    if (input) input.setAttribute('aria-invalid', 'true');
    if (slot) slot.textContent = message;
  }
  return errors.length === 0;
}
