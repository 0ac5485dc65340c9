// What the console's browser test runs against: a private PostgreSQL, a real grove-relay with its
// admin address, grove-peer processes and the grove CLI, all on loopback with ports the system
// picks, in one temporary folder that is removed at the end (kept when GROVE_CONSOLE_KEEP is set).
//
// Every child runs under `setpriv --pdeathsig`, so none outlives this process, even when ctest
// kills it at its timeout. PostgreSQL refuses to run as root: as root, its folder belongs to the
// user postgres and its programs run as that user (as tests/support/test_postgres.h does).
// Every wait is bounded and says what it waited for when it gives up.
import { execFile, spawn } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readdirSync, rmSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const root = mkdtempSync(join(tmpdir(), 'grove-console-'));
chmodSync(root, 0o711);  // PostgreSQL's user must reach its folder inside
const children = new Set();

export function binary(name) {
  const dir = process.env.GROVE_BIN_DIR;
  if (!dir) {
    throw new Error('GROVE_BIN_DIR must name the folder holding grove, grove-peer and grove-relay');
  }
  const path = resolve(dir, name);
  if (!existsSync(path)) throw new Error(`${path} does not exist: build it first`);
  return path;
}

// Polls `check` (sync or async) every `everyMs` until it returns a truthy value, which it
// returns; throws naming `what` after `timeoutMs`.
export async function waitFor(what, check, { timeoutMs = 20000, everyMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      if (error.fatal) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}` +
                      (last ? ` (last error: ${last.message})` : ''));
    }
    await sleep(everyMs);
  }
}

// Runs a program to completion: { code, stdout, stderr }. Never throws for a non-zero exit.
export function run(file, args, { input, timeoutMs = 30000 } = {}) {
  return new Promise((resolve) => {
    const options = { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 8 << 20 };
    const child = execFile(file, args, options, (error, stdout, stderr) => {
      const code = error ? (error.code ?? error.signal ?? 1) : 0;
      resolve({ code, stdout, stderr,
                describe: () => `${file} ${args.join(' ')} exited ${code}:\n${stdout}${stderr}` });
    });
    if (input != null) child.stdin.end(input);
  });
}

// A long-running child with its output in `log`; stopped by stop() or at exit.
export class Child {
  constructor(name, file, args, { asUser, deathSignal = 'TERM' } = {}) {
    this.name = name;
    this.log = join(root, `${name}.log`);
    const wrapped = ['--pdeathsig', deathSignal];
    if (asUser) wrapped.unshift(`--reuid=${asUser}`, `--regid=${asUser}`, '--init-groups');
    const out = openLog(this.log);
    this.process = spawn('setpriv', [...wrapped, '--', file, ...args],
                         { stdio: ['ignore', out, out], cwd: asUser ? '/' : root });
    closeSync(out);
    this.exited = new Promise((resolve) => this.process.on('exit', (code, signal) => {
      children.delete(this);
      resolve(code ?? signal);
    }));
    children.add(this);
  }

  text() {
    try {
      return readFileSync(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  tail(lines = 30) {
    return this.text().trimEnd().split('\n').slice(-lines).join('\n');
  }

  // The first JSON log line whose msg is `msg` and which has every member of `where`.
  async logLine(msg, where = {}, timeoutMs = 20000) {
    return waitFor(`${this.name} to log "${msg}" ${JSON.stringify(where)}`, () => {
      for (const line of this.text().split('\n')) {
        if (!line.startsWith('{')) continue;
        let json;
        try {
          json = JSON.parse(line);
        } catch {
          continue;
        }
        if (json.msg === msg && Object.entries(where).every(([k, v]) => json[k] === v)) return json;
      }
      if (this.process.exitCode != null) {
        const error = new Error(`${this.name} exited ${this.process.exitCode}:\n${this.tail()}`);
        throw Object.assign(error, { fatal: true });
      }
      return null;
    }, { timeoutMs });
  }

  async stop(signal = 'SIGTERM', timeoutMs = 10000) {
    if (this.process.exitCode != null || this.process.signalCode != null) return this.exited;
    this.process.kill(signal);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

function openLog(path) {
  if (!existsSync(path)) writeFileSync(path, '');
  return openSync(path, 'a');  // a restarted child appends to its log
}

// --- PostgreSQL ------------------------------------------------------------------------------

function postgresBin() {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    if (existsSync(join(base, v, 'bin', 'postgres'))) return join(base, v, 'bin');
  }
  throw new Error('PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: install ' +
                  'the postgresql package (deploy/install-deps.sh)');
}

export class Postgres {
  async start(port) {
    this.bin = postgresBin();
    this.dir = join(root, 'pg');
    mkdirSync(this.dir);
    this.user = process.getuid() === 0 ? 'postgres' : undefined;
    if (this.user) {
      const id = await run('id', ['-u', 'postgres']);
      const gid = await run('id', ['-g', 'postgres']);
      if (id.code !== 0) {
        throw new Error('running as root, and there is no user postgres to run PostgreSQL as');
      }
      chownSync(this.dir, Number(id.stdout), Number(gid.stdout));
    }
    const switchUser = this.user
      ? ['setpriv', `--reuid=${this.user}`, `--regid=${this.user}`, '--init-groups'] : [];
    const asUser = (file, args) =>
      (this.user ? run(switchUser[0], [...switchUser.slice(1), file, ...args]) : run(file, args));
    const init = await asUser(join(this.bin, 'initdb'),
                              ['-D', join(this.dir, 'data'), '-A', 'trust', '-U', 'grove',
                               '-E', 'UTF8', '--locale=C', '--no-sync']);
    if (init.code !== 0) throw new Error(`initdb failed: ${init.describe()}`);
    this.port = port;
    this.server = new Child('postgres', join(this.bin, 'postgres'),
                            ['-D', join(this.dir, 'data'), '-p', String(port), '-k', this.dir,
                             '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
                             '-c', 'max_connections=60'],
                            { asUser: this.user, deathSignal: 'QUIT' });
    await waitFor('PostgreSQL to accept connections', () => {
      const pid = join(this.dir, 'data', 'postmaster.pid');
      if (this.server.process.exitCode != null) {
        throw Object.assign(new Error(`postgres exited:\n${this.server.tail()}`), { fatal: true });
      }
      return existsSync(pid) && readFileSync(pid, 'utf8').split('\n')[7]?.startsWith('ready');
    }, { timeoutMs: 30000 });
    const created = await run(join(this.bin, 'createdb'),
                              ['-h', '127.0.0.1', '-p', String(port), '-U', 'grove', 'grove']);
    if (created.code !== 0) throw new Error(`createdb failed: ${created.describe()}`);
    this.url = `postgresql://grove@127.0.0.1:${port}/grove`;
  }

  // Runs SQL with psql; its output (tuples only).
  async sql(statement) {
    const psql = existsSync(join(this.bin, 'psql')) ? join(this.bin, 'psql') : 'psql';
    const r = await run(psql, ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-d', this.url,
                               '-c', statement]);
    if (r.code !== 0) throw new Error(`psql failed: ${r.describe()}`);
    return r.stdout.trim();
  }

  async stop() {
    await this.server?.stop('SIGINT', 20000);
  }
}

// A free loopback port (for PostgreSQL, which cannot be given port 0).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// --- Grove ------------------------------------------------------------------------------------

// Starts the child `make` returns for `count` free ports, and returns its "started" log line; tries
// other ports when one was taken in between.
async function startOnFreePorts(count, make) {
  for (let attempt = 1; ; ++attempt) {
    const ports = [];
    while (ports.length < count) ports.push(await freePort());
    const child = make(ports);
    try {
      return await child.logLine('started');
    } catch (error) {
      if (attempt >= 3 || !/in use/i.test(child.text())) throw error;
    }
  }
}

export class Relay {
  constructor(dbUrl) {
    this.dbUrl = dbUrl;
    this.data = join(root, 'relay');
  }

  async start() {
    const started = await startOnFreePorts(2, ([sync, admin]) => {
      this.child = new Child('relay', binary('grove-relay'),
                             ['--data', this.data, '--db', this.dbUrl,
                              '--listen', `127.0.0.1:${sync}`, '--admin', `127.0.0.1:${admin}`,
                              // Cheaper password hashing for the lockout's many failed sign-ins
                              // (accounts made by `admin add` keep the default cost).
                              '--console.argon2_memory_kib', '8192',
                              '--console.argon2_passes', '1']);
      return this.child;
    });
    this.sync = started.sync;
    this.admin = `http://${started.admin}`;
    this.cardFile = join(this.data, 'relay.card');
    await waitFor('the relay card file', () => existsSync(this.cardFile));
  }

  async addAdmin(name, password) {
    const file = join(root, `${name}.password`);
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    const r = await run(binary('grove-relay'),
                        ['admin', 'add', '--db', this.dbUrl, '--password-file', file, name],
                        { timeoutMs: 60000 });
    if (r.code !== 0) throw new Error(`grove-relay admin add failed: ${r.describe()}`);
  }

  peerArgs() {
    return ['--relay', this.sync, '--relay-card', `@${this.cardFile}`];
  }
}

// Makes a device's data folder with `grove init`: its { device, card } (from `grove identity`).
export async function initDevice(data, name) {
  const made = await run(binary('grove'), ['init', '--data', data, '--name', name]);
  if (made.code !== 0) throw new Error(`grove init failed: ${made.describe()}`);
  const shown = await run(binary('grove'), ['identity', '--data', data, '--json']);
  if (shown.code !== 0) throw new Error(`grove identity failed: ${shown.describe()}`);
  const { device, card } = JSON.parse(shown.stdout);
  return { device, card };
}

// One device: `grove init` makes it; start() runs its grove-peer; cli() runs `grove` against it.
export class Device {
  constructor(name) {
    this.name = name;
    this.data = join(root, `device-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
  }

  async init() {
    Object.assign(this, await initDevice(this.data, this.name));
    return this;
  }

  async start(args) {
    const started = await startOnFreePorts(2, ([sync, api]) => {
      this.child = new Child(`peer-${this.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`,
                             binary('grove-peer'),
                             ['--data', this.data, '--listen', `127.0.0.1:${sync}`,
                              '--api', `127.0.0.1:${api}`, ...args]);
      return this.child;
    });
    this.sync = started.sync;
    this.api = started.api;
    this.token = readFileSync(join(this.data, 'api-token'), 'utf8').trim();
  }

  // `grove ARGS --data DIR --api ADDRESS --json`, parsed; throws with the output on failure.
  async cli(...args) {
    const r = await run(binary('grove'),
                        [...args, '--data', this.data, '--api', this.api, '--json']);
    if (r.code !== 0) {
      throw new Error(`grove ${args.join(' ')} (${this.name}) failed: ${r.describe()}`);
    }
    return r.stdout.trim() ? JSON.parse(r.stdout) : null;
  }

  // GET on the peer's own API (/api/v1/...).
  async apiGet(path) {
    const response = await fetch(`http://${this.api}/api/v1${path}`,
                                 { headers: { Authorization: `Bearer ${this.token}` } });
    if (!response.ok) {
      throw new Error(`GET ${path} on ${this.name}: ${response.status} ${await response.text()}`);
    }
    return response.json();
  }
}

export async function cleanup() {
  await Promise.all([...children].filter((c) => c.name !== 'postgres').map((c) => c.stop()));
  await Promise.all([...children].map((c) => c.stop('SIGINT', 20000)));
  if (!process.env.GROVE_CONSOLE_KEEP) rmSync(root, { recursive: true, force: true });
}

// Last lines of every child's log, for a failure report.
export function logTails(lines = 25) {
  return readdirSync(root).filter((f) => f.endsWith('.log')).map((f) => {
    const text = readFileSync(join(root, f), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    return `---- ${f} (last ${lines} lines) ----\n${text}`;
  }).join('\n');
}
