// Calls to the gateway's public admin API. The access token lives in this module's memory
// only: never in web storage or a cookie, so a reload (or closing the tab) logs out and no
// other page or script on the origin can read it back later.

let token = null;
let expiryTimer = null;
let onSessionEnd = () => {};

/** An error answered by the gateway, or a failure to reach it. `detail` is for people. */
export class ApiError extends Error {
  constructor(status, body) {
    const detail =
      body && typeof body.detail === 'string' && body.detail
        ? body.detail
        : status === 0
          ? 'The gateway could not be reached. Check the connection and try again.'
          : `The gateway answered with status ${status}.`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.code = (body && body.code) || (status === 0 ? 'network' : 'unknown');
    this.errors = (body && Array.isArray(body.errors) && body.errors) || [];
  }
}

/** Called with a sentence when the session ends by itself (token expired or refused). */
export function setSessionEndHandler(handler) {
  onSessionEnd = handler;
}

export function loggedIn() {
  return token !== null;
}

export function logout() {
  token = null;
  if (expiryTimer !== null) {
    clearTimeout(expiryTimer);
    expiryTimer = null;
  }
}

async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && auth && token) {
      logout();
      onSessionEnd(`Your session has ended (${error.detail}). Log in again.`);
    }
    throw error;
  }
  return data;
}

/** `POST /auth/token`; keeps the token in memory until it expires or the page is left. */
export async function login(email, password) {
  const answer = await request('POST', '/auth/token', { email, password }, { auth: false });
  token = answer.access_token;
  const seconds = Number(answer.expires_in) || 0;
  if (seconds > 0) {
    expiryTimer = setTimeout(() => {
      logout();
      onSessionEnd('Your session has expired. Log in again.');
    }, seconds * 1000);
  }
}

export const get = (path) => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const patch = (path, body) => request('PATCH', path, body);
export const del = (path) => request('DELETE', path);

/** A path segment from a value the person typed or the API returned. */
export const seg = (value) => encodeURIComponent(String(value));

/** A query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
