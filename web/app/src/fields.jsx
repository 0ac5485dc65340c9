// Editors for the field kinds of a tool type (docs/tools.md): each keeps a draft (what the input
// shows) and turns it into the API's value on save (toApi), or says what is wrong.
import { useState } from 'preact/hooks';
import { api, get, query, recordPath, wsPath } from './api.js';
import {
  attachmentId, formatMoney, formatValue, fromLocalInput, moneyInput, parseMoney, recordLabel, refId,
  toLocalInput,
} from './format.js';
import { useLive } from './live.js';

const EDITABLE = new Set(['text', 'integer', 'money', 'date', 'time', 'flag', 'enum', 'reference',
                          'member', 'attachment']);
export const isEditable = (f) => EDITABLE.has(f.type) && !f.readonly && !f.computed;

export function fromApi(field, value) {
  switch (field.type) {
    case 'money':
      return { amount: moneyInput(value), currency: value?.currency || field.currency || '' };
    case 'time':
      return toLocalInput(value);
    case 'flag':
      return value === true;
    case 'reference':
      return refId(value);
    case 'attachment':
      return attachmentId(value);
    case 'integer':
      return value === null || value === undefined ? '' : String(value);
    default:
      return value === null || value === undefined ? '' : String(value);
  }
}

// The API value of a draft: {value} or {error}. An empty draft is null (unset).
export function toApi(field, draft, { currency } = {}) {
  switch (field.type) {
    case 'money': {
      if (!draft || String(draft.amount).trim() === '') return { value: null };
      const cur = (draft.currency || field.currency || currency || '').toUpperCase();
      if (!/^[A-Z]{3}$/.test(cur)) return { error: 'choose a currency (three letters, e.g. EUR)' };
      const minor = parseMoney(draft.amount, cur);
      if (minor === null) return { error: 'enter an amount like 12.50' };
      return { value: { minor, currency: cur } };
    }
    case 'integer': {
      const t = String(draft).trim();
      if (t === '') return { value: null };
      if (!/^-?\d+$/.test(t)) return { error: 'enter a whole number' };
      return { value: Number(t) };
    }
    case 'time': {
      if (!draft) return { value: null };
      const ms = fromLocalInput(draft);
      return ms === null ? { error: 'enter a date and time' } : { value: ms };
    }
    case 'flag':
      return { value: !!draft };
    default:
      return { value: draft === '' ? null : draft };
  }
}

export const sameValue = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

// Records of one type as <option>s (labels by number/title/name/sku).
export function useRecordOptions(ws, type) {
  return useLive(async () => {
    if (!type) return [];
    const page = await get(`${wsPath(ws)}/records${query({ type, limit: 1000, sort: 'id' })}`);
    return page.records.map((r) => ({ id: r.id, label: recordLabel(r) }));
  }, [ws, type], (e) => (e.kind === 'record' || e.kind === 'workspace') && e.workspace === ws);
}

function RefSelect({ ws, field, id, value, onChange, disabled, describedBy }) {
  const options = useRecordOptions(ws, field.to);
  const list = options.data || [];
  return (
    <select id={id} value={value} disabled={disabled} aria-describedby={describedBy}
            onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="">{options.loading ? 'Loading…' : '— none —'}</option>
      {list.map((o) => <option key={o.id} value={o.id}>{o.label}</option>)}
      {value && !list.some((o) => o.id === value) && <option value={value}>{value}</option>}
    </select>
  );
}

function AttachmentInput({ ws, id, value, onChange, disabled, describedBy }) {
  const [busy, setBusy] = useState('');
  const upload = async (e) => {
    const file = e.currentTarget.files?.[0];
    if (!file) return;
    setBusy(`Uploading ${file.name}…`);
    try {
      const a = await api('POST', `${wsPath(ws)}/attachments${query({ name: file.name, type: file.type })}`, file);
      onChange(a.id, a);
      setBusy(`Uploaded ${a.name}`);
    } catch (error) {
      setBusy(`Upload failed: ${error.message}`);
    }
  };
  return (
    <span class="attach">
      <input type="file" id={id} disabled={disabled} aria-describedby={describedBy} onChange={upload} />
      {value && <AttachmentLink ws={ws} id={value} />}
      {busy && <span class="muted" role="status">{busy}</span>}
    </span>
  );
}

export function AttachmentLink({ ws, id, name }) {
  return (
    <a href={`/api/v1${wsPath(ws)}/attachments/${encodeURIComponent(id)}`} download={name || true}>
      {name || `attachment ${id.slice(0, 8)}…`}
    </a>
  );
}

// One input for one field; `value` is the draft.
export function FieldInput({ ws, field, id, value, onChange, disabled, members = [], describedBy,
                             currency }) {
  const common = { id, disabled, 'aria-describedby': describedBy };
  switch (field.type) {
    case 'money':
      return (
        <span class="money">
          <input {...common} inputMode="decimal" value={value?.amount ?? ''} placeholder="0.00"
                 onInput={(e) => onChange({ ...value, amount: e.currentTarget.value })} />
          {field.currency ? <span class="cur">{field.currency}</span>
            : (
              <select aria-label={`${field.title} currency`} disabled={disabled}
                      value={value?.currency || currency || 'EUR'}
                      onChange={(e) => onChange({ ...value, currency: e.currentTarget.value })}>
                {['EUR', 'USD', 'GBP', 'CHF', 'JPY'].map((c) => <option key={c}>{c}</option>)}
              </select>
            )}
        </span>
      );
    case 'integer':
      return <input {...common} inputMode="numeric" value={value}
                    onInput={(e) => onChange(e.currentTarget.value)} />;
    case 'date':
      return <input {...common} type="date" value={value}
                    onInput={(e) => onChange(e.currentTarget.value)} />;
    case 'time':
      return <input {...common} type="datetime-local" step={1} value={value}
                    onInput={(e) => onChange(e.currentTarget.value)} />;
    case 'flag':
      return <input {...common} type="checkbox" checked={!!value}
                    onChange={(e) => onChange(e.currentTarget.checked)} />;
    case 'enum':
      return (
        <select {...common} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
          <option value="">— none —</option>
          {(field.values || []).map((v) => <option key={v} value={v}>{v}</option>)}
        </select>
      );
    case 'reference':
      return <RefSelect ws={ws} field={field} id={id} value={value} onChange={onChange}
                        disabled={disabled} describedBy={describedBy} />;
    case 'member':
      return (
        <select {...common} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
          <option value="">— nobody —</option>
          {members.map((m) => <option key={m.device} value={m.device}>{m.name}</option>)}
        </select>
      );
    case 'attachment':
      return <AttachmentInput ws={ws} id={id} value={value} onChange={onChange} disabled={disabled}
                              describedBy={describedBy} />;
    default:
      if (field.name === 'description' || field.name === 'notes' || field.name === 'address') {
        return <textarea {...common} rows={3} value={value}
                         onInput={(e) => onChange(e.currentTarget.value)} />;
      }
      return <input {...common} value={value} onInput={(e) => onChange(e.currentTarget.value)} />;
  }
}

// A value shown read-only, with references as links and attachments downloadable.
export function ValueView({ ws, field, value, names, labels }) {
  if (value === null || value === undefined || value === '') return <span class="muted">—</span>;
  if (field?.type === 'reference' || (typeof value === 'object' && value && 'ref' in value)) {
    const rid = refId(value);
    return <a href={`#/w/${ws}/r/${encodeURIComponent(rid)}`}>{labels?.[rid] || rid}</a>;
  }
  if (field?.type === 'attachment' && attachmentId(value)) {
    return <AttachmentLink ws={ws} id={attachmentId(value)} />;
  }
  if (value && typeof value === 'object' && 'minor' in value) return <span>{formatMoney(value)}</span>;
  return <span>{formatValue(value, field, { names, labels })}</span>;
}

