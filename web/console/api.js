// The relay's admin REST API (schemas/admin-openapi.yaml) as the console calls it: JSON in and
// out, signed in by the session cookie, with X-Grove-CSRF: 1 on every change as the API requires
// of cookie sessions. A failed call throws an ApiError; before that, 401 (the session ended) and
// 503 (the relay cannot reach its database) are reported to the handlers the app sets.
export const API_ROOT = '/api/v1/admin';

export class ApiError extends Error {
  constructor(status, error) {
    super(error && error.message ? error.message : `the relay answered ${status}`);
    this.status = status;                          // 0: no answer at all
    this.code = (error && error.code) || '';       // "invalid_argument", "account_locked", ...
    this.field = (error && error.field) || '';     // the part of the request at fault
    this.unlocksMs = error && error.unlocks_ms != null ? Number(error.unlocks_ms) : null;
  }
}

const handlers = { unauthorized() {}, unavailable() {}, reachable() {} };

export function setHandlers(given) {
  Object.assign(handlers, given);
}

export async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin',
                 cache: 'no-store' };
  if (method !== 'GET') {
    init.headers['X-Grove-CSRF'] = '1';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(API_ROOT + path, init);
  } catch {
    const error = new ApiError(0, {
      code: 'network',
      message: 'The relay did not answer. Is it running, and is this its admin address?',
    });
    handlers.unavailable(error);
    throw error;
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) {
    handlers.reachable();
    return json || {};
  }
  const error = new ApiError(response.status,
                             json && json.error ? json.error : { message: text.slice(0, 300) });
  if (response.status === 401 && path !== '/login') handlers.unauthorized(error);
  if (response.status === 503) handlers.unavailable(error);
  else handlers.reachable();
  throw error;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
export const put = (path, body) => call('PUT', path, body);

// "?a=1&b=x" from the members of `params` that are set ("" and null are left out).
export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== '' && value != null) q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}
