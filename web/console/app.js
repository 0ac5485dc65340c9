// The console's shell: sign-in and sign-out, the session (401 anywhere shows sign-in again and
// comes back to the same view), the banner while the relay cannot reach its database, and the
// views by URL fragment (#/devices, #/policies, #/status, #/audit).
import * as api from './api.js';
import { $, announce, busy, describe, FieldErrors, showMessage } from './ui.js';
import * as devices from './devices.js';
import * as policies from './policies.js';
import * as status from './status.js';
import * as audit from './audit.js';

const VIEWS = { devices, policies, status, audit };
const TITLES = { devices: 'Devices', policies: 'Policies', status: 'Status', audit: 'Audit log' };
let account = null;  // the signed-in name

function currentView() {
  const name = location.hash.startsWith('#/') ? location.hash.slice(2) : '';
  return Object.hasOwn(VIEWS, name) ? name : 'devices';
}

function showOnly(sectionId) {
  for (const section of document.querySelectorAll('main > .view')) {
    section.hidden = section.id !== sectionId;
  }
  $('loading').hidden = true;
}

function showSignIn(note) {
  account = null;
  $('nav').hidden = true;
  $('account').hidden = true;
  document.title = 'Sign in – Grove relay console';
  showMessage($('signin-note'), note || '');
  showOnly('view-signin');
  $('signin-name').focus();
}

function signedIn(name) {
  account = name;
  $('account-name').textContent = name;
  $('account').hidden = false;
  $('nav').hidden = false;
}

// Shows the view of the URL fragment; `focus` moves focus to its heading (after navigation, so
// that a screen reader announces the new page).
async function route(focus) {
  if (!account) return;
  const name = currentView();
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${TITLES[name]} – Grove relay console`;
  showOnly(`view-${name}`);
  if (focus) $(`${name}-title`).focus();
  try {
    await VIEWS[name].show();
  } catch (error) {
    if (error.status !== 401) announce(describe(error));
  }
}

async function signIn(event) {
  event.preventDefault();
  const errors = new FieldErrors({ name: 'signin-name', password: 'signin-password' },
                                 $('signin-error'));
  errors.clear();
  const name = $('signin-name').value.trim();
  const password = $('signin-password').value;
  if (!name || !password) {
    showMessage($('signin-error'), 'Give the account name and its password.');
    $(name ? 'signin-password' : 'signin-name').focus();
    return;
  }
  const button = event.submitter || $('signin-form').querySelector('button[type=submit]');
  try {
    const answer = await busy(button, () => api.post('/login', { name, password }));
    $('signin-password').value = '';
    showMessage($('signin-note'), '');
    signedIn(answer.name || name);
    announce(`Signed in as ${answer.name || name}`);
    await route(true);
  } catch (error) {
    $('signin-password').value = '';
    let message;
    if (error.status === 401) {
      message = 'Wrong account name or password.';
    } else if (error.status === 429) {
      const until = error.unlocksMs ? new Date(error.unlocksMs) : null;
      message = 'Too many failed sign-ins: this account is locked' +
        (until ? ` until ${until.toLocaleTimeString()}` : ' for a while') +
        '. An administrator can end the lock on the relay\'s host with grove-relay admin unlock.';
    } else {
      message = describe(error);
    }
    showMessage($('signin-error'), message);
    $('signin-password').focus();
  }
}

async function signOut() {
  try {
    await api.post('/logout');
  } catch (error) {
    if (error.status !== 401) {
      announce(describe(error));
      return;
    }
  }
  showSignIn('You are signed out.');
}

function start() {
  api.setHandlers({
    unauthorized() {
      if (account) showSignIn('Your session ended. Sign in again to go on.');
    },
    unavailable(error) {
      showMessage($('banner'), error.status === 0 ? error.message
        : 'The relay cannot reach its database: what this page shows may be out of date, ' +
          'and changes fail until it is back.');
    },
    reachable() {
      showMessage($('banner'), '');
    },
  });
  // An error next to a field goes once the field is changed.
  document.addEventListener('input', (event) => {
    const input = event.target;
    if (input.getAttribute?.('aria-invalid') !== 'true') return;
    input.removeAttribute('aria-invalid');
    const error = $(`${input.id}-error`);
    if (error) showMessage(error, '');
  });
  $('signin-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  for (const view of Object.values(VIEWS)) view.init();
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#/')) route(true);
  });
  // The link of the view on screen changes no fragment: it reloads the view.
  $('nav').addEventListener('click', (event) => {
    const link = event.target.closest('a[data-view]');
    if (link && link.getAttribute('href') === location.hash) {
      event.preventDefault();
      route(true);
    }
  });
  api.get('/me').then((me) => {
    signedIn(me.name);
    route(false);
  }, (error) => {
    showSignIn(error.status === 401 ? '' : describe(error));
  });
}

start();
