// What the web app's browser test runs against: grove-peer processes on loopback, each serving
// the app on its API address (/app/), built from web/app by scripts/build-web.sh and embedded. The process
// handling (setpriv --pdeathsig, bounded waits, logs, cleanup) is tests/console/harness.mjs's.
//
// A peer is started on ports chosen once, so that it can be stopped and started again at the
// same addresses (the browser keeps its page; a conflict test disconnects two peers this way).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { binary, Child, freePort, initDevice, root } from '../console/harness.mjs';

export { cleanup, logTails, root, run, waitFor } from '../console/harness.mjs';

export class Peer {
  constructor(name) {
    this.name = name;
    this.data = join(root, `peer-${name}`);
    this.restarts = 0;
  }

  async init() {
    Object.assign(this, await initDevice(this.data, this.name));
    this.syncPort = await freePort();
    this.apiPort = await freePort();
    this.sync = `127.0.0.1:${this.syncPort}`;
    this.api = `127.0.0.1:${this.apiPort}`;
    return this;
  }

  // Starts grove-peer; `connect` lists sync addresses to dial.
  async start({ connect = [], webDir } = {}) {
    const args = ['--data', this.data, '--listen', this.sync, '--api', this.api];
    for (const c of connect) args.push('--connect', c);
    if (webDir) args.push('--api.web_dir', webDir);
    this.child = new Child(`peer-${this.name}${this.restarts ? `-${this.restarts}` : ''}`,
                           binary('grove-peer'), args);
    this.restarts++;
    await this.child.logLine('started', {}, 30000);
    this.token = readFileSync(join(this.data, 'api-token'), 'utf8').trim();
    this.origin = `http://${this.api}`;
  }

  async stop() {
    await this.child?.stop();
  }

  // The peer's API with its bearer token; JSON in, JSON out; throws with the answer on failure.
  async call(method, path, body) {
    const response = await fetch(`http://${this.api}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`,
                 ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} on ${this.name}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
}

// Where the browser opens a peer's app: the peer itself, which must serve /app/ under the strict
// Content-Security-Policy the app is written for.
export async function appOrigin(peer) {
  const response = await fetch(`${peer.origin}/app/`).catch(() => null);
  if (!response?.ok) {
    throw new Error(`${peer.name}'s grove-peer does not serve the web app at /app/ ` +
                    `(${response ? response.status : 'no answer'})`);
  }
  const csp = response.headers.get('content-security-policy') || '';
  if (!csp.includes("script-src 'self'") || !csp.includes("default-src 'none'")) {
    throw new Error(`${peer.name}'s /app/ is served without the strict CSP (got "${csp}")`);
  }
  return peer.origin;
}

// A one-time sign-in link from the peer (POST /api/v1/login-links).
export async function loginLink(peer) {
  return (await peer.call('POST', '/login-links', {})).url;
}
