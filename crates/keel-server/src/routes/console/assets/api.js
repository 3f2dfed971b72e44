// Keel's public API, as the console calls it: the session (token + signed-in record), JSON
// requests with their errors, and query strings.

const KEY = 'keel_console_auth';

/** The signed-in caller: `{token, record, collection}` or null. */
export const session = {
  current: load(),
  set(value) {
    this.current = value;
    if (value) localStorage.setItem(KEY, JSON.stringify(value));
    else localStorage.removeItem(KEY);
  },
  /** Seconds until the token expires (negative once it has). */
  secondsLeft() {
    const claims = this.current && tokenClaims(this.current.token);
    return claims && claims.exp ? claims.exp - Date.now() / 1000 : -1;
  },
  get isSuperuser() {
    return !!this.current && this.current.collection === '_superusers';
  },
};

function load() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || 'null');
    return value && value.token ? value : null;
  } catch {
    return null;
  }
}

export function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

/** An API answer other than 2xx: `status`, the message, and per-field errors in `fields`. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The request failed (${status}).`);
    this.status = status;
    this.body = body || {};
    this.fields = (body && body.data && typeof body.data === 'object') ? body.data : {};
  }
  /** The message with each field's error, as one line. */
  get detail() {
    const parts = Object.entries(this.fields)
      .filter(([, v]) => v && typeof v === 'object' && v.message)
      .map(([k, v]) => `${k}: ${v.message}`);
    return parts.length ? `${this.message} ${parts.join('; ')}` : this.message;
  }
}

/** Called when a signed-in request answers 401 (the session ended elsewhere or expired). */
let onExpired = () => {};
export function whenSessionExpires(fn) {
  onExpired = fn;
}

/**
 * One request. `body` is JSON unless it is FormData, or text sent as `opts.contentType`;
 * `opts.raw` returns the Response.
 * Rejects with an ApiError (or a TypeError-based one when Keel is unreachable).
 */
export async function api(method, path, body, opts = {}) {
  const headers = {};
  if (session.current && !opts.anonymous) headers.Authorization = session.current.token;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (typeof body === 'string' && opts.contentType) {
    headers['Content-Type'] = opts.contentType;
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, signal: opts.signal });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, { message: 'Keel cannot be reached. Check that it is running, then try again.' });
  }
  if (opts.raw && response.ok) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text.slice(0, 200) };
  }
  if (!response.ok) {
    const err = new ApiError(response.status, json);
    if (response.status === 401 && headers.Authorization && !opts.noExpiry) onExpired(err);
    throw err;
  }
  return json;
}

export const get = (path, query, opts) => api('GET', path + qs(query), undefined, opts);
export const post = (path, body, opts) => api('POST', path, body, opts);
export const patch = (path, body, opts) => api('PATCH', path, body, opts);
export const del = (path, opts) => api('DELETE', path, undefined, opts);

/** `?a=1&b=2` from an object, leaving out empty values; '' when nothing is left. */
export function qs(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** A path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);

/** Quotes a value for PocketBase's filter syntax. */
export function quote(value) {
  return `"${String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
