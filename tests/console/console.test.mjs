// The relay's admin web console in a real browser (Debian's chromium, driven by playwright-core)
// against a real grove-relay on a private PostgreSQL, with real grove-peer processes:
//
//   the pages and their security headers; sign-in with the keyboard only, a wrong password, a
//   lockout; enrolling devices by card (and the errors of a bad or repeated card); managed peers
//   started with the enrolments the page showed, sharing a workspace through the relay; a policy
//   with its validation errors next to the fields; the relay's status and its peers; revoking
//   with a reason and a confirmation; the member losing access on the owner's peer; the audit
//   log's verification (and its failure after a row is changed), search and export; a session
//   that ends and a database that goes away.
//
// Each view's screenshot comes with axe-core's accessibility check (WCAG 2.1 A and AA).
//
// Run: `ctest -R console_browser` (scripts/test.sh installs chromium and `npm ci`s this folder),
// or by hand: `GROVE_BIN_DIR=build/bin node tests/console/console.test.mjs` (Node's test runner,
// in this process). Screenshots of each view go to $GROVE_CONSOLE_SCREENSHOTS (docs/images to
// refresh the docs' pictures), else to the temporary folder. GROVE_CONSOLE_KEEP=1 keeps that
// folder (logs, data) for a look after a failure.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { axeViolations, CHROMIUM, loadBrowserTools, stepper } from '../support/browser.mjs';
import { cleanup, Device, freePort, logTails, Postgres, Relay, root, waitFor } from './harness.mjs';

// The relay answers GET /audit/entries and /audit/export (false: expect the polite 501 message
// of a relay that does not).
const AUDIT_SEARCH_WIRED = true;

const SHOTS = process.env.GROVE_CONSOLE_SCREENSHOTS || join(root, 'screenshots');
const ADMIN = 'alice';
const PASSWORD = 'correct horse battery staple';
const WAIT = 10000;  // ms: the longest any single page element may take to appear

const { playwright, axe: AXE } = await loadBrowserTools(new URL('./', import.meta.url), 'tests/console');

const pg = new Postgres();
let relay;
let browser;
let context;
let page;
const pageErrors = [];
const state = {};  // what the steps hand to each other

// A test that is skipped once an earlier one failed (they build on each other), and that prints
// the processes' logs and a screenshot when it fails.
const step = stepper({
  timeout: 60000,
  report: async (name) => {
    const shot = join(SHOTS, `failed-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
    await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
    const text = await page?.locator('main').innerText().catch(() => '');
    console.error(`\n#### step failed: ${name}\n#### page: ${page?.url()}, screenshot ${shot}\n` +
                  `#### text on the page:\n${text}\n` +
                  `#### script errors: ${pageErrors.length ? pageErrors.join('\n') : 'none'}\n` +
                  `${logTails()}\n`);
  },
});

// A screenshot of what is on screen, and axe-core's check of it against WCAG 2.1 A and AA
// (labels, contrast, roles, names): every violation fails the step.
async function shoot(name, fullPage = true) {
  await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage });
  assert.deepEqual(await axeViolations(page, AXE), [], `accessibility of the ${name} view`);
}

const activeId = () =>
  page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);

async function visibleText(selector, expected, what) {
  const locator = page.locator(selector);
  try {
    await locator.waitFor({ state: 'visible', timeout: WAIT });
    await waitFor(what || `${selector} to read ${expected}`, async () => {
      const text = await locator.innerText();
      return expected instanceof RegExp ? expected.test(text) : text.includes(expected);
    }, { timeoutMs: WAIT });
  } catch (error) {
    const text = await locator.innerText().catch(() => '(not on the page)');
    throw new Error(`${what || selector}: expected ${expected}, the page shows "${text}" ` +
                    `(${error.message})`);
  }
  return locator.innerText();
}

async function gotoView(name) {
  await page.click(`#nav a[data-view="${name}"]`);
  await page.locator(`#view-${name}`).waitFor({ state: 'visible', timeout: WAIT });
  await waitFor(`focus on the ${name} heading`, async () => (await activeId()) === `${name}-title`,
                { timeoutMs: WAIT });
}

async function enrolInBrowser(card, name) {
  await gotoView('devices');
  await page.fill('#enrol-card', card);
  await page.fill('#enrol-name', name);
  await page.click('#enrol-form button[type=submit]');
  await visibleText('#enrol-result-title', `Enrolled “${name}”`);
  const enrolment = await page.inputValue('#enrol-text');
  assert.match(enrolment, /^grove-enrolment:\S+$/, 'the page shows the signed enrolment text');
  return enrolment;
}

function deviceRow(device) {
  return page.locator(`#devices-table tbody tr[data-device="${device}"]`);
}

async function revokeInBrowser(device, name, reason) {
  await gotoView('devices');
  await deviceRow(device).getByRole('button', { name: `Revoke ${name}` }).click();
  await page.locator('#revoke-dialog[open]').waitFor({ timeout: WAIT });
  await page.fill('#revoke-reason', reason);
  await page.click('#revoke-confirm');
  await page.locator('#revoke-dialog').waitFor({ state: 'hidden', timeout: WAIT });
  await waitFor(`${name} marked revoked`, async () =>
    (await deviceRow(device).getAttribute('data-state')) === 'revoked', { timeoutMs: WAIT });
}

describe('the admin web console', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await pg.start(await freePort());
    relay = new Relay(pg.url);
    await relay.start();
    await relay.addAdmin(ADMIN, PASSWORD);
    // The auditor moves the console's admin actions into the signed log (docs/audit.md), on the
    // relay's database, signing a tree head every second.
    state.auditor = await new Device('Auditor').init();
    await state.auditor.start(['--audit-db', pg.url, '--audit.head_interval_s', '1']);
    browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-GB',
                                         timezoneId: 'UTC', baseURL: relay.admin });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (error) => pageErrors.push(`uncaught: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) {
        pageErrors.push(`CSP: ${message.text()}`);
      }
    });
  }, { timeout: 120000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await cleanup();
  }, { timeout: 60000 });

  step('the relay serves the console, with its security headers, at its admin address',
       async () => {
    const root = await fetch(`${relay.admin}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/console/');
    let bytes = 0;
    for (const file of ['', 'app.js', 'api.js', 'ui.js', 'devices.js', 'policies.js', 'status.js',
                        'audit.js', 'console.css', 'icon.svg']) {
      const r = await fetch(`${relay.admin}/console/${file}`);
      assert.equal(r.status, 200, `/console/${file}`);
      const csp = r.headers.get('content-security-policy') || '';
      assert.match(csp, /default-src 'self'/, `/console/${file} CSP`);
      assert.match(csp, /frame-ancestors 'none'/, `/console/${file} CSP`);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `/console/${file}`);
      assert.equal(r.headers.get('cache-control'), 'no-cache', `/console/${file}`);
      const type = r.headers.get('content-type');
      if (file === '') assert.equal(type, 'text/html; charset=utf-8');
      if (file.endsWith('.js')) assert.equal(type, 'text/javascript; charset=utf-8');
      if (file.endsWith('.css')) assert.equal(type, 'text/css; charset=utf-8');
      bytes += (await r.arrayBuffer()).byteLength;
    }
    console.log(`# console page weight: ${bytes} bytes uncompressed (HTML, CSS, JS and icon)`);
    assert.ok(bytes < 80000, `the console stays small (${bytes} bytes)`);
    assert.equal((await fetch(`${relay.admin}/console/nope.js`)).status, 404);
    assert.equal((await fetch(`${relay.admin}/console/`, { method: 'POST' })).status, 405);
  });

  step('signing in takes Tab and Enter only; a wrong password and a lockout are explained',
       async () => {
    await page.goto('/');
    assert.match(page.url(), /\/console\/$/);
    await page.locator('#view-signin').waitFor({ timeout: WAIT });
    assert.equal(await activeId(), 'signin-name', 'the name field has focus at once');

    // A wrong password: the error is said, focus returns to the password.
    await page.keyboard.type(ADMIN);
    await page.keyboard.press('Tab');
    assert.equal(await activeId(), 'signin-password', 'Tab goes from name to password');
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(ring, 'none', 'the focused field shows a focus ring');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await visibleText('#signin-error', 'Wrong account name or password.');
    assert.equal(await page.getAttribute('#signin-error', 'role'), 'alert');
    assert.equal(await activeId(), 'signin-password');
    assert.equal(await page.inputValue('#signin-password'), '', 'the wrong password is cleared');
    await shoot('signin');

    // Another account (unknown names lock like real ones) is locked after 5 failures.
    const other = await context.browser().newContext({ baseURL: relay.admin });
    const locked = await other.newPage();
    await locked.goto('/console/');
    await locked.fill('#signin-name', 'mallory');
    let message = '';
    let attempt = 0;
    while (attempt < 6 && !/locked/.test(message)) {
      attempt += 1;
      await locked.fill('#signin-password', `guess ${attempt}`);
      await locked.press('#signin-password', 'Enter');
      await waitFor('an answer to the sign-in', async () => {
        const text = await locked.locator('#signin-error').innerText().catch(() => '');
        return text && !(await locked.locator('#signin-form button').isDisabled()) && text;
      }, { timeoutMs: WAIT });
      message = await locked.locator('#signin-error').innerText();
      assert.ok(attempt >= 5 || /Wrong account name or password/.test(message),
                `attempt ${attempt}: ${message}`);
    }
    assert.match(message, /this account is locked until \d/, `locked after ${attempt} failures`);
    await other.close();

    // The right password, by keyboard: the console opens on Devices.
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#view-devices').waitFor({ timeout: WAIT });
    assert.equal(await page.innerText('#account-name'), ADMIN);
    assert.equal(await page.getAttribute('#nav a[data-view="devices"]', 'aria-current'), 'page');
  });

  step('a device is enrolled by pasting its card; bad and repeated cards are refused by the field',
       async () => {
    const bob = await new Device("Bob's laptop").init();
    state.bob = bob;
    await enrolInBrowser(bob.card, "Bob's laptop");
    const row = deviceRow(bob.device);
    await row.waitFor({ timeout: WAIT });
    assert.equal(await row.getAttribute('data-state'), 'enrolled');
    assert.match(await row.innerText(), /Bob's laptop[\s\S]*Enrolled[\s\S]*by admin:alice/);
    await visibleText('#devices-summary', '1 device: 1 enrolled, 0 revoked.');

    await page.fill('#enrol-card', bob.card);
    await page.click('#enrol-form button[type=submit]');
    await visibleText('#enrol-card-error', /already|enrolled/i, 'the error next to the card');
    assert.equal(await page.getAttribute('#enrol-card', 'aria-invalid'), 'true');
    assert.equal(await activeId(), 'enrol-card');

    await page.fill('#enrol-card', 'grove-card:not-a-card');
    await page.click('#enrol-form button[type=submit]');
    await visibleText('#enrol-card-error', /card/i, 'the error next to the card');
    await page.fill('#enrol-card', '');
    await page.click('#enrol-form button[type=submit]');
    await visibleText('#enrol-card-error', 'Paste the device\'s card');
    state.org = (await page.innerText('#org-card')).trim();
    assert.match(state.org, /^grove-org:\S+$/, 'the page shows the organisation card');
  });

  step('managed peers started with the enrolments the page showed share a workspace through ' +
       'the relay', async () => {
    const owner = await new Device('Owner laptop').init();
    const member = await new Device('Member laptop').init();
    Object.assign(state, { owner, member });
    const orgFile = join(root, 'org.card');
    writeFileSync(orgFile, `${state.org}\n`);
    for (const device of [owner, member]) {
      device.enrolment = await enrolInBrowser(device.card, device.name);
      device.enrolmentFile = join(root, `${device.name.split(' ')[0].toLowerCase()}.enrolment`);
      writeFileSync(device.enrolmentFile, `${device.enrolment}\n`);
    }
    const managed = (d) => ['--org-card', `@${orgFile}`, '--enrolment', `@${d.enrolmentFile}`];
    await owner.start([...relay.peerArgs(), ...managed(owner)]);
    // The member also dials the owner directly, so that a refusal after revocation shows.
    await member.start([...relay.peerArgs(), ...managed(member), '--connect', owner.sync]);

    const ws = await owner.cli('ws', 'create', 'Purchasing');
    state.ws = ws.id;
    assert.match(state.ws, /^[0-9a-f]{64}$/);
    await owner.cli('ws', 'invite', state.ws, member.enrolment, '--role', 'member');
    await waitFor('the member to see the invitation', async () =>
      (await member.cli('invitations')).some((i) => (i.workspace || i.id) === state.ws));
    await member.cli('ws', 'accept', state.ws);
    const members = (await owner.cli('ws', 'members', state.ws)).members.map((m) => m.device);
    assert.ok(members.includes(member.device), `the member is in the workspace: ${members}`);
    const note =
      await owner.cli('record', 'create', state.ws, 'note', 'text=before the revocation');
    state.noteBefore = note.id;
    await waitFor('the owner\'s record to reach the member', async () =>
      (await member.cli('record', 'get', state.ws, note.id)).id === note.id, { timeoutMs: 30000 });
  }, 90000);

  step('a workspace policy is set; a bad value is shown next to its field', async () => {
    await gotoView('policies');
    await visibleText('#policies-summary', 'No policy set yet');
    await page.fill('#policy-workspace', state.ws);
    await page.click('#policy-load');
    await visibleText('#policy-origin',
                      'No policy stored for this workspace: these are the defaults.');
    assert.equal(await page.isChecked('#policy-audited'), false);
    assert.equal(await page.inputValue('#policy-retention'), '');

    await page.check('#policy-audited');
    await page.fill('#policy-retention', '0');
    await page.click('#policy-form button[type=submit]');
    await visibleText('#policy-retention-error', /\S/, 'the relay\'s error next to the retention');
    assert.equal(await page.getAttribute('#policy-retention', 'aria-invalid'), 'true');
    assert.equal(await activeId(), 'policy-retention');
    assert.ok(await page.locator('#policy-error').isHidden(), 'no form-level error instead');

    await page.fill('#policy-retention', 'ninety');
    await page.click('#policy-form button[type=submit]');
    await visibleText('#policy-retention-error', 'A whole number of days');

    await page.fill('#policy-retention', '90');
    await page.fill('#policy-relays', `\nnot-a-relay`);
    await page.click('#policy-form button[type=submit]');
    await visibleText('#policy-relays-error', /^⚠?\s*Line 2: /, 'the error names the line');
    assert.ok(await page.locator('#policy-retention-error').isHidden(), 'the old error is gone');
    await shoot('policy-error');

    const relayCard = readFileSync(relay.cardFile, 'utf8').trim();
    await page.fill('#policy-relays', relayCard);
    await page.click('#policy-form button[type=submit]');
    await visibleText('#policy-origin', /Current policy, set .* by admin:alice/);
    const row = page.locator(`#policies-table tbody tr[data-workspace="${state.ws}"]`);
    await row.waitFor({ timeout: WAIT });
    assert.match(await row.innerText(), /Yes\s+90 days\s+No/);
    const stored = await (await context.request.get('/api/v1/admin/policies/' + state.ws)).json();
    assert.equal(stored.audited, true);
    assert.equal(stored.retention_days, 90);
    assert.deepEqual(stored.allowed_relays, [relayCard]);
    await shoot('policies');
  });

  step('the status shows the relay and the peers it has seen, connected, by path', async () => {
    await gotoView('status');
    await visibleText('#status-relay', /Version[\s\S]*Database\s+Reachable/);
    const relayCard = readFileSync(relay.cardFile, 'utf8').trim();
    assert.ok((await page.innerText('#status-relay')).includes(relayCard), 'the relay card');
    for (const device of [state.owner, state.member]) {
      const row = page.locator(`#peers-table tbody tr[data-device="${device.device}"]`);
      await waitFor(`${device.name} listed as connected`, async () => {
        await page.click('#status-refresh');
        return (await row.count()) === 1 && (await row.getAttribute('data-connected')) === 'true';
      }, { timeoutMs: 20000, everyMs: 500 });
      const cells = (await row.locator('td').allInnerTexts()).map((c) => c.trim());
      assert.equal(cells[0], device.name);
      assert.equal(cells[2], 'Connected');
      assert.match(cells[4], /^127\.0\.0\.1:\d+$/);
      assert.equal(cells[5], 'direct');
    }
    await shoot('status');
  });

  step('revoking asks for a reason and a confirmation, then marks the device revoked', async () => {
    const { bob } = state;
    await gotoView('devices');
    await deviceRow(bob.device).getByRole('button', { name: `Revoke ${bob.name}` }).click();
    await page.locator('#revoke-dialog[open]').waitFor({ timeout: WAIT });
    assert.equal(await activeId(), 'revoke-reason', 'the dialog takes focus');
    assert.equal(await page.innerText('#revoke-device'), bob.device);
    await page.keyboard.press('Escape');
    await page.locator('#revoke-dialog').waitFor({ state: 'hidden', timeout: WAIT });
    assert.equal(await deviceRow(bob.device).getAttribute('data-state'), 'enrolled',
                 'Escape cancels');

    await deviceRow(bob.device).getByRole('button', { name: `Revoke ${bob.name}` }).click();
    await page.click('#revoke-confirm');
    await visibleText('#revoke-reason-error', 'Give a reason');
    await page.fill('#revoke-reason', 'laptop stolen at the airport');
    await shoot('revoke', false);  // a modal dialog: the window as the admin sees it
    await page.click('#revoke-confirm');
    await page.locator('#revoke-dialog').waitFor({ state: 'hidden', timeout: WAIT });
    await waitFor('the row to show the revocation', async () =>
      (await deviceRow(bob.device).getAttribute('data-state')) === 'revoked', { timeoutMs: WAIT });
    const text = await deviceRow(bob.device).innerText();
    assert.match(text, /Revoked[\s\S]*by admin:alice[\s\S]*“laptop stolen at the airport”/);
    assert.equal(await deviceRow(bob.device).getByRole('button', { name: /Revoke/ }).count(), 0,
                 'a revoked device has no Revoke button');
    await visibleText('#devices-summary', '3 devices: 2 enrolled, 1 revoked.');
    await shoot('devices');

    // Does this relay hand revocations to its peers (decision 0010: Notices at hello and on
    // revoke)? The owner's managed peer, connected to it, says so in its log when it applies one.
    state.relayDeliversRevocations = await state.owner.child
      .logLine('device revoked by the organisation', { device: bob.device }, 10000)
      .then(() => true, () => false);
    console.log(`# the relay delivers revocations to its peers: ${state.relayDeliversRevocations}`);
  });

  step('a member revoked in the browser loses access on the owner\'s real peer', async (t) => {
    assert.ok(state.relayDeliversRevocations,
              'the owner\'s managed peer never applied the revocation made in the console: the ' +
              'relay sends revocations at hello and on each new one (decision 0010)');
    const { owner, member } = state;
    await waitFor('the member to be connected to the owner (it dials it)', async () =>
      (await owner.apiGet('/status')).connections.some((c) => c.device === member.device));
    const memberLogBefore = member.child.text().length;
    const ownerLogBefore = owner.child.text().length;
    await revokeInBrowser(member.device, member.name, 'left the company');

    await waitFor('the owner\'s workspace to drop the member', async () => {
      const ws = await owner.cli('ws', 'members', state.ws);
      return !ws.members.some((m) => m.device === member.device);
    }, { timeoutMs: 30000, everyMs: 250 });
    await waitFor('the member\'s connections to be refused as revoked', () =>
      /revoked by the organisation/.test(member.child.text().slice(memberLogBefore)) ||
      /revoked by the organisation/.test(owner.child.text().slice(ownerLogBefore)),
    { timeoutMs: 20000 });
    // The member keeps dialling the owner (--connect); none of its attempts gets through.
    for (let i = 0; i < 6; ++i) {
      const status = await owner.apiGet('/status');
      assert.ok(!status.connections.some((c) => c.device === member.device),
                `the owner talks to the revoked member: ${JSON.stringify(status.connections)}`);
      await sleep(500);
    }
    // What the owner writes now never reaches it; what it had stays.
    const after =
      await owner.cli('record', 'create', state.ws, 'note', 'text=after the revocation');
    await sleep(3000);
    const got = await member.cli('record', 'get', state.ws, after.id).then(() => true, () => false);
    assert.equal(got, false, 'a record written after the revocation reached the revoked member');
    assert.equal((await member.cli('record', 'get', state.ws, state.noteBefore)).id,
                 state.noteBefore, 'what it had before stays');
  }, 90000);

  step('audit verification shows the signed log, with as many entries as the database holds',
       async () => {
    await gotoView('audit');
    let verdict = '';
    await waitFor('a verification with every entry signed', async () => {
      await page.click('#verify-run');
      verdict = await visibleText('#verify-result', /verif/);
      return /Entries not yet signed\s+0\b/.test(verdict) &&
             /Signed tree heads checked\s+[1-9]/.test(verdict);
    }, { timeoutMs: 30000, everyMs: 1000 });
    const match = /✓ The audit log verifies: (\d+) entries/.exec(verdict);
    assert.ok(match, verdict);
    const inDatabase = Number(await pg.sql('SELECT count(*) FROM audit_entries'));
    assert.ok(Number(match[1]) >= 8, `the admin actions are in the log (${match[1]})`);
    assert.ok(Number(match[1]) <= inDatabase, 'entries shown at most those stored');
    assert.match(await page.getAttribute('#verify-result', 'class'), /\bok\b/);
    state.verifiedEntries = Number(match[1]);
  });

  step('audit search shows the admin actions, page by page, and exports the same query',
       async () => {
    // The export links follow the form as it is typed.
    await page.fill('#audit-user', `admin:${ADMIN}`);
    await page.selectOption('#audit-kind', 'admin');
    for (const format of ['jsonl', 'csv']) {
      const url = new URL(await page.getAttribute(`#export-${format}`, 'href'), relay.admin);
      assert.equal(url.pathname, '/api/v1/admin/audit/export');
      assert.equal(url.searchParams.get('format'), format);
      assert.equal(url.searchParams.get('kind'), 'admin');
      assert.equal(url.searchParams.get('user'), `admin:${ADMIN}`);
    }
    // Every admin action (the sign-ins that failed too: more than one page of 10).
    await page.fill('#audit-user', '');
    await page.selectOption('#audit-limit', '10');
    const jsonl = await page.getAttribute('#export-jsonl', 'href');
    assert.ok(!new URL(jsonl, relay.admin).searchParams.has('user'));
    await page.click('#audit-form button[type=submit]');
    const answered = await visibleText('#audit-summary', /^(?!Search to see entries)/,
                                       'an answer to the search');
    if (!AUDIT_SEARCH_WIRED) {
      assert.match(answered,
                   /Audit search is not available on this relay yet \(it answered: “.+”\)/,
                   'audit search answers now: set AUDIT_SEARCH_WIRED to true at the top of this ' +
                   'file');
      assert.ok(await page.locator('#audit-table').isHidden());
      assert.equal((await context.request.get(jsonl)).status(), 501,
                   'export answers 501 too (set AUDIT_SEARCH_WIRED once it does not)');
      await shoot('audit');
      return;
    }
    const rows = () => page.locator('#audit-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({ seq: Number(tr.dataset.seq), op: tr.dataset.op, text: tr.innerText })));
    await visibleText('#audit-summary', /^Page 1: 10 entries, .* more on the next page\.$/);
    const page1 = await rows();
    assert.equal(page1.length, 10);
    await page.click('#audit-next');
    await visibleText('#audit-summary', /^Page 2: /);
    const page2 = await rows();
    assert.ok(page2.length > 0 && page2[0].seq > page1[9].seq, 'page 2 continues after page 1');
    const all = [...page1, ...page2];
    for (const op of ['admin.add', 'admin.login_failed', 'admin.login', 'device.enrol',
                      'device.revoke', 'policy.set']) {
      assert.ok(all.some((r) => r.op === op),
                `${op} is among the results: ${all.map((r) => r.op)}`);
    }
    const revoke = all.find((r) => r.op === 'device.revoke');
    assert.match(revoke.text, /admin:alice/, 'the revocation names who did it');
    await page.click('#audit-first');
    await visibleText('#audit-summary', /^Page 1: 10 entries/);
    const exported = await context.request.get(jsonl);
    assert.equal(exported.status(), 200);
    const lines = (await exported.text()).trim().split('\n');
    assert.equal(JSON.parse(lines[0]).grove_audit_export, 1);
    assert.ok(lines.length > 11, `every admin entry is exported (${lines.length - 1})`);
    assert.ok(lines.slice(1).every((l) => JSON.parse(l).kind === 'admin'));
    await shoot('audit');
  });

  step('a changed audit row makes the verification fail, naming the entry', async () => {
    const seq = await pg.sql("SELECT min(seq) FROM audit_entries WHERE op = 'device.enrol'");
    assert.match(seq, /^\d+$/, 'an enrolment is in the log');
    await pg.sql(`UPDATE audit_entries SET new_value = new_value || ' ' WHERE seq = ${seq}`);
    await page.click('#verify-run');
    await visibleText('#verify-result', `✗ The audit log does not verify: entry ${seq}.`);
    assert.match(await page.getAttribute('#verify-result', 'class'), /\bbad\b/);
  });

  step('when the session ends, sign-in comes back, then the same view; signing out ends it',
       async () => {
    await context.clearCookies();
    await page.click('#nav a[data-view="status"]');
    await visibleText('#signin-note', 'Your session ended. Sign in again to go on.');
    assert.ok(await page.locator('#nav').isHidden());
    await page.fill('#signin-name', ADMIN);
    await page.fill('#signin-password', PASSWORD);
    await page.press('#signin-password', 'Enter');
    await page.locator('#view-status').waitFor({ timeout: WAIT });
    assert.match(page.url(), /#\/status$/);

    // Signing out ends the session on the relay, not only on the page.
    await page.click('#sign-out');
    await visibleText('#signin-note', 'You are signed out.');
    assert.equal((await context.request.get('/api/v1/admin/me')).status(), 401);
    await page.fill('#signin-name', ADMIN);
    await page.fill('#signin-password', PASSWORD);
    await page.press('#signin-password', 'Enter');
    await page.locator('#view-status').waitFor({ timeout: WAIT });
  });

  step('while the database is down, the console says so', async () => {
    await pg.stop();
    await page.click('#status-refresh');
    await visibleText('#banner', 'The relay cannot reach its database');
    await visibleText('#status-when',
                      'Cannot read the status: The relay cannot reach its database right now.');
    assert.deepEqual(pageErrors, [], 'no script error and no CSP violation on the way');
  });
});
