// The peer's local API (/api/v1, schemas/openapi.yaml) with the session cookie: every request but
// GET carries the session's CSRF token. A 401 on any call means the session ended.
let csrf = '';
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || '';
    this.field = error?.field || '';
    this.rule = error?.rule || '';
  }
}

export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

// For callers that use fetch directly (the event stream): the peer answered 401, so the session
// is gone (signed out elsewhere, expired, or the peer restarted and forgot it).
export function sessionEnded() {
  onSignedOut();
}

export async function api(method, path, body, { raw = false, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin' };
  if (method !== 'GET' && csrf) init.headers['X-Grove-CSRF'] = csrf;
  if (body instanceof Blob) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (error) {
    throw new ApiError(0, { code: 'unavailable', message: `the peer does not answer (${error.message})` });
  }
  if (response.status === 401 && !path.startsWith('/sessions')) onSignedOut();
  if (!response.ok) {
    let error = null;
    try {
      error = (await response.json()).error;
    } catch {
      // not JSON
    }
    throw new ApiError(response.status, error);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api('GET', path);

// --- sessions ---------------------------------------------------------------------------------

export async function currentSession() {
  try {
    const s = await api('GET', '/sessions/current');
    csrf = s.csrf;
    return s;
  } catch (error) {
    if (error.status === 401 || error.status === 404) return null;
    throw error;
  }
}

export async function signIn(credentials) {
  const s = await api('POST', '/sessions', credentials);
  csrf = s.csrf;
  return s;
}

export async function signOut() {
  try {
    await api('DELETE', '/sessions/current');
  } finally {
    csrf = '';
  }
}

// --- helpers for paths ------------------------------------------------------------------------

export const enc = encodeURIComponent;
export const wsPath = (ws) => `/workspaces/${enc(ws)}`;
export const recordPath = (ws, id) => `${wsPath(ws)}/records/${enc(id)}`;

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// Tools of a workspace, cached (they change only on an upgrade, which sends a workspace event).
const toolCache = new Map();
export async function tools(ws) {
  if (!toolCache.has(ws)) {
    toolCache.set(ws, get(`${wsPath(ws)}/tools`).catch((e) => {
      toolCache.delete(ws);
      throw e;
    }));
  }
  return toolCache.get(ws);
}
export function forgetTools(ws) {
  toolCache.delete(ws);
}

export function findType(toolList, name) {
  for (const tool of toolList || []) {
    for (const type of tool.types) if (type.name === name) return type;
  }
  return null;
}
