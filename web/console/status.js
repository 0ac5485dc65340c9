// Status: this relay (version, uptime, connections, database) and the peers it has seen, with
// whether each is connected, when it was last seen, from where, and by which path.
import * as api from './api.js';
import { $, busy, clear, describe, el, shortId, time } from './ui.js';

export function init() {
  // load() shows its own errors.
  $('status-refresh').addEventListener('click',
                                      (event) => busy(event.currentTarget, load).catch(() => {}));
}

export async function show() {
  await load();
}

function duration(seconds) {
  const s = Number(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function bytes(n) {
  if (n == null) return '—';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u += 1; }
  return u === 0 ? `${v} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

function fact(list, term, ...value) {
  list.append(el('dt', {}, term), el('dd', {}, ...value));
}

async function load() {
  let s;
  try {
    s = await api.get('/status');
  } catch (error) {
    $('status-when').textContent = `Cannot read the status: ${describe(error)}`;
    throw error;
  }
  $('status-when').textContent = `As of ${new Date().toLocaleTimeString()}.`;
  const facts = clear($('status-relay'));
  const r = s.relay;
  if (r) {
    const db = r.database || {};
    fact(facts, 'Version', r.version);
    fact(facts, 'Running since', time(r.started_ms), ` (${duration(r.uptime_s)})`);
    fact(facts, 'Relay device', el('code', { class: 'wrap' }, r.device));
    fact(facts, 'Relay card', el('code', { class: 'wrap' }, r.card));
    fact(facts, 'Connections', String(r.connections));
    fact(facts, 'Workspaces', String(r.workspaces));
    fact(facts, 'Stored deltas', String(r.stored_deltas));
    fact(facts, 'Database', db.ok
      ? el('span', { class: 'badge yes' }, 'Reachable')
      : el('span', { class: 'badge no' }, 'Unreachable'),
    db.ok && db.latency_seconds != null
      ? ` ${(Number(db.latency_seconds) * 1000).toFixed(1)} ms` : '',
    !db.ok && db.error ? ` ${db.error}` : '');
  } else {
    fact(facts, 'Relay', 'This console runs without a relay.');
  }
  fact(facts, 'Stored by all relays', bytes(s.stored_bytes));
  const cdb = s.console_database || {};
  fact(facts, 'Console database', cdb.ok ? el('span', { class: 'badge yes' }, 'Reachable')
    : el('span', { class: 'badge no' }, 'Unreachable'), cdb.error ? ` ${cdb.error}` : '');

  const peers = s.peers || [];
  const connected = peers.filter((p) => p.connected).length;
  $('peers-summary').textContent = peers.length === 0 ? 'No peer has connected yet.'
    : `${peers.length} seen, ${connected} connected now.`;
  const body = clear($('peers-table').tBodies[0]);
  for (const p of peers) {
    body.append(el('tr', { 'data-device': p.device, 'data-connected': String(p.connected) },
      el('td', {}, p.name),
      el('td', {}, shortId(p.device)),
      el('td', {}, el('span', { class: `badge ${p.connected ? 'yes' : 'no'}` },
                      p.connected ? 'Connected' : 'Not connected')),
      el('td', {}, time(p.last_seen_ms)),
      el('td', {}, el('code', {}, p.address)),
      el('td', {}, p.path)));
  }
}
