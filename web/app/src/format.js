// Showing and reading typed values (FieldValue in schemas/openapi.yaml). Money is integer minor
// units; it is read from text by its digits, never through floating point.
const DIGITS = { JPY: 0, KRW: 0 };
export const minorDigits = (currency) => DIGITS[currency] ?? 2;

export function formatMoney(m) {
  if (!m || typeof m !== 'object' || m.minor === undefined) return '';
  const d = minorDigits(m.currency);
  const neg = m.minor < 0;
  let s = String(Math.abs(m.minor)).padStart(d + 1, '0');
  let whole = d ? s.slice(0, -d) : s;
  const frac = d ? s.slice(-d) : '';
  whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${whole}${frac ? `.${frac}` : ''} ${m.currency}`;
}

// "1,234.5" -> minor units (123450) or null when it is not a number.
export function parseMoney(text, currency) {
  const t = String(text).trim().replace(/[,\s]/g, '');
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(t);
  if (!m || (m[2] === '' && !m[3])) return null;
  const d = minorDigits(currency);
  const frac = m[3] || '';
  if (frac.length > d) return null;
  const minor = Number(`${m[2] || '0'}${frac.padEnd(d, '0')}`);
  if (!Number.isSafeInteger(minor)) return null;
  return m[1] ? -minor : minor;
}

export function moneyInput(m) {
  if (!m || m.minor === undefined) return '';
  const d = minorDigits(m.currency);
  const neg = m.minor < 0;
  const s = String(Math.abs(m.minor)).padStart(d + 1, '0');
  return `${neg ? '-' : ''}${d ? `${s.slice(0, -d)}.${s.slice(-d)}` : s}`;
}

export function formatTime(ms) {
  if (typeof ms !== 'number') return '';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// ms <-> the value of <input type="datetime-local"> (local time).
export function toLocalInput(ms) {
  if (typeof ms !== 'number') return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}
export function fromLocalInput(text) {
  if (!text) return null;
  const ms = new Date(text).getTime();
  return Number.isNaN(ms) ? null : ms;
}

export function formatDuration(ms) {
  if (ms <= 0) return '0s';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${sec}s`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

export function shortId(id) {
  return id ? `${id.slice(0, 8)}…` : '';
}

export const title = (s) => String(s || '').replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

// A short text for any value; `names` maps device ids to member names, `labels` record ids to
// labels.
export function formatValue(value, field, { names = {}, labels = {} } = {}) {
  if (value === null || value === undefined) return '';
  const kind = field?.type;
  if (kind === 'time' && typeof value === 'number') return formatTime(value);
  if (kind === 'member' && typeof value === 'string') return names[value] || shortId(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'object') {
    if ('minor' in value) return formatMoney(value);
    if ('ref' in value) return labels[value.ref] || value.ref;
    if ('blob_base64' in value) return '(binary)';
    if ('value' in value) return formatValue(value.value, field, { names, labels });
  }
  return String(value);
}

// A record's label: its most telling text field.
export function recordLabel(record) {
  if (!record) return '';
  const f = record.fields || {};
  for (const k of ['number', 'title', 'sku', 'name']) {
    if (typeof f[k] === 'string' && f[k]) {
      return k === 'sku' && f.name ? `${f.sku} · ${f.name}` : f[k];
    }
  }
  return record.id;
}

export function refId(value) {
  if (!value) return '';
  return typeof value === 'object' ? value.ref : value;
}

// An attachment's id (64 hex digits) from a field or list value: the API answers it as the
// id text or as its 32 bytes ({blob_base64}).
export function attachmentId(value) {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof value.blob_base64 === 'string') {
    const bytes = atob(value.blob_base64);
    let hex = '';
    for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, '0');
    return hex;
  }
  return '';
}
