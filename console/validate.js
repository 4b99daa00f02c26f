// The API's own validation rules, checked before sending so that a person sees the same
// sentence the gateway would answer (src/domain.rs, src/services/*.rs). The gateway checks
// again; these only save a round trip.

export const TENANT_ID_MESSAGE =
  'must be 1-64 characters of A-Z a-z 0-9 _ - . starting with a letter or digit';
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const MAX_NAME = 200;
export const MAX_PROMPT = 32000;
export const MAX_SETTING = 512;
export const MIN_PASSWORD = 8;

const chars = (s) => [...s].length;

export function tenantId(value) {
  return TENANT_ID.test(value) ? null : TENANT_ID_MESSAGE;
}

export function name(value) {
  const v = value.trim();
  if (!v) return 'must not be empty';
  if (chars(v) > MAX_NAME) return `must be at most ${MAX_NAME} characters`;
  return null;
}

export function prompt(value) {
  return chars(value) > MAX_PROMPT ? `must be at most ${MAX_PROMPT} characters` : null;
}

export function setting(fieldName, value) {
  if (!value) return null;
  if (chars(value) > MAX_SETTING) return `must be at most ${MAX_SETTING} characters`;
  if (fieldName === 'pinecone_index_host') {
    const candidate = value.includes('://') ? value : `https://${value}`;
    try {
      const u = new URL(candidate);
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.hostname) return null;
    } catch {
      // falls through
    }
    return 'must be a host name or an http(s) URL';
  }
  return null;
}

export function email(value) {
  const e = value.trim();
  const at = e.indexOf('@');
  const local = at > 0 ? e.slice(0, at) : '';
  const domain = at >= 0 ? e.slice(at + 1) : '';
  const ok =
    e.length <= 254 &&
    at >= 0 &&
    local.length > 0 &&
    domain.length > 0 &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !/\s/.test(e) &&
    !domain.includes('@');
  return ok ? null : 'must be an email address such as admin@example.com';
}

export function password(value) {
  return chars(value) < MIN_PASSWORD ? `must be at least ${MIN_PASSWORD} characters` : null;
}

export function limit(value) {
  if (value === '') return null;
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? null : 'must be between 1 and 1000';
}

/** Runs `checks` ([field, message|null]) and returns the failures as API-style field errors. */
export function collect(checks) {
  return checks.filter(([, m]) => m).map(([field, message]) => ({ field, message }));
}
