// Policies: the workspaces with a stored policy, and a form to load and set one workspace's
// (audited, retention, legal hold, allowed relays). The relay validates; a 400 names the member
// at fault ("retention_days", "allowed_relays[1]"), shown next to its field.
import * as api from './api.js';
import {
  $, announce, busy, clear, describe, el, FieldErrors, showMessage, shortId, time,
} from './ui.js';

const FIELDS = {
  workspace: 'policy-workspace',
  audited: 'policy-audited',
  retention_days: 'policy-retention',
  legal_hold: 'policy-hold',
  allowed_relays: 'policy-relays',
};

const errors = () => new FieldErrors(FIELDS, $('policy-error'));

export function init() {
  $('policy-form').addEventListener('submit', save);
  $('policy-load').addEventListener('click', () => loadOne($('policy-workspace').value.trim()));
  $('policies-table').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-workspace]');
    if (!button) return;
    $('policy-workspace').value = button.dataset.workspace;
    loadOne(button.dataset.workspace).then(() => $('policy-audited').focus());
  });
}

export async function show() {
  await list();
}

async function list() {
  let policies;
  try {
    ({ policies } = await api.get('/policies'));
  } catch (error) {
    showMessage($('policies-summary'), `Cannot list the policies: ${describe(error)}`);
    throw error;
  }
  const n = policies.length;
  $('policies-summary').textContent = n === 0
    ? 'No policy set yet: every workspace has the defaults (not audited, audit entries kept ' +
      'forever, no legal hold, any relay).'
    : `${n} workspace${n === 1 ? ' has' : 's have'} a policy; the others have the defaults.`;
  const body = clear($('policies-table').tBodies[0]);
  for (const p of policies) {
    body.append(el('tr', { 'data-workspace': p.workspace },
      el('td', {}, shortId(p.workspace, 16)),
      el('td', {}, yesNo(p.audited)),
      el('td', {}, p.retention_days == null ? 'forever' : `${p.retention_days} days`),
      el('td', {}, yesNo(p.legal_hold)),
      el('td', {}, p.allowed_relays.length === 0 ? 'any'
        : el('ul', {}, ...p.allowed_relays.map((r) => el('li', {}, shortId(r, 20))))),
      el('td', {}, time(p.updated_ms), el('br'), p.updated_by ? `by ${p.updated_by}` : ''),
      el('td', {}, el('button', {
        type: 'button', class: 'small', 'data-workspace': p.workspace,
        'aria-label': `Edit the policy of workspace ${p.workspace.slice(0, 16)}`,
      }, 'Edit'))));
  }
}

function yesNo(value) {
  return el('span', { class: `badge ${value ? 'yes' : 'no'}` }, value ? 'Yes' : 'No');
}

function fill(p) {
  $('policy-audited').checked = p.audited;
  $('policy-retention').value = p.retention_days == null ? '' : String(p.retention_days);
  $('policy-hold').checked = p.legal_hold;
  $('policy-relays').value = p.allowed_relays.join('\n');
  const origin = $('policy-origin');
  clear(origin);
  if (p.stored) {
    origin.append('Current policy, set ', time(p.updated_ms), ` by ${p.updated_by || 'unknown'}.`);
  } else {
    origin.append('No policy stored for this workspace: these are the defaults.');
  }
}

async function loadOne(workspace) {
  const e = errors();
  e.clear();
  if (!workspace) {
    e.show('workspace', 'Give the workspace id.');
    return;
  }
  try {
    fill(await api.get(`/policies/${encodeURIComponent(workspace)}`));
  } catch (error) {
    if (error.status !== 401) e.show(error.field || 'workspace', describe(error));
  }
}

async function save(event) {
  event.preventDefault();
  const e = errors();
  e.clear();
  const workspace = $('policy-workspace').value.trim();
  if (!workspace) {
    e.show('workspace', 'Give the workspace id.');
    return;
  }
  const retention = $('policy-retention').value.trim();
  if (retention && !/^[0-9]+$/.test(retention)) {
    e.show('retention_days', 'A whole number of days, or empty to keep audit entries forever.');
    return;
  }
  const relays = $('policy-relays').value.split('\n').map((line) => line.trim());
  // Lines as typed, blank ones dropped; remember where each came from for error messages.
  const lines = [];
  relays.forEach((text, i) => { if (text) lines.push({ text, line: i + 1 }); });
  const body = {
    audited: $('policy-audited').checked,
    retention_days: retention ? Number(retention) : null,
    legal_hold: $('policy-hold').checked,
    allowed_relays: lines.map((l) => l.text),
  };
  let stored;
  try {
    const path = `/policies/${encodeURIComponent(workspace)}`;
    stored = await busy(event.submitter, () => api.put(path, body));
  } catch (error) {
    if (error.status === 401) return;
    let message = describe(error);
    const item = /^allowed_relays\[(\d+)\]$/.exec(error.field);
    if (item && lines[Number(item[1])]) message = `Line ${lines[Number(item[1])].line}: ${message}`;
    e.show(error.field, message);
    return;
  }
  fill(stored);
  announce('Policy saved.');
  await list().catch(() => {});  // it says why itself
}
