// Devices: the organisation's card, enrolling a device by its card (the answer is the signed
// enrolment text to give to the device), and the enrolled and revoked devices, each enrolled one
// with its enrolment text and a Revoke button that asks for a reason and a confirmation.
import * as api from './api.js';
import {
  $, announce, busy, clear, describe, el, FieldErrors, showMessage, shortId, time,
} from './ui.js';

let revoking = null;  // the device the dialog is about

export function init() {
  $('enrol-form').addEventListener('submit', enrol);
  $('enrol-copy').addEventListener('click', copyEnrolment);
  $('devices-table').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-revoke]');
    if (button) openRevoke(button.dataset.revoke, button.dataset.name);
  });
  $('revoke-form').addEventListener('submit', revoke);
  $('revoke-cancel').addEventListener('click', () => $('revoke-dialog').close());
}

export async function show() {
  await Promise.all([load(), loadOrg()]);
}

async function loadOrg() {
  try {
    const org = await api.get('/org');
    $('org-card').textContent = org.card;
  } catch (error) {
    $('org-card').textContent = `not available (${describe(error)})`;
  }
}

async function load() {
  const summary = $('devices-summary');
  let devices;
  try {
    ({ devices } = await api.get('/devices'));
  } catch (error) {
    showMessage(summary, `Cannot list the devices: ${describe(error)}`);
    throw error;
  }
  const body = clear($('devices-table').tBodies[0]);
  const revoked = devices.filter((d) => d.state === 'revoked').length;
  summary.textContent = devices.length === 0 ? 'No device enrolled yet.'
    : `${devices.length} device${devices.length === 1 ? '' : 's'}: ` +
      `${devices.length - revoked} enrolled, ${revoked} revoked.`;
  for (const d of devices) body.append(row(d));
}

function row(d) {
  const enrolled = d.state === 'enrolled';
  const actions = el('td');
  if (enrolled) {
    actions.append(
      el('button', { type: 'button', class: 'danger small', 'data-revoke': d.device,
                     'data-name': d.name, 'aria-label': `Revoke ${d.name}` }, 'Revoke'),
      el('details', {}, el('summary', {}, 'Enrolment text'),
         el('textarea', { readonly: true, rows: 4, 'aria-label': `Enrolment text of ${d.name}`,
                          spellcheck: 'false' }, d.enrolment)));
  }
  const revokedCell = el('td');
  if (!enrolled) {
    revokedCell.append(time(d.revoked_ms), el('br'), `by ${d.revoked_by || '—'}`,
                       d.reason ? el('br') : null, d.reason ? `“${d.reason}”` : null);
  } else {
    revokedCell.append('—');
  }
  return el('tr', { 'data-device': d.device, 'data-state': d.state },
            el('td', {}, d.name),
            el('td', {}, shortId(d.device)),
            el('td', {}, el('span', { class: `badge ${d.state}` },
                            enrolled ? 'Enrolled' : 'Revoked')),
            el('td', {}, time(d.enrolled_ms), el('br'), `by ${d.enrolled_by}`),
            revokedCell,
            actions);
}

async function enrol(event) {
  event.preventDefault();
  const errors = new FieldErrors({ card: 'enrol-card', name: 'enrol-name' }, $('enrol-error'));
  errors.clear();
  const card = $('enrol-card').value.trim();
  const name = $('enrol-name').value.trim();
  if (!card) {
    errors.show('card', 'Paste the device\'s card: the line starting with grove-card: that ' +
                        'grove identity prints.');
    return;
  }
  const body = name ? { card, name } : { card };
  let device;
  try {
    device = await busy(event.submitter, () => api.post('/devices', body));
  } catch (error) {
    if (error.status === 401) return;
    errors.show(error.field || (error.status === 409 ? 'card' : ''), describe(error));
    return;
  }
  $('enrol-form').reset();
  $('enrol-result-title').textContent = `Enrolled “${device.name}”`;
  $('enrol-text').value = device.enrolment;
  showMessage($('enrol-copied'), '');
  $('enrol-result').hidden = false;
  $('enrol-result-title').focus();
  announce(`Enrolled ${device.name}. Its enrolment text is ready to copy.`);
  await load().catch(() => {});  // it says why itself
}

async function copyEnrolment() {
  const text = $('enrol-text');
  text.select();
  try {
    await navigator.clipboard.writeText(text.value);
    $('enrol-copied').textContent = 'Copied.';
  } catch {
    $('enrol-copied').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
}

function openRevoke(device, name) {
  revoking = { device, name };
  $('revoke-name').textContent = name;
  $('revoke-device').textContent = device;
  $('revoke-reason').value = '';
  new FieldErrors({ reason: 'revoke-reason' }, $('revoke-error')).clear();
  $('revoke-dialog').showModal();
  $('revoke-reason').focus();
}

async function revoke(event) {
  event.preventDefault();
  const errors = new FieldErrors({ reason: 'revoke-reason' }, $('revoke-error'));
  errors.clear();
  const reason = $('revoke-reason').value.trim();
  if (!reason) {
    errors.show('reason', 'Give a reason: it is kept with the revocation and in the audit log.');
    return;
  }
  let answer;
  try {
    answer = await busy($('revoke-confirm'),
                        () => api.post(`/devices/${encodeURIComponent(revoking.device)}/revoke`,
                                       { reason }));
  } catch (error) {
    if (error.status === 401) {
      $('revoke-dialog').close();
      return;
    }
    errors.show(error.field, describe(error));
    return;
  }
  $('revoke-dialog').close();
  announce(`${revoking.name} is revoked (revocation ${answer.serial}).`);
  await load().catch(() => {});  // it says why itself
  $('devices-list-title').setAttribute('tabindex', '-1');
  $('devices-list-title').focus();
}
