// The generic list of one record type: filter (state, one field), search, sort and order, read
// page by page from the API (offset/limit) and virtualised: only the rows in view (and a few
// around them) are in the DOM, so 10,000 records scroll as easily as 10.
import { useEffect, useRef, useState } from 'preact/hooks';
import { findType, get, query, wsPath } from './api.js';
import { formatValue, title } from './format.js';
import { subscribe } from './live.js';
import { memberNames, referencedIds, useLabels, useTools, useWorkspace } from './record.jsx';
import { ErrorText, Loading } from './ui.jsx';

const ROW = 40;       // px, fixed (app.css .vtable td)
const PAGE = 200;     // records per request
const OVERSCAN = 8;   // rows above and below the view

export function VirtualRecords({ ws, params, columns, names, onCount, height = 520, caption }) {
  const [total, setTotal] = useState(null);
  const [error, setError] = useState(null);
  const [, setTick] = useState(0);
  const [top, setTop] = useState(0);
  const pages = useRef(new Map());
  const gen = useRef(0);
  const key = JSON.stringify(params);
  const box = useRef(null);

  const load = (p) => {
    if (pages.current.has(p)) return;
    pages.current.set(p, null);
    const mine = gen.current;
    get(`${wsPath(ws)}/records${query({ ...params, offset: p * PAGE, limit: PAGE })}`).then((res) => {
      if (mine !== gen.current) return;
      pages.current.set(p, res.records);
      setTotal(res.total);
      onCount?.(res.total);
      setError(null);
      setTick((t) => t + 1);
    }, (err) => {
      if (mine !== gen.current) return;
      pages.current.delete(p);
      setError(err);
    });
  };
  const reset = () => {
    gen.current++;
    const old = pages.current;
    pages.current = new Map();
    // keep showing the old rows until the new ones come
    for (const [p, rows] of old) if (rows) pages.current.set(`old${p}`, rows);
  };

  useEffect(() => {
    reset();
    setTotal(null);
    if (box.current) box.current.scrollTop = 0;
    setTop(0);
    load(0);
  }, [ws, key]);

  useEffect(() => {
    let timer = null;
    return subscribe((e) => {
      if (e.kind !== 'reset' && !((e.kind === 'record' || e.kind === 'workspace') && e.workspace === ws)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        reset();
        setTick((t) => t + 1);
      }, 150);
    });
  }, [ws]);

  const count = total ?? 0;
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((top + height) / ROW) + OVERSCAN);
  useEffect(() => {
    if (total === null) return;
    for (let p = Math.floor(first / PAGE); p <= Math.floor(Math.max(first, last - 1) / PAGE); p++) load(p);
  });

  const rowAt = (i) => {
    const p = Math.floor(i / PAGE);
    return pages.current.get(p)?.[i % PAGE] || pages.current.get(`old${p}`)?.[i % PAGE];
  };
  const rows = [];
  for (let i = first; i < last; i++) rows.push([i, rowAt(i)]);
  // Referenced records by their labels (suppliers, items), fetched once each.
  const labels = useLabels(ws, rows.flatMap(([, r]) => (r ? referencedIds(r) : [])));
  const boxHeight = Math.min(height, 46 + Math.max(count, 2) * ROW);

  if (error && total === null) return <ErrorText error={error} />;
  if (total === null) return <Loading what="Loading records" />;
  return (
    <div class="vscroll" ref={box} style={{ height: `${boxHeight}px` }} tabIndex={0}
         role="region" aria-label={`${caption}, ${count} records (scrollable)`}
         onScroll={(e) => setTop(e.currentTarget.scrollTop)}>
      <table class="vtable" aria-rowcount={count + 1}>
        <caption class="sr-only">{caption}</caption>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map((c) => <th scope="col" key={c.key} class={c.num ? 'num' : ''}>{c.title}</th>)}
          </tr>
        </thead>
        <tbody>
          {first > 0 && <tr class="spacer" aria-hidden="true"><td colSpan={columns.length} style={{ height: `${first * ROW}px` }} /></tr>}
          {rows.map(([i, r]) => (
            <tr key={i} aria-rowindex={i + 2} data-index={i}>
              {columns.map((c, ci) => (
                <td key={c.key} class={c.num ? 'num' : ''}>
                  {!r ? (ci === 0 ? <span class="muted">…</span> : '')
                    : ci === 0
                      ? <a href={`#/w/${ws}/${c.link ? c.link(r) : `r/${encodeURIComponent(r.id)}`}`}>{c.value(r, names, labels) || r.id}</a>
                      : c.value(r, names, labels)}
                </td>
              ))}
            </tr>
          ))}
          {last < count && <tr class="spacer" aria-hidden="true"><td colSpan={columns.length} style={{ height: `${(count - last) * ROW}px` }} /></tr>}
        </tbody>
      </table>
      {count === 0 && <p class="muted empty">No records match.</p>}
    </div>
  );
}

// Columns for a tool type: its first few plain fields, then the state.
export function columnsFor(type) {
  const shown = type.fields.filter((f) => !['list', 'stock', 'attachment'].includes(f.type)
                                            && !['description', 'notes', 'address'].includes(f.name)).slice(0, 5);
  const cols = shown.map((f) => ({
    key: f.name,
    title: f.title,
    num: ['integer', 'money', 'counter'].includes(f.type),
    value: (r, names, labels) => formatValue(f.computed ? r.computed?.[f.name] ?? r.fields[f.name] : r.fields[f.name], f, { names, labels }),
  }));
  if (type.states?.length) cols.push({ key: '_state', title: 'State', value: (r) => title(r.state) });
  if (!cols.length) cols.push({ key: '_id', title: 'Id', value: (r) => r.id });
  return cols;
}

// Route params <-> the hash's query (#/w/WS/list/TYPE?search=..&sort=..).
export function ListPage({ ws, typeName, params: urlParams, go }) {
  const toolList = useTools(ws);
  const workspace = useWorkspace(ws);
  const [count, setCount] = useState(null);
  const p = Object.fromEntries(urlParams);
  const [search, setSearch] = useState(p.search || '');
  useEffect(() => setSearch(p.search || ''), [p.search]);
  const whereField = Object.keys(p).find((k) => k.startsWith('where.'));
  const [fName, setFName] = useState(whereField ? whereField.slice(6) : '');
  if (!toolList.data) return <><h1 tabIndex={-1}>Records</h1><Loading /></>;
  const type = findType(toolList.data, typeName);
  if (!type) return <><h1 tabIndex={-1}>Records</h1><p>No record type {typeName} in this workspace.</p></>;
  const update = (changes) => {
    const next = { ...p, ...changes };
    for (const k of Object.keys(next)) if (next[k] === '' || next[k] === undefined) delete next[k];
    const q = new URLSearchParams(next).toString();
    go(`#/w/${ws}/list/${typeName}${q ? `?${q}` : ''}`, true);
  };
  const filterable = type.fields.filter((f) => ['enum', 'text', 'integer', 'date', 'flag', 'member', 'reference'].includes(f.type) && !f.computed);
  const sortable = type.fields.filter((f) => !['list', 'stock', 'attachment'].includes(f.type));
  const apiParams = { type: typeName };
  for (const k of ['state', 'search', 'sort', 'order']) if (p[k]) apiParams[k] = p[k];
  if (whereField && p[whereField]) apiParams[whereField] = p[whereField];
  return (
    <>
      <h1 tabIndex={-1}>{type.title} list {count !== null && <span class="muted count">({count})</span>}</h1>
      <div class="toolbar">
        <a class="button" href={`#/w/${ws}/new/${type.name}`}>New {type.title.toLowerCase()}</a>
      </div>
      <form class="filters" role="search" onSubmit={(e) => { e.preventDefault(); update({ search }); }}>
        <div class="field">
          <label for="list-search">Search</label>
          <input id="list-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        {type.states?.length > 0 && (
          <div class="field">
            <label for="list-state">State</label>
            <select id="list-state" value={p.state || ''} onChange={(e) => update({ state: e.currentTarget.value })}>
              <option value="">Any</option>
              {type.states.map((s) => <option key={s} value={s}>{title(s)}</option>)}
            </select>
          </div>
        )}
        <div class="field">
          <label for="list-filter-field">Filter field</label>
          <select id="list-filter-field" value={fName} onChange={(e) => {
            const name = e.currentTarget.value;
            setFName(name);
            if (whereField) update({ [whereField]: '' });
          }}>
            <option value="">None</option>
            {filterable.map((f) => <option key={f.name} value={f.name}>{f.title}</option>)}
          </select>
        </div>
        {fName && (
          <div class="field">
            <label for="list-filter-value">equals</label>
            {(() => {
              const f = type.fields.find((x) => x.name === fName);
              const value = p[`where.${fName}`] || '';
              const set = (v) => {
                const changes = { [`where.${fName}`]: v };
                if (whereField && whereField !== `where.${fName}`) changes[whereField] = '';
                update(changes);
              };
              if (f?.type === 'enum' || f?.type === 'flag' || f?.type === 'member') {
                const opts = f.type === 'enum' ? f.values.map((v) => [v, v])
                  : f.type === 'flag' ? [['true', 'yes'], ['false', 'no']]
                    : (workspace.data?.members || []).map((m) => [m.device, m.name]);
                return (
                  <select id="list-filter-value" value={value} onChange={(e) => set(e.currentTarget.value)}>
                    <option value="">Any</option>
                    {opts.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
                  </select>
                );
              }
              return <input id="list-filter-value" type={f?.type === 'date' ? 'date' : 'text'} value={value}
                            onChange={(e) => set(e.currentTarget.value)} />;
            })()}
          </div>
        )}
        <div class="field">
          <label for="list-sort">Sort by</label>
          <select id="list-sort" value={p.sort || 'id'} onChange={(e) => update({ sort: e.currentTarget.value === 'id' ? '' : e.currentTarget.value })}>
            <option value="id">Created</option>
            {type.states?.length > 0 && <option value="state">State</option>}
            {sortable.map((f) => <option key={f.name} value={f.name}>{f.title}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="list-order">Order</label>
          <select id="list-order" value={p.order || 'asc'} onChange={(e) => update({ order: e.currentTarget.value === 'asc' ? '' : e.currentTarget.value })}>
            <option value="asc">Ascending</option>
            <option value="desc">Descending</option>
          </select>
        </div>
        <button type="submit" class="secondary">Search</button>
      </form>
      <VirtualRecords ws={ws} params={apiParams} columns={columnsFor(type)} onCount={setCount}
                      names={memberNames(workspace.data)} caption={`${type.title} records`} />
    </>
  );
}
