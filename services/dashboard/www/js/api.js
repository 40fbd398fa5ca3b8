// api.js — the JSON API client (/api/v1). Sends the session's CSRF token (from /me or
// /login) as X-CSRF-Token on every state-changing call; turns the API's error answers
// ({"error": {"status", "message"}}) into ApiError; a 401 anywhere but at login sends the
// user back to the login page.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

const state = {
  csrf: null,
  user: null,
  clockOffsetMs: 0, // server time − client time, from the last answer carrying server_time
  onUnauthorized: null,
};

export function session() {
  return state;
}

export function setSession(user, csrf) {
  state.user = user;
  state.csrf = csrf;
}

export function onUnauthorized(fn) {
  state.onUnauthorized = fn;
}

// Records server_time − the client's clock at the middle of the request.
export function noteServerTime(serverTime, sentAt, receivedAt) {
  const ms = Date.parse(String(serverTime).replace(/(\.\d{3})\d+/, '$1'));
  if (!Number.isNaN(ms)) state.clockOffsetMs = ms - (sentAt + receivedAt) / 2;
}

// Query string from an object, leaving out empty values.
export function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

// api('GET', '/orders', null, {query}) → {status, data}; throws ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined && body !== null) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
  const url = `/api/v1${path}${opts.query ? qs(opts.query) : ''}`;
  const sentAt = Date.now();
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, e.message || String(e), null);
  }
  const receivedAt = Date.now();
  let data = null;
  const ct = r.headers.get('Content-Type') || '';
  if (r.status !== 204) {
    const raw = await r.text();
    if (ct.includes('json') && raw) {
      try {
        data = JSON.parse(raw);
      } catch (e) {
        data = null;
      }
    } else {
      data = raw;
    }
  }
  if (data && typeof data === 'object' && data.server_time) {
    noteServerTime(data.server_time, sentAt, receivedAt);
  }
  if (r.status === 401 && !opts.noRedirect) {
    state.user = null;
    state.csrf = null;
    if (state.onUnauthorized) state.onUnauthorized();
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : null;
    const msg = err && err.message ? err.message : `HTTP ${r.status}`;
    throw new ApiError(r.status, msg, data);
  }
  return { status: r.status, data };
}

export const get = (path, query, opts) => api('GET', path, null, { ...opts, query });
export const post = (path, body, opts) => api('POST', path, body || {}, opts);
