// Audit: the verification of the whole log against its signed tree heads (GET audit/verify), a
// search form with a page of results at a time (GET audit/entries), and export downloads built
// from the same filters (GET audit/export?format=jsonl|csv). The fields are those of
// docs/audit.md; a 400 names the query parameter at fault, shown next to its field.
import * as api from './api.js';
import { $, busy, clear, describe, el, FieldErrors, shortId, time } from './ui.js';

const FIELDS = {
  workspace: 'audit-workspace', record: 'audit-record', device: 'audit-device',
  user: 'audit-user', op: 'audit-op', kind: 'audit-kind', from: 'audit-from', to: 'audit-to',
};

// The search on screen: its filters, page size, and the `after` of each page shown so far.
let search = null;

export function init() {
  $('verify-run').addEventListener('click', (event) => busy(event.currentTarget, verify));
  const form = $('audit-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const filters = readFilters(true);
    if (!filters) return;
    search = { filters, limit: Number($('audit-limit').value), afters: [null] };
    busy(event.submitter, runPage);
  });
  form.addEventListener('input', updateExports);
  form.addEventListener('change', updateExports);
  form.addEventListener('reset', () => setTimeout(updateExports, 0));
  $('audit-next').addEventListener('click', (event) => {
    search.afters.push(search.next);
    busy(event.currentTarget, runPage);
  });
  $('audit-first').addEventListener('click', (event) => {
    search.afters = [null];
    busy(event.currentTarget, runPage);
  });
  updateExports();
}

export async function show() {
  updateExports();
}

// The form's filters as API query parameters; null (with the error shown) when a time is not
// one. `report` false: no errors shown, bad times left out (for the export links as one types).
function readFilters(report) {
  const errors = new FieldErrors(FIELDS, $('audit-error'));
  if (report) errors.clear();
  const filters = {};
  for (const name of ['workspace', 'record', 'device', 'user', 'op', 'kind']) {
    filters[name] = $(FIELDS[name]).value.trim();
  }
  for (const name of ['from', 'to']) {
    const text = $(FIELDS[name]).value;
    if (!text) continue;
    const ms = new Date(text).getTime();
    if (Number.isNaN(ms)) {
      if (!report) continue;
      errors.show(name, 'Not a date and time.');
      return null;
    }
    filters[name] = ms;
  }
  return filters;
}

function updateExports() {
  const filters = readFilters(false) || {};
  for (const format of ['jsonl', 'csv']) {
    $(`export-${format}`).href = `${api.API_ROOT}/audit/export${api.query({ format, ...filters })}`;
  }
}

async function runPage() {
  const errors = new FieldErrors(FIELDS, $('audit-error'));
  errors.clear();
  const after = search.afters[search.afters.length - 1];
  const summary = $('audit-summary');
  let page;
  try {
    const params = api.query({ ...search.filters, after, limit: search.limit });
    page = await api.get(`/audit/entries${params}`);
  } catch (error) {
    $('audit-table').hidden = true;
    $('audit-next').hidden = true;
    $('audit-first').hidden = true;
    if (error.status === 501) {
      summary.textContent = 'Audit search is not available on this relay yet (it answered: ' +
        `“${error.message}”). On the relay's host, grove audit search --db URL finds the ` +
        'same entries.';
    } else if (error.status === 400 && error.field) {
      summary.textContent = 'No search: a filter is not valid.';
      errors.show(error.field, describe(error));
    } else if (error.status !== 401) {
      summary.textContent = `The search failed: ${describe(error)}`;
    }
    return;
  }
  const entries = page.entries || [];
  search.next = page.next_after ?? null;
  const body = clear($('audit-table').tBodies[0]);
  for (const e of entries) body.append(row(e));
  $('audit-table').hidden = entries.length === 0;
  const pageNumber = search.afters.length;
  if (entries.length === 0) {
    summary.textContent = pageNumber === 1 ? 'No entry matches these filters.' : 'No more entries.';
  } else {
    const count = `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`;
    summary.textContent = `Page ${pageNumber}: ${count}, ` +
      `seq ${entries[0].seq} to ${entries[entries.length - 1].seq}` +
      (search.next != null ? '; more on the next page.' : '; no more after these.');
  }
  $('audit-next').hidden = search.next == null;
  $('audit-first').hidden = pageNumber === 1;
}

function row(e) {
  const received = e.received_at_ms != null ? time(e.received_at_ms) : (e.received_at || '—');
  const user = e.user ?? e.user_name;  // the member's name; for admin actions, the actor
  const who = el('td', {}, user || '—');
  if (e.device && e.device !== user) who.append(el('br'), shortId(e.device));
  return el('tr', { 'data-seq': String(e.seq), 'data-op': e.op || '' },
    el('td', {}, String(e.seq)),
    el('td', {}, received),
    el('td', {}, e.pruned ? `${e.kind} (pruned)` : e.kind),
    el('td', {}, e.workspace ? shortId(e.workspace) : '—'),
    who,
    el('td', {}, e.op || '—'),
    el('td', { class: 'value' }, e.record || '—'),
    el('td', {}, e.field || ''),
    el('td', { class: 'value' }, e.old_value || ''),
    el('td', { class: 'value' }, e.new_value || ''));
}

async function verify() {
  const box = $('verify-result');
  box.className = 'result';
  clear(box);
  box.hidden = false;
  box.append(el('p', {}, 'Verifying…'));
  let r;
  try {
    r = await api.get('/audit/verify');
  } catch (error) {
    clear(box);
    if (error.status === 401) {
      box.hidden = true;
      return;
    }
    box.classList.add('bad');
    box.append(el('p', { class: 'verdict' }, error.status === 404
      ? 'There is no audit log in this database yet.'
      : 'The verification could not run.'), el('p', {}, describe(error)));
    return;
  }
  clear(box);
  box.classList.add(r.ok ? 'ok' : 'bad');
  box.append(el('p', { class: 'verdict' }, r.ok
    ? `✓ The audit log verifies: ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'}.`
    : `✗ The audit log does not verify${r.bad_seq != null ? `: entry ${r.bad_seq}` : ''}.`));
  if (!r.ok && r.problem) box.append(el('p', {}, r.problem));
  const facts = el('dl', { class: 'facts' });
  const add = (term, value) => facts.append(el('dt', {}, term), el('dd', {}, value));
  add('Entries checked', String(r.entries_checked));
  add('Signed tree heads checked', String(r.heads_checked));
  add('Entries not yet signed', String(r.unsigned_entries));
  add('Log', r.where);
  add('Auditor key', r.auditor_key ? el('code', { class: 'wrap' }, r.auditor_key)
    : 'not configured (console.auditor_card): every head must be signed by one key');
  add('Checked at', new Date().toLocaleString());
  box.append(facts);
}
