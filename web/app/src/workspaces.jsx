// Workspaces: the list, creating one with tools, invitations to accept, this device's card (to
// be invited: copy it or show its QR code), and one workspace's members, who is online and by
// which path, and inviting a device by its card.
import { useState } from 'preact/hooks';
import { api, get, wsPath } from './api.js';
import { formatTime, shortId, title } from './format.js';
import { useLive } from './live.js';
import { useWorkspace } from './record.jsx';
import { presence, useStatus } from './status.js';
import { CopyButton, ErrorText, Loading, QrCode } from './ui.jsx';

const TOOLS = [
  { name: 'inventory', title: 'Inventory', what: 'items, stock per location, movements' },
  { name: 'purchasing', title: 'Purchasing', what: 'suppliers, requisitions, purchase orders', requires: ['inventory'] },
  { name: 'auctions', title: 'Auctions', what: 'lots with live bids', requires: ['inventory'] },
  { name: 'service', title: 'Service cases', what: 'cases, comments, attachments', requires: ['inventory', 'purchasing'] },
];

export function withRequirements(chosen) {
  const out = new Set(chosen);
  for (const t of TOOLS) if (out.has(t.name)) for (const r of t.requires || []) out.add(r);
  return TOOLS.map((t) => t.name).filter((n) => out.has(n));
}

export function toolViews(ws, toolNames) {
  const views = [];
  const has = (n) => toolNames.includes(n);
  if (has('inventory')) views.push({ href: `#/w/${ws}/stock`, key: 'stock', title: 'Stock' });
  if (has('purchasing')) views.push({ href: `#/w/${ws}/orders`, key: 'orders', title: 'Purchase orders' });
  if (has('auctions')) views.push({ href: `#/w/${ws}/auctions`, key: 'auctions', title: 'Auctions' });
  if (has('service')) views.push({ href: `#/w/${ws}/cases`, key: 'cases', title: 'Cases' });
  return views;
}

export function HomePage({ go }) {
  const list = useLive(() => get('/workspaces'), [], (e) => e.kind === 'workspace' || e.kind === 'invitation');
  const invitations = useLive(() => get('/invitations'), [], (e) => e.kind === 'invitation' || e.kind === 'workspace');
  const identity = useLive(() => get('/identity'), [], () => false);
  return (
    <>
      <h1 tabIndex={-1}>Workspaces</h1>
      {invitations.data?.length > 0 && <Invitations list={invitations.data} reload={() => { invitations.reload(); list.reload(); }} />}
      <section aria-labelledby="ws-list-title">
        <h2 id="ws-list-title" class="sr-only">Your workspaces</h2>
        {list.error && <ErrorText error={list.error} />}
        {!list.data ? <Loading /> : list.data.length === 0 ? <p>You are not in any workspace yet: create one, or give your card to a colleague so they can invite you.</p> : (
          <ul class="cards" id="workspace-list">
            {list.data.map((w) => (
              <li key={w.id} class="card">
                <h3><a href={`#/w/${w.id}`}>{w.name}</a></h3>
                <p class="muted">{w.tools.length ? w.tools.map(title).join(', ') : 'Free-form'}</p>
                <p>{w.members.length} member{w.members.length === 1 ? '' : 's'} · {w.records} records · you are {w.role}</p>
              </li>
            ))}
          </ul>
        )}
      </section>
      <div class="two">
        <CreateWorkspace go={go} />
        <MyCard identity={identity.data} />
      </div>
    </>
  );
}

function Invitations({ list, reload }) {
  const [error, setError] = useState(null);
  const accept = async (ws) => {
    setError(null);
    try {
      await api('POST', `/invitations/${ws}/accept`, {});
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section class="panel invitations" aria-labelledby="inv-title">
      <h2 id="inv-title">Invitations</h2>
      <ul>
        {list.map((i) => (
          <li key={i.workspace}>
            <strong>{i.name}</strong> from {i.from_name} (as {i.role}){' '}
            <button type="button" onClick={() => accept(i.workspace)} data-accept={i.workspace}>
              Join {i.name}
            </button>
          </li>
        ))}
      </ul>
      <ErrorText error={error} />
    </section>
  );
}

function CreateWorkspace({ go }) {
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState(['inventory', 'purchasing']);
  const [error, setError] = useState(null);
  const all = withRequirements(chosen);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (!name.trim()) return setError({ message: 'give the workspace a name' });
    try {
      const made = await api('POST', '/workspaces', { name: name.trim(), tools: all });
      go(`#/w/${made.id}`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New workspace</h2>
      <div class="field">
        <label for="ws-name">Name</label>
        <input id="ws-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <fieldset>
        <legend>Tools</legend>
        {TOOLS.map((t) => {
          const implied = !chosen.includes(t.name) && all.includes(t.name);
          return (
            <label class="choice" key={t.name}>
              <input type="checkbox" value={t.name} checked={all.includes(t.name)} disabled={implied}
                     onChange={(e) => setChosen((c) => (e.currentTarget.checked ? [...c, t.name] : c.filter((x) => x !== t.name)))} />
              {t.title} <span class="muted">— {t.what}{implied ? ' (needed by another tool)' : ''}</span>
            </label>
          );
        })}
      </fieldset>
      <button type="submit">Create workspace</button>
      <ErrorText error={error} />
    </form>
  );
}

function MyCard({ identity }) {
  const [qr, setQr] = useState(false);
  return (
    <section class="panel" aria-labelledby="card-title">
      <h2 id="card-title">Your card</h2>
      {!identity ? <Loading /> : (
        <>
          <p>This device is <strong>{identity.name}</strong>. To be invited to a workspace, give this
            card to one of its owners (paste it, or let them scan the code).</p>
          <label for="my-card">Card of this device</label>
          <textarea id="my-card" class="mono" rows={3} readOnly value={identity.card} />
          <div class="buttons">
            <CopyButton text={identity.card} label="Copy card" />
            <button type="button" class="secondary" aria-expanded={qr} onClick={() => setQr(!qr)}>
              {qr ? 'Hide QR code' : 'Show QR code'}
            </button>
          </div>
          {qr && <QrCode text={identity.card} label={`QR code of ${identity.name}'s card`} />}
        </>
      )}
    </section>
  );
}

export function WorkspacePage({ ws }) {
  const workspace = useWorkspace(ws);
  const status = useStatus();
  const identity = useLive(() => get('/identity'), [], () => false);
  const w = workspace.data;
  if (workspace.error && !w) return <><h1 tabIndex={-1}>Workspace</h1><ErrorText error={workspace.error} /></>;
  if (!w) return <><h1 tabIndex={-1}>Workspace</h1><Loading /></>;
  const digest = status?.relay?.workspaces?.find((x) => x.workspace === ws);
  return (
    <>
      <h1 tabIndex={-1}>{w.name}</h1>
      <p class="muted">{w.tools.length ? `Tools: ${w.tools.map(title).join(', ')}` : 'Free-form workspace'} · {w.records} records · you are {w.role}
        {w.pending > 0 && ` · ${w.pending} local changes not yet sent`}</p>
      <section aria-labelledby="members-title">
        <h2 id="members-title">Members</h2>
        <table class="compact" id="members">
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Online</th><th scope="col">Path</th><th scope="col">Device</th>{w.role === 'owner' && <th scope="col"><span class="sr-only">Actions</span></th>}</tr>
          </thead>
          <tbody>
            {w.members.map((m) => {
              const me = identity.data?.device === m.device;
              const p = me ? { online: true, path: 'this device' } : presence(status, m);
              return (
                <tr key={m.device} data-device={m.device}>
                  <td>{m.name}{me && ' (you)'}</td>
                  <td>{m.role}</td>
                  <td><span class={`presence ${p.online ? 'on' : 'off'}`}>{p.online ? 'online' : 'offline'}</span></td>
                  <td>{p.online ? pathText(p.path) : '—'}</td>
                  <td class="mono" title={m.device}>{shortId(m.device)}</td>
                  {w.role === 'owner' && <td>{!me && <RemoveMember ws={ws} member={m} reload={workspace.reload} />}</td>}
                </tr>
              );
            })}
          </tbody>
        </table>
        {digest && <p class="muted">Relay: holds {digest.acked_deltas} of the {digest.held_deltas} changes this device has{digest.refused ? ` (refused: ${digest.refused})` : ''}.</p>}
        {status?.connections?.length > 0 && (
          <p class="muted">Connected since {formatTime(Math.min(...status.connections.map((c) => c.since_ms)))}.</p>
        )}
      </section>
      {w.role === 'owner' && <Invite ws={ws} reload={workspace.reload} />}
    </>
  );
}

function pathText(path) {
  if (path === 'direct') return 'direct';
  if (path === 'punched') return 'direct (through NAT)';
  if (path === 'spliced') return 'via relay';
  return path || 'direct';
}

function RemoveMember({ ws, member, reload }) {
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState(null);
  if (!confirm) {
    return <button type="button" class="secondary small" onClick={() => setConfirm(true)}>Remove {member.name}</button>;
  }
  const remove = async () => {
    try {
      await api('DELETE', `${wsPath(ws)}/members/${member.device}`);
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <span>
      <button type="button" class="danger small" onClick={remove}>Really remove {member.name}</button>{' '}
      <button type="button" class="secondary small" onClick={() => setConfirm(false)}>Keep</button>
      <ErrorText error={error} />
    </span>
  );
}

function Invite({ ws, reload }) {
  const [card, setCard] = useState('');
  const [role, setRole] = useState('member');
  const [error, setError] = useState(null);
  const [done, setDone] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setDone('');
    try {
      await api('POST', `${wsPath(ws)}/members`, { card: card.trim(), role });
      setCard('');
      setDone('Invited: the device sees the invitation when it next syncs with a member.');
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={submit} aria-labelledby="invite-title">
      <h2 id="invite-title">Invite a device</h2>
      <p>Paste the card of the colleague's device (they find it on their Workspaces page).</p>
      <div class="field">
        <label for="invite-card">Card</label>
        <textarea id="invite-card" class="mono" rows={3} value={card} placeholder="grove-card:…"
                  onInput={(e) => setCard(e.currentTarget.value)} />
      </div>
      <div class="field">
        <label for="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
          {['member', 'owner', 'auditor', 'read-only'].map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
      </div>
      <button type="submit" id="invite-submit">Invite</button>
      {done && <p role="status">{done}</p>}
      <ErrorText error={error} />
    </form>
  );
}

export function RecordsIndex({ ws, toolList }) {
  return (
    <>
      <h1 tabIndex={-1}>All record types</h1>
      {!toolList ? <Loading /> : toolList.map((t) => (
        <section key={t.name} aria-labelledby={`tool-${t.name}`}>
          <h2 id={`tool-${t.name}`}>{t.title}</h2>
          <ul class="inline">
            {t.types.map((ty) => <li key={ty.name}><a href={`#/w/${ws}/list/${ty.name}`}>{ty.title}</a></li>)}
          </ul>
        </section>
      ))}
    </>
  );
}
