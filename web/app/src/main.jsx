// Grove's web app: signs in (the peer's token or a one-time link, #login=CODE), then routes on
// the URL's hash. Works against the local peer only, so it works with no network at all.
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, get, setSignedOutHandler, signIn, signOut } from './api.js';
import { startEvents, stopEvents, useLive } from './live.js';
import { ListPage } from './list.jsx';
import { NewRecordPage, RecordPage, useTools, useWorkspace } from './record.jsx';
import { startStatus, stopStatus } from './status.js';
import {
  AuctionsPage, CasesPage, LotExtras, Movements, OrderExtras, OrdersPage, StockPage,
} from './tools.jsx';
import { ErrorText, SyncBadge, useFocusHeading } from './ui.jsx';
import { HomePage, RecordsIndex, toolViews, WorkspacePage } from './workspaces.jsx';

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function go(hash, replace = false) {
  if (replace) {
    history.replaceState(null, '', hash);
    dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

function SignIn({ onSignedIn, message }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(message ? { message } : null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await signIn({ token: token.trim() });
      onSignedIn();
    } catch (err) {
      setError(err.status === 401 || err.status === 403 ? { message: 'That token is not right for this peer.' } : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="signin">
      <h1>Sign in to Grove</h1>
      <p>This is the web app of the Grove peer on this computer. Sign in with the peer's token
        (the <code>api-token</code> file in its data folder), or open a one-time link from
        <code> grove web-link</code>.</p>
      <form onSubmit={submit} class="panel">
        <div class="field">
          <label for="token">Peer token</label>
          <input id="token" type="password" autocomplete="current-password" value={token}
                 onInput={(e) => setToken(e.currentTarget.value)} required
                 aria-describedby={error ? 'signin-error' : undefined} />
        </div>
        <button type="submit" id="signin-submit" disabled={busy}>Sign in</button>
        <ErrorText error={error} id="signin-error" />
      </form>
    </main>
  );
}

function parseRoute(hash) {
  const [path, q = ''] = hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(q) };
}

function WorkspaceNav({ ws, current }) {
  const workspace = useWorkspace(ws);
  const w = workspace.data;
  const views = w ? toolViews(ws, w.tools) : [];
  const links = [{ href: `#/w/${ws}`, key: 'overview', title: 'Members' }, ...views,
                 { href: `#/w/${ws}/records`, key: 'records', title: 'All records' }];
  return (
    <nav class="wsnav" aria-label={`${w?.name || 'Workspace'} views`}>
      <p class="wsname">{w?.name || '…'}</p>
      <ul>
        {links.map((l) => (
          <li key={l.key}><a href={l.href} aria-current={current === l.key ? 'page' : undefined}>{l.title}</a></li>
        ))}
      </ul>
    </nav>
  );
}

function RecordsRoute({ ws }) {
  const toolList = useTools(ws);
  return <RecordsIndex ws={ws} toolList={toolList.data} />;
}

function extrasFor({ ws, type, record, names, reload }, identity) {
  switch (type.name) {
    case 'purchase_order':
      return { before: <OrderExtras ws={ws} record={record} names={names} reload={reload} /> };
    case 'lot':
      return { before: <LotExtras ws={ws} record={record} names={names} identity={identity} reload={reload} />,
               hideLists: ['bids', 'sealed_bids', 'openings'] };
    case 'item':
      return { after: <Movements ws={ws} item={record} /> };
    default:
      return null;
  }
}

function Routed({ route, identity }) {
  const { parts, params } = route;
  const key = parts.join('/');
  useFocusHeading(key);
  if (parts[0] !== 'w' || !parts[1]) return <HomePage go={go} />;
  const ws = parts[1];
  const view = parts[2] || 'overview';
  let page;
  let current = view;
  switch (view) {
    case 'stock': page = <StockPage ws={ws} />; break;
    case 'orders': page = <OrdersPage ws={ws} />; break;
    case 'auctions': page = <AuctionsPage ws={ws} />; break;
    case 'cases': page = <CasesPage ws={ws} />; break;
    case 'records': page = <RecordsRoute ws={ws} />; break;
    case 'list': page = <ListPage ws={ws} typeName={parts[3]} params={params} go={go} />; current = 'records'; break;
    case 'new': page = <NewRecordPage ws={ws} typeName={parts[3]} go={go} />; current = ''; break;
    case 'r': page = <RecordPage ws={ws} id={parts[3]} extras={(ctx) => extrasFor(ctx, identity)} />; current = ''; break;
    default: page = <WorkspacePage ws={ws} />; current = 'overview';
  }
  return (
    <div class="ws-layout">
      <WorkspaceNav ws={ws} current={current} />
      <div class="ws-main">{page}</div>
    </div>
  );
}

function Shell({ onSignOut }) {
  const hash = useHash();
  const route = parseRoute(hash);
  const identity = useLive(() => get('/identity'), [], () => false);
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.querySelector('main h1')?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/"><img src="icon.svg" alt="" width="24" height="24" />Grove</a>
        <nav aria-label="Main"><a href="#/" aria-current={route.parts.length === 0 ? 'page' : undefined}>Workspaces</a></nav>
        <SyncBadge />
        <span class="device">{identity.data?.name}</span>
        <button type="button" class="secondary small" onClick={onSignOut} id="signout">Sign out</button>
      </header>
      <main id="main">
        <Routed route={route} identity={identity.data?.device} />
      </main>
    </>
  );
}

function App() {
  const [phase, setPhase] = useState('loading');
  const [message, setMessage] = useState('');
  const enter = () => {
    setPhase('app');
    startEvents();
    startStatus();
  };
  const leave = (why = '') => {
    stopEvents();
    stopStatus();
    setMessage(why);
    setPhase('signin');
  };
  useEffect(() => {
    setSignedOutHandler(() => leave('Your session ended: sign in again.'));
    (async () => {
      const m = /(?:^#|&)login=([^&]+)/.exec(location.hash);
      if (m) {
        // A one-time link: spend the code, and take it out of the address bar and history.
        history.replaceState(null, '', `${location.pathname}${location.search}#/`);
        try {
          await signIn({ link: decodeURIComponent(m[1]) });
          return enter();
        } catch (err) {
          return leave(err.status === 401 || err.status === 403 || err.status === 404
            ? 'That sign-in link was used already or has expired: ask for a new one, or sign in with the peer token.'
            : err.message);
        }
      }
      try {
        const s = await currentSession();
        if (s) enter();
        else leave();
      } catch (err) {
        leave(err.message);
      }
    })();
  }, []);
  if (phase === 'loading') return <p class="boot" role="status">Loading Grove…</p>;
  if (phase === 'signin') return <SignIn message={message} onSignedIn={enter} />;
  return <Shell onSignOut={async () => { await signOut().catch(() => {}); leave(); }} />;
}

render(<App />, document.getElementById('root'));
