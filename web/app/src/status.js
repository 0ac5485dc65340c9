// The peer's status (GET /api/v1/status), shared by the sync badge and the member lists: loaded
// at sign-in, on every `sync` or `workspace` event, and every 5 s while signed in.
import { useEffect, useState } from 'preact/hooks';
import { get } from './api.js';
import { subscribe } from './live.js';

let current = null;
let offlineSince = null;  // when the app first saw no connection (the peer may not say)
let timer = null;
const watchers = new Set();

async function refresh() {
  try {
    current = await get('/status');
    current.fetchedMs = Date.now();
    current.error = null;
  } catch (error) {
    current = { ...(current || {}), error, fetchedMs: Date.now() };
  }
  for (const fn of [...watchers]) fn(current);
}

let unsubscribe = null;
export function startStatus() {
  stopStatus();
  refresh();
  timer = setInterval(refresh, 5000);
  unsubscribe = subscribe((event) => {
    if (event.kind === 'sync' || event.kind === 'workspace' || event.kind === 'reset') refresh();
  });
}

export function stopStatus() {
  clearInterval(timer);
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
}

export function refreshStatus() {
  return refresh();
}

export function useStatus() {
  const [value, setValue] = useState(current);
  useEffect(() => {
    watchers.add(setValue);
    setValue(current);
    return () => watchers.delete(setValue);
  }, []);
  return value;
}

// {state: up_to_date|syncing|offline, pending, offline_since_ms}: the peer's own `sync` when it
// reports one; else worked out from its connections and unsealed actions.
export function syncState(status) {
  if (!status) return { state: 'syncing', pending: 0, offline_since_ms: null };
  if (status.error) {
    return { state: 'offline', pending: 0, offline_since_ms: status.fetchedMs, unreachable: true };
  }
  if (status.sync && status.sync.state) {
    return status.sync;
  }
  // Only workspaces shared with another member have anything to sync.
  const sharedList = (status.workspaces || []).filter((w) => (w.members || []).length > 1);
  const shared = sharedList.length > 0;
  const connected = (status.connections || []).some((c) => c.device);
  const pending = sharedList.reduce((n, w) => n + (w.pending || 0), 0);
  if (shared && !connected) {
    offlineSince = offlineSince || Date.now();
    return { state: 'offline', pending, offline_since_ms: offlineSince };
  }
  offlineSince = null;
  return pending > 0 ? { state: 'syncing', pending } : { state: 'up_to_date', pending: 0 };
}

// device id -> {online, path} for members, from status.connections when the member list does
// not say.
export function presence(status, member) {
  if (member.online !== undefined) return { online: member.online, path: member.path || '' };
  const c = (status?.connections || []).find((x) => x.device === member.device);
  return c ? { online: true, path: c.path, relay: c.relay } : { online: false, path: '' };
}
