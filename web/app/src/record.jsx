// The generic record page, driven by the tool definition (GET .../tools): a form with an editor
// per field kind, conflicts on the field with a choice of the value to keep, the lists (comments,
// bids, attachments) with a way to add to them, the transitions this device may run (and the rule
// that refuses the others), and the status history.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, findType, get, recordPath, tools, wsPath } from './api.js';
import {
  AttachmentLink, FieldInput, fromApi, isEditable, sameValue, toApi, ValueView,
} from './fields.jsx';
import { attachmentId, formatValue, recordLabel, refId, title } from './format.js';
import { subscribe, useLive } from './live.js';
import { ErrorText, Loading } from './ui.jsx';

// --- shared data ------------------------------------------------------------------------------

export function useWorkspace(ws) {
  return useLive(() => get(wsPath(ws)), [ws],
                 (e) => e.kind === 'workspace' && (!e.workspace || e.workspace === ws));
}

export function useTools(ws) {
  return useLive(() => tools(ws), [ws], () => false);
}

export function memberNames(workspace) {
  const names = {};
  for (const m of workspace?.members || []) names[m.device] = m.name;
  return names;
}

const labelCache = new Map();  // `${ws} ${id}` -> label, forgotten when the record changes
subscribe((e) => {
  if (e.kind === 'record') labelCache.delete(`${e.workspace} ${e.id}`);
  else if (e.kind === 'reset' || e.kind === 'workspace') labelCache.clear();
});
// Labels of the records `ids` refers to, fetched once each.
export function useLabels(ws, ids) {
  const key = [...new Set(ids.filter(Boolean))].sort().join(',');
  const [labels, setLabels] = useState({});
  useEffect(() => {
    let live = true;
    const want = key ? key.split(',') : [];
    Promise.all(want.map(async (id) => {
      const k = `${ws} ${id}`;
      if (!labelCache.has(k)) {
        labelCache.set(k, get(recordPath(ws, id)).then(recordLabel, () => id));
      }
      return [id, await labelCache.get(k)];
    })).then((pairs) => live && setLabels(Object.fromEntries(pairs)));
    return () => {
      live = false;
    };
  }, [ws, key]);
  return labels;
}

export function referencedIds(record) {
  const ids = [];
  for (const v of Object.values(record?.fields || {})) if (v && typeof v === 'object' && v.ref) ids.push(v.ref);
  for (const list of Object.values(record?.lists || {})) {
    for (const v of list) if (v && typeof v === 'object' && v.ref) ids.push(v.ref);
  }
  return ids;
}

// The states a record went through: its history is the names of the transitions it ran.
export function stateTrail(type, record) {
  const trail = [];
  let state = type?.initial || '';
  if (state) trail.push({ transition: '', state });
  for (const name of record.history || []) {
    const t = type?.transitions.find((x) => x.name === name);
    state = t ? t.to : state;
    trail.push({ transition: t?.title && t.title !== t.name ? t.title : title(name), state });
  }
  return trail;
}

// --- the form ---------------------------------------------------------------------------------

function fieldEditableNow(field, record) {
  if (!isEditable(field)) return false;
  if (field.editable_in && record && !field.editable_in.includes(record.state)) return false;
  return true;
}

// The fields of `type` as a form; `record` null for a new record. onSaved(record id).
export function RecordForm({ ws, type, record, members, names, labels, onSaved, only }) {
  const fields = type.fields.filter((f) => !only || only.includes(f.name));
  const initial = useMemo(() => {
    const d = {};
    for (const f of fields) d[f.name] = fromApi(f, record ? record.fields[f.name] : undefined);
    return d;
  }, [record, type]);
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState({});
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState('');
  useEffect(() => setDraft(initial), [initial]);
  const currency = record?.fields?.currency || draft.currency || undefined;

  const changes = () => {
    const set = {};
    const errs = {};
    for (const f of fields) {
      if (!fieldEditableNow(f, record)) continue;
      const r = toApi(f, draft[f.name], { currency: typeof currency === 'string' ? currency : undefined });
      if (r.error) {
        errs[f.name] = r.error;
        continue;
      }
      const before = record ? record.fields[f.name] : null;
      const same = f.type === 'reference' ? refId(before) === (r.value || '')
        : f.type === 'attachment' ? attachmentId(before) === (r.value || '') : sameValue(before, r.value);
      if (!same && !(record === null && r.value === null)) set[f.name] = r.value;
      if (!record && f.required && r.value === null) errs[f.name] = 'required';
    }
    return { set, errs };
  };

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setSaved('');
    const { set, errs } = changes();
    setErrors(errs);
    if (Object.keys(errs).length) return;
    try {
      if (record) {
        if (!Object.keys(set).length) {
          setSaved('Nothing changed');
          return;
        }
        await api('PATCH', recordPath(ws, record.id), { set });
        setSaved('Saved');
        onSaved?.(record.id);
      } else {
        const made = await api('POST', `${wsPath(ws)}/records`, { type: type.name, fields: set });
        onSaved?.(made.id);
      }
    } catch (err) {
      if (err.field) {
        const name = err.field.replace(/^(fields|set)\./, '');
        if (fields.some((f) => f.name === name)) setErrors({ [name]: err.message });
      }
      setError(err);
    }
  };

  const anyEditable = fields.some((f) => fieldEditableNow(f, record));
  return (
    <form class="record-form" onSubmit={submit} noValidate>
      <div class="fields">
        {fields.filter((f) => f.type !== 'list' && f.type !== 'stock').map((f) => {
          const id = `f-${f.name}`;
          const conflicts = record?.conflicts?.[f.name];
          const editable = fieldEditableNow(f, record);
          const value = record ? (f.computed ? record.computed?.[f.name] ?? record.fields[f.name]
            : record.fields[f.name]) : undefined;
          if (!editable && !record) return null;
          // Read-only fields with nothing in them (reasons, later approvals) are left out.
          if (!editable && !conflicts && (value === null || value === undefined || value === '')) return null;
          const describedBy = [errors[f.name] && `${id}-err`, conflicts && `${id}-conflict`]
            .filter(Boolean).join(' ') || undefined;
          return (
            <div class={`field${conflicts ? ' has-conflict' : ''}`} key={f.name} data-field={f.name}>
              {editable ? <label for={id}>{f.title}{f.required && <span aria-hidden="true"> *</span>}</label>
                : <span class="label" id={`${id}-label`}>{f.title}</span>}
              <div class="control">
                {editable
                  ? <FieldInput ws={ws} field={f} id={id} value={draft[f.name]} members={members}
                                currency={typeof currency === 'string' ? currency : undefined}
                                describedBy={describedBy}
                                onChange={(v) => setDraft((d) => ({ ...d, [f.name]: v }))} />
                  : <span class="value" aria-labelledby={`${id}-label`}>
                      <ValueView ws={ws} field={f} value={value} names={names} labels={labels} />
                    </span>}
                {errors[f.name] && <p class="error" id={`${id}-err`}>{f.title}: {errors[f.name]}</p>}
                {conflicts && <Conflict ws={ws} record={record} field={f} id={`${id}-conflict`}
                                        names={names} labels={labels} onSaved={onSaved} />}
              </div>
            </div>
          );
        })}
      </div>
      {anyEditable && (
        <div class="actions">
          <button type="submit">{record ? 'Save changes' : `Create ${type.title.toLowerCase()}`}</button>
          {saved && <span class="muted" role="status">{saved}</span>}
        </div>
      )}
      <ErrorText error={error} />
    </form>
  );
}

// Concurrent values of one field: the one shown won by clock order; the user picks which to
// keep, and a set of it supersedes all of them on every peer.
function Conflict({ ws, record, field, id, names, labels, onSaved }) {
  const values = [record.fields[field.name], ...record.conflicts[field.name]];
  const [pick, setPick] = useState(0);
  const [error, setError] = useState(null);
  const keep = async () => {
    setError(null);
    try {
      await api('PATCH', recordPath(ws, record.id), { set: { [field.name]: values[pick] } });
      onSaved?.(record.id);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <fieldset class="conflict" id={id}>
      <legend>Conflict: {field.title} was changed on two devices at once. Which value should stay?</legend>
      {values.map((v, i) => (
        <label class="choice" key={i}>
          <input type="radio" name={`keep-${field.name}`} checked={pick === i}
                 onChange={() => setPick(i)} />
          {formatValue(v, field, { names, labels }) || '(empty)'}
          {i === 0 && <span class="muted"> (shown now)</span>}
        </label>
      ))}
      <button type="button" onClick={keep}>Keep this value</button>
      <ErrorText error={error} />
    </fieldset>
  );
}

// --- transitions ------------------------------------------------------------------------------

export function Transitions({ ws, type, record, onDone, members, names }) {
  const [open, setOpen] = useState(null);  // transition asking for inputs
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  if (!record.transitions?.length) return null;
  const run = async (name, fields) => {
    setError(null);
    setBusy(true);
    try {
      await api('POST', `${recordPath(ws, record.id)}/transitions`, fields ? { name, fields } : { name });
      setOpen(null);
      onDone?.();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const def = (name) => type?.transitions.find((t) => t.name === name);
  const allowed = record.transitions.filter((t) => t.allowed);
  const refused = record.transitions.filter((t) => !t.allowed && t.code !== 'state');
  return (
    <section class="transitions" aria-labelledby="transitions-title">
      <h2 id="transitions-title">Actions</h2>
      {allowed.length === 0 && <p class="muted">Nothing you can do on this record in its current state.</p>}
      <div class="buttons">
        {allowed.map((t) => {
          const d = def(t.name);
          return (
            <button type="button" key={t.name} data-transition={t.name} disabled={busy}
                    onClick={() => (d?.inputs?.length ? setOpen(t.name) : run(t.name))}>
              {d?.title || title(t.name)}
            </button>
          );
        })}
      </div>
      {open && <TransitionInputs ws={ws} type={type} def={def(open)} members={members}
                                 onCancel={() => setOpen(null)} onRun={(f) => run(open, f)} />}
      <ErrorText error={error} />
      {refused.length > 0 && (
        <div class="refused">
          <h3>Not available to you now</h3>
          <ul>
            {refused.map((t) => (
              <li key={t.name} data-refused={t.name}>
                <strong>{def(t.name)?.title || title(t.name)}</strong>
                {' — '}<span class="rule">{t.code} rule</span>: {t.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function TransitionInputs({ ws, type, def, members, onCancel, onRun }) {
  const inputs = def.inputs.map((i) => ({
    ...(type.fields.find((f) => f.name === i.name) || { name: i.name, title: title(i.name), type: 'text' }),
    required: i.required,
  }));
  const [draft, setDraft] = useState(() => Object.fromEntries(inputs.map((f) => [f.name, fromApi(f)])));
  const [error, setError] = useState('');
  const form = useRef(null);
  // Keyboard users land on the first input the step asks for.
  useEffect(() => form.current?.querySelector('input, select, textarea')?.focus(), [def.name]);
  const submit = (e) => {
    e.preventDefault();
    const fields = {};
    for (const f of inputs) {
      const r = toApi(f, draft[f.name]);
      if (r.error) return setError(`${f.title}: ${r.error}`);
      if (f.required && r.value === null) return setError(`${f.title} is required`);
      if (r.value !== null) fields[f.name] = r.value;
    }
    onRun(fields);
  };
  return (
    <form class="inputs" onSubmit={submit} ref={form}>
      <h3>{def.title}</h3>
      {inputs.map((f) => (
        <div class="field" key={f.name}>
          <label for={`in-${f.name}`}>{f.title}</label>
          <FieldInput ws={ws} field={{ ...f, readonly: false }} id={`in-${f.name}`} value={draft[f.name]}
                      members={members} onChange={(v) => setDraft((d) => ({ ...d, [f.name]: v }))} />
        </div>
      ))}
      {error && <p class="error" role="alert">{error}</p>}
      <div class="buttons">
        <button type="submit">{def.title}</button>
        <button type="button" class="secondary" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

// --- lists, history, stock ----------------------------------------------------------------------

export function Lists({ ws, type, record, names, labels, onDone, hide = [] }) {
  const listFields = type.fields.filter((f) => f.type === 'list' && !hide.includes(f.name));
  if (!listFields.length) return null;
  return listFields.map((f) => (
    <ListField key={f.name} ws={ws} field={f} record={record} names={names} labels={labels}
               onDone={onDone} />
  ));
}

function ListField({ ws, field, record, names, labels, onDone }) {
  const items = record.lists?.[field.name] || [];
  const [draft, setDraft] = useState(fromApi({ type: field.of }));
  const [error, setError] = useState(null);
  const item = { name: field.name, title: field.title, type: field.of || 'text', to: field.to };
  const editable = !field.readonly && !field.computed
    && (!field.editable_in || field.editable_in.includes(record.state));
  const add = async (e) => {
    e.preventDefault();
    setError(null);
    const r = toApi(item, draft);
    if (r.error || r.value === null) return setError({ message: r.error || 'enter something first' });
    try {
      await api('PATCH', recordPath(ws, record.id), { append: { [field.name]: r.value } });
      setDraft(fromApi(item));
      onDone?.();
    } catch (err) {
      setError(err);
    }
  };
  const id = `list-${field.name}`;
  return (
    <section class="list-field" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{field.title} <span class="muted">({items.length})</span></h2>
      {items.length ? (
        <ol class="items">
          {items.map((v, i) => (
            <li key={i}>
              {item.type === 'attachment' && attachmentId(v)
                ? <AttachmentItem ws={ws} id={attachmentId(v)} />
                : <ValueView ws={ws} field={item} value={v} names={names} labels={labels} />}
            </li>
          ))}
        </ol>
      ) : <p class="muted">None yet.</p>}
      {editable && (
        <form class="append" onSubmit={add}>
          <label for={id}>Add to {field.title.toLowerCase()}</label>
          {item.type === 'text'
            ? <textarea id={id} rows={2} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
            : <FieldInput ws={ws} field={item} id={id} value={draft} onChange={setDraft} />}
          <button type="submit">Add</button>
          <ErrorText error={error} />
        </form>
      )}
    </section>
  );
}

// An attachment with its file name (from its status: the manifest may still be on its way).
function AttachmentItem({ ws, id }) {
  const st = useLive(() => get(`${wsPath(ws)}/attachments/${id}/status`), [ws, id], () => false);
  const a = st.data;
  const name = a?.manifest ? a.name : '';
  return (
    <span>
      <AttachmentLink ws={ws} id={id} name={name} />
      {a?.manifest && <span class="muted"> ({a.size} bytes{a.state !== 'complete' ? `, ${a.state}` : ''})</span>}
    </span>
  );
}

export function History({ type, record }) {
  const trail = stateTrail(type, record);
  if (trail.length === 0) return null;
  return (
    <section class="history" aria-labelledby="history-title">
      <h2 id="history-title">Status history</h2>
      <ol>
        {trail.map((s, i) => (
          <li key={i}>
            {s.transition ? <>{s.transition} → </> : 'Created as '}
            <span class={`state state-${s.state}`}>{title(s.state)}</span>
          </li>
        ))}
      </ol>
    </section>
  );
}

export function StockLevels({ type, record }) {
  const fields = type.fields.filter((f) => f.type === 'stock');
  if (!fields.length) return null;
  return fields.map((f) => {
    const levels = record.keyed?.[f.name] || {};
    const keys = Object.keys(levels).sort();
    return (
      <section key={f.name} aria-labelledby={`stock-${f.name}`}>
        <h2 id={`stock-${f.name}`}>{f.title}</h2>
        {f.keyed ? (
          keys.length ? (
            <table class="compact">
              <thead><tr><th scope="col">Location</th><th scope="col" class="num">Level</th></tr></thead>
              <tbody>
                {keys.map((k) => <tr key={k}><td>{k}</td><td class="num">{levels[k]}</td></tr>)}
              </tbody>
            </table>
          ) : <p class="muted">No stock anywhere.</p>
        ) : <p>{record.fields[f.name] ?? 0}</p>}
      </section>
    );
  });
}

// --- the pages --------------------------------------------------------------------------------

export function RecordPage({ ws, id, extras }) {
  const rec = useLive(() => get(recordPath(ws, id)), [ws, id],
                      (e) => e.workspace === ws && (e.kind === 'workspace' || e.kind === 'record'));
  const toolList = useTools(ws);
  const workspace = useWorkspace(ws);
  const record = rec.data;
  const labels = useLabels(ws, referencedIds(record));
  if (rec.error && !record) return <><h1 tabIndex={-1}>Record</h1><ErrorText error={rec.error} /></>;
  if (!record || !toolList.data) return <><h1 tabIndex={-1}>Record</h1><Loading /></>;
  const type = findType(toolList.data, record.type)
    || { name: record.type, title: title(record.type), fields: Object.keys(record.fields).map((n) => ({ name: n, title: title(n), type: 'text' })), transitions: [], states: [], initial: '' };
  const members = workspace.data?.members || [];
  const names = memberNames(workspace.data);
  const extra = extras?.({ ws, type, record, members, names, labels, reload: rec.reload });
  return <RecordBody ws={ws} type={type} record={record} members={members} names={names}
                     labels={labels} reload={rec.reload} hideLists={extra?.hideLists}
                     after={extra?.after}>{extra?.before}</RecordBody>;
}

export function RecordBody({ ws, type, record, members, names, labels, reload, children, hideLists, after }) {
  const conflicts = Object.keys(record.conflicts || {});
  return (
    <>
      <Crumb ws={ws} type={type} />
      <h1 tabIndex={-1}>
        {type.title}: {recordLabel(record)}
        {record.state && <span class={`state state-${record.state}`}>{title(record.state)}</span>}
      </h1>
      {conflicts.length > 0 && (
        <p class="warning" role="alert">
          {conflicts.length === 1 ? 'One field was' : `${conflicts.length} fields were`} changed on two
          devices at once: choose the value to keep below.
        </p>
      )}
      {children}
      <div class="record-layout">
        <div>
          <RecordForm ws={ws} type={type} record={record} members={members} names={names}
                      labels={labels} onSaved={reload} />
          <StockLevels type={type} record={record} />
          <Lists ws={ws} type={type} record={record} names={names} labels={labels} onDone={reload}
                 hide={hideLists} />
          {after}
        </div>
        <div>
          <Transitions ws={ws} type={type} record={record} onDone={reload} members={members}
                       names={names} />
          <History type={type} record={record} />
        </div>
      </div>
    </>
  );
}

// Back to where records of this type are shown: the tool's own view, else the generic list.
const TOOL_VIEW = {
  item: ['stock', 'Stock'], receipt: ['stock', 'Stock'], issue: ['stock', 'Stock'],
  transfer: ['stock', 'Stock'], stock_count: ['stock', 'Stock'],
  purchase_order: ['orders', 'Purchase orders'], lot: ['auctions', 'Auctions'], case: ['cases', 'Cases'],
};
function Crumb({ ws, type }) {
  const view = TOOL_VIEW[type.name];
  return (
    <p class="crumbs">
      {view && <><a href={`#/w/${ws}/${view[0]}`}>{view[1]}</a>{' · '}</>}
      <a href={`#/w/${ws}/list/${type.name}`}>All {type.title.toLowerCase()} records</a>
    </p>
  );
}

export function NewRecordPage({ ws, typeName, go }) {
  const toolList = useTools(ws);
  const workspace = useWorkspace(ws);
  if (!toolList.data) return <><h1 tabIndex={-1}>New record</h1><Loading /></>;
  const type = findType(toolList.data, typeName);
  if (!type) return <><h1 tabIndex={-1}>New record</h1><p>No record type {typeName} here.</p></>;
  return (
    <>
      <Crumb ws={ws} type={type} />
      <h1 tabIndex={-1}>New {type.title.toLowerCase()}</h1>
      <RecordForm ws={ws} type={type} record={null} members={workspace.data?.members || []}
                  names={memberNames(workspace.data)} labels={{}}
                  onSaved={(id) => go(`#/w/${ws}/r/${encodeURIComponent(id)}`)} />
    </>
  );
}
