// Small shared pieces: errors, copy, QR codes, the sync badge, a ticking clock.
import qrcode from 'qrcode-generator';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { formatTime } from './format.js';
import { syncState, useStatus } from './status.js';

export function ErrorText({ error, id }) {
  if (!error) return null;
  const rule = error.rule ? `Refused by the ${error.rule} rule: ` : '';
  return <p class="error" role="alert" id={id}>{rule}{error.message || String(error)}</p>;
}

export function Loading({ what = 'Loading' }) {
  return <p class="muted" role="status">{what}…</p>;
}

export function CopyButton({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Without clipboard access (plain http on another host): select the text for Ctrl+C.
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand?.('copy');
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 2000);
  };
  return (
    <button type="button" class="secondary" onClick={copy}>
      {done ? 'Copied' : label}
    </button>
  );
}

// A QR code of `text` as an SVG path (no inline styles: CSP).
export function QrCode({ text, label }) {
  const path = useMemo(() => {
    const qr = qrcode(0, 'L');
    qr.addData(text, 'Byte');
    qr.make();
    const n = qr.getModuleCount();
    let d = '';
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) if (qr.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
    }
    return { d, size: n + 8 };
  }, [text]);
  return (
    <svg class="qr" viewBox={`0 0 ${path.size} ${path.size}`} role="img" aria-label={label}
         shape-rendering="crispEdges">
      <rect width={path.size} height={path.size} fill="#fff" />
      <path d={path.d} fill="#000" />
    </svg>
  );
}

export function useNow(everyMs = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function SyncBadge() {
  const status = useStatus();
  const sync = syncState(status);
  let text;
  let cls;
  if (sync.state === 'offline') {
    cls = 'offline';
    text = sync.unreachable ? 'Peer not answering'
      : `Offline since ${sync.offline_since_ms ? formatTime(sync.offline_since_ms) : '…'}`;
    if (sync.pending) text += ` · ${sync.pending} to send`;
  } else if (sync.state === 'syncing') {
    cls = 'syncing';
    text = sync.pending ? `Syncing ${sync.pending} change${sync.pending === 1 ? '' : 's'}` : 'Syncing';
  } else {
    cls = 'ok';
    text = 'Up to date';
  }
  return (
    <p class={`badge sync-${cls}`} id="sync-badge" role="status" aria-live="polite"
       data-state={sync.state}>
      <span class="dot" aria-hidden="true" />{text}
    </p>
  );
}

// Focuses the page's h1 when the view changes, so keyboard and screen-reader users land on it.
export function useFocusHeading(key) {
  useEffect(() => {
    const h = document.querySelector('main h1');
    if (h && document.activeElement?.tagName !== 'INPUT') h.focus({ preventScroll: false });
  }, [key]);
}
