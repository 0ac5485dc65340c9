// Views made for each tool: stock by item and location (below-reorder highlighting, movement
// history), purchase orders (lines, totals, approval chain), auctions (live bids, countdown),
// and the case board by status.
import { useState } from 'preact/hooks';
import { api, get, query, recordPath, wsPath } from './api.js';
import { FieldInput, toApi, useRecordOptions } from './fields.jsx';
import { formatDuration, formatMoney, formatTime, formatValue, refId, title } from './format.js';
import { useLive } from './live.js';
import { VirtualRecords } from './list.jsx';
import { memberNames, useWorkspace } from './record.jsx';
import { ErrorText, Loading, useNow } from './ui.jsx';

const listRecords = (ws, params) => get(`${wsPath(ws)}/records${query({ limit: 1000, ...params })}`)
  .then((p) => p.records);
const onRecords = (ws) => (e) => (e.kind === 'record' || e.kind === 'workspace') && e.workspace === ws;

// --- inventory --------------------------------------------------------------------------------

const levelTotal = (item) => Object.values(item.keyed?.on_hand || {}).reduce((a, b) => a + b, 0);

export function StockPage({ ws }) {
  const items = useLive(() => listRecords(ws, { type: 'item', sort: 'sku' }), [ws], onRecords(ws));
  const [onlyLow, setOnlyLow] = useState(false);
  const list = (items.data || []).filter((i) => !onlyLow || i.computed?.below_reorder === true);
  return (
    <>
      <h1 tabIndex={-1}>Stock</h1>
      <div class="toolbar">
        <a class="button" href={`#/w/${ws}/new/item`}>New item</a>
        {['receipt', 'issue', 'transfer', 'stock_count'].map((t) => (
          <a key={t} class="button secondary" href={`#/w/${ws}/new/${t}`}>New {title(t).toLowerCase()}</a>
        ))}
        <label class="choice"><input type="checkbox" checked={onlyLow} onChange={(e) => setOnlyLow(e.currentTarget.checked)} /> Only items below their reorder point</label>
      </div>
      {items.error && <ErrorText error={items.error} />}
      {!items.data ? <Loading /> : list.length === 0 ? <p>No items{onlyLow ? ' below their reorder point' : ''}.</p> : (
        <table class="stock" id="stock-table">
          <caption class="sr-only">Stock by item and location</caption>
          <thead>
            <tr>
              <th scope="col">Item</th><th scope="col">Location</th><th scope="col" class="num">On hand</th>
              <th scope="col" class="num">Total</th><th scope="col" class="num">Reorder point</th><th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {list.map((item) => {
              const levels = Object.entries(item.keyed?.on_hand || {}).sort();
              const low = item.computed?.below_reorder === true;
              const rows = levels.length ? levels : [['—', null]];
              return rows.map(([loc, level], i) => (
                <tr key={`${item.id}-${loc}`} class={low ? 'below' : ''} data-item={item.fields.sku} data-location={loc}>
                  {i === 0 && <th scope="row" rowSpan={rows.length}><a href={`#/w/${ws}/r/${encodeURIComponent(item.id)}`}>{item.fields.sku} · {item.fields.name}</a></th>}
                  <td>{loc}</td>
                  <td class="num level">{level ?? 0}</td>
                  {i === 0 && <td class="num total" rowSpan={rows.length}>{levelTotal(item)} {item.fields.unit || ''}</td>}
                  {i === 0 && <td class="num" rowSpan={rows.length}>{item.fields.reorder_point ?? 0}</td>}
                  {i === 0 && <td rowSpan={rows.length}>{low ? <span class="flag-low">Below reorder point</span> : 'OK'}</td>}
                </tr>
              ));
            })}
          </tbody>
        </table>
      )}
    </>
  );
}

// Posted and draft movements of one item, newest first.
export function Movements({ ws, item }) {
  const moves = useLive(async () => {
    const types = ['receipt', 'issue', 'transfer', 'stock_count'];
    const lists = await Promise.all(types.map((t) => listRecords(ws, { type: t, 'where.item': item.id })
      .catch(() => [])));
    // Goods received on purchase orders: the order lines for this item that received something.
    const lines = await listRecords(ws, { type: 'po_line', 'where.item': item.id }).catch(() => []);
    const received = await Promise.all(lines.filter((l) => l.fields.received > 0).map(async (l) => {
      const order = await get(recordPath(ws, refId(l.fields.order))).catch(() => null);
      return { id: l.id, type: 'po_line', state: order?.state || '', order,
               fields: { quantity: l.fields.received, location: order?.fields.location, note: order?.fields.number } };
    }));
    return [...lists.flat(), ...received].sort((a, b) => cmpId(b.id, a.id));
  }, [ws, item.id], onRecords(ws));
  const describe = (m) => {
    const f = m.fields;
    switch (m.type) {
      case 'receipt': return [`+${f.quantity}`, f.location, f.note];
      case 'po_line': return [`+${f.quantity}`, f.location, `purchase order ${f.note || ''}`];
      case 'issue': return [`−${f.quantity}`, f.location, f.reason];
      case 'transfer': return [`${f.quantity}`, `${f.from_location} → ${f.to_location}`, f.note];
      case 'stock_count': return [f.adjustment === undefined ? `count ${f.counted}` : `${f.adjustment >= 0 ? '+' : ''}${f.adjustment}`, f.location, f.reason];
      default: return ['', '', ''];
    }
  };
  return (
    <section aria-labelledby="moves-title">
      <h2 id="moves-title">Stock movements</h2>
      {!moves.data ? <Loading /> : moves.data.length === 0 ? <p class="muted">No stock movements for this item yet.</p> : (
        <table class="compact" id="movements">
          <thead><tr><th scope="col">Movement</th><th scope="col" class="num">Quantity</th><th scope="col">Location</th><th scope="col">State</th><th scope="col">Note</th></tr></thead>
          <tbody>
            {moves.data.map((m) => {
              const [q, loc, note] = describe(m);
              return (
                <tr key={m.id}>
                  <td><a href={`#/w/${ws}/r/${encodeURIComponent(m.order ? m.order.id : m.id)}`}>{m.type === 'po_line' ? 'Goods received' : title(m.type)}</a></td>
                  <td class="num">{q}</td><td>{loc}</td><td>{title(m.state)}</td><td>{note || ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Record ids are "<author>-<n>": order by n, then author.
function cmpId(a, b) {
  const na = Number(a.split('-').pop());
  const nb = Number(b.split('-').pop());
  return na - nb || (a < b ? -1 : a > b ? 1 : 0);
}

// --- purchasing -------------------------------------------------------------------------------

export function OrdersPage({ ws }) {
  const suppliers = useRecordOptions(ws, 'supplier');
  const workspace = useWorkspace(ws);
  const [state, setState] = useState('');
  const sup = Object.fromEntries((suppliers.data || []).map((s) => [s.id, s.label]));
  const columns = [
    { key: 'number', title: 'Order', value: (r) => r.fields.number },
    { key: 'supplier', title: 'Supplier', value: (r) => sup[refId(r.fields.supplier)] || refId(r.fields.supplier) },
    { key: 'location', title: 'Deliver to', value: (r) => r.fields.location },
    { key: 'total', title: 'Total', num: true, value: (r) => formatMoney(r.computed?.total ?? r.fields.total) },
    { key: 'state', title: 'State', value: (r) => title(r.state) },
  ];
  return (
    <>
      <h1 tabIndex={-1}>Purchase orders</h1>
      <div class="toolbar">
        <a class="button" href={`#/w/${ws}/new/purchase_order`}>New purchase order</a>
        <a class="button secondary" href={`#/w/${ws}/new/supplier`}>New supplier</a>
        <a class="button secondary" href={`#/w/${ws}/list/requisition`}>Requisitions</a>
        <label for="po-state">State</label>
        <select id="po-state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
          <option value="">Any</option>
          {['draft', 'submitted', 'awaiting_second_approval', 'approved', 'ordered', 'partially_received', 'received', 'cancelled']
            .map((s) => <option key={s} value={s}>{title(s)}</option>)}
        </select>
      </div>
      <VirtualRecords ws={ws} params={{ type: 'purchase_order', state, sort: 'id', order: 'desc' }}
                      columns={columns} names={memberNames(workspace.data)} height={440}
                      caption="Purchase orders" />
    </>
  );
}

export function OrderExtras({ ws, record, names, reload }) {
  const lines = useLive(() => listRecords(ws, { type: 'po_line', 'where.order': record.id }), [ws, record.id], onRecords(ws));
  const items = useRecordOptions(ws, 'item');
  const itemLabel = Object.fromEntries((items.data || []).map((i) => [i.id, i.label]));
  const f = record.fields;
  const total = record.computed?.total ?? f.total;
  const big = total && total.minor > 500000;
  const ran = (n) => (record.history || []).includes(n);
  const chain = [
    { step: 'Submitted', done: ran('submit') || !['draft'].includes(record.state), who: '' },
    { step: big ? 'First approval' : 'Approval', done: !!f.approved_by, who: f.approved_by ? names[f.approved_by] || f.approved_by : '' },
  ];
  if (big || f.second_approved_by) chain.push({ step: 'Second approval', done: !!f.second_approved_by, who: f.second_approved_by ? names[f.second_approved_by] || f.second_approved_by : '' });
  chain.push({ step: 'Ordered', done: ran('order') });
  chain.push({ step: 'Received', done: record.state === 'received' });
  return (
    <div class="po-extras">
      <section aria-labelledby="lines-title">
        <h2 id="lines-title">Lines</h2>
        {!lines.data ? <Loading /> : (
          <table class="compact" id="po-lines">
            <thead><tr><th scope="col">Item</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount</th><th scope="col" class="num">Received</th><th scope="col" class="num">Outstanding</th></tr></thead>
            <tbody>
              {lines.data.map((l) => (
                <tr key={l.id}>
                  <td><a href={`#/w/${ws}/r/${encodeURIComponent(l.id)}`}>{itemLabel[refId(l.fields.item)] || refId(l.fields.item)}</a></td>
                  <td class="num">{l.fields.quantity}</td>
                  <td class="num">{formatMoney(l.fields.unit_price)}</td>
                  <td class="num">{formatMoney(l.computed?.amount)}</td>
                  <td class="num">{l.fields.received ?? 0}</td>
                  <td class="num">{l.computed?.outstanding ?? ''}</td>
                </tr>
              ))}
              {lines.data.length === 0 && <tr><td colSpan={6} class="muted">No lines yet.</td></tr>}
            </tbody>
            <tfoot><tr><th scope="row" colSpan={3}>Total</th><td class="num" id="po-total">{formatMoney(total) || '—'}</td><td colSpan={2} /></tr></tfoot>
          </table>
        )}
        {record.state === 'draft' && <AddLine ws={ws} order={record} onDone={() => { lines.reload(); reload(); }} />}
      </section>
      <section aria-labelledby="chain-title">
        <h2 id="chain-title">Approval chain</h2>
        <ol class="chain" id="approval-chain">
          {chain.map((c) => (
            <li key={c.step} class={c.done ? 'done' : 'todo'}>
              <span class="sr-only">{c.done ? 'done: ' : 'to do: '}</span>{c.step}{c.who && <> — {c.who}</>}
            </li>
          ))}
        </ol>
        {total && <p class="muted">{big ? 'Above 5,000.00: two different approvers are needed.' : 'Up to 5,000.00: one approver is enough.'} Nobody may approve an order they created or changed.</p>}
      </section>
    </div>
  );
}

function AddLine({ ws, order, onDone }) {
  const currency = order.fields.currency || 'EUR';
  const [item, setItem] = useState('');
  const [qty, setQty] = useState('1');
  const [price, setPrice] = useState({ amount: '', currency });
  const [error, setError] = useState(null);
  const items = { name: 'item', title: 'Item', type: 'reference', to: 'item' };
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    const q = toApi({ type: 'integer' }, qty);
    const p = toApi({ type: 'money', currency }, price);
    if (!item) return setError({ message: 'choose an item' });
    if (q.error || !q.value) return setError({ message: 'quantity: enter a whole number of at least 1' });
    if (p.error || !p.value) return setError({ message: `unit price: ${p.error || 'enter a price'}` });
    try {
      await api('POST', `${wsPath(ws)}/records`, { type: 'po_line', fields: { order: order.id, item, quantity: q.value, unit_price: p.value } });
      setItem('');
      setQty('1');
      setPrice({ amount: '', currency });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-labelledby="add-line-title">
      <h3 id="add-line-title">Add a line</h3>
      <div class="field"><label for="line-item">Item</label>
        <FieldInput ws={ws} field={items} id="line-item" value={item} onChange={setItem} /></div>
      <div class="field"><label for="line-qty">Quantity</label>
        <input id="line-qty" inputMode="numeric" value={qty} onInput={(e) => setQty(e.currentTarget.value)} /></div>
      <div class="field"><label for="line-price">Unit price ({currency})</label>
        <FieldInput ws={ws} field={{ name: 'unit_price', title: 'Unit price', type: 'money', currency }} id="line-price" value={price} onChange={setPrice} /></div>
      <button type="submit">Add line</button>
      <ErrorText error={error} />
    </form>
  );
}

// --- auctions ---------------------------------------------------------------------------------

export function AuctionsPage({ ws }) {
  const workspace = useWorkspace(ws);
  const columns = [
    { key: 'title', title: 'Lot', value: (r) => r.fields.title },
    { key: 'kind', title: 'Kind', value: (r) => r.fields.kind },
    { key: 'closes', title: 'Closes', value: (r) => formatTime(r.fields.closes_at) },
    { key: 'best', title: 'Best bid', num: true, value: (r) => formatMoney(r.computed?.best_bid) },
    { key: 'state', title: 'State', value: (r) => title(r.state) },
  ];
  return (
    <>
      <h1 tabIndex={-1}>Auctions</h1>
      <div class="toolbar"><a class="button" href={`#/w/${ws}/new/lot`}>New lot</a></div>
      <VirtualRecords ws={ws} params={{ type: 'lot', sort: 'id', order: 'desc' }} columns={columns}
                      names={memberNames(workspace.data)} height={440} caption="Auction lots" />
    </>
  );
}

export function LotExtras({ ws, record, names, identity, reload }) {
  const now = useNow(1000);
  const f = record.fields;
  const c = record.computed || {};
  const bids = record.lists?.bids || [];
  let clock;
  if (record.state === 'draft') clock = 'Not open yet';
  else if (record.state === 'open') {
    if (now < f.opens_at) clock = `Opens in ${formatDuration(f.opens_at - now)}`;
    else if (now < f.closes_at) clock = `Closes in ${formatDuration(f.closes_at - now)}`;
    else clock = 'Bidding has ended; waiting for the lot to be closed';
  } else clock = title(record.state);
  const winner = c.winner ?? f.sealed_winner;
  const winning = c.winning_bid ?? f.sealed_winning_bid;
  return (
    <div class="lot">
      <div class="lot-head">
        <p class="countdown" id="countdown" aria-live="off">{clock}</p>
        <p>Closes {formatTime(f.closes_at)} · {f.kind === 'reverse' ? 'Reverse auction: lowest bid wins' : 'Forward auction: highest bid wins'} · reserve {formatMoney(f.reserve)} · minimum step {formatMoney(f.min_increment)}</p>
        <p class="best" id="best-bid">Best bid: <strong>{formatMoney(c.best_bid) || 'none yet'}</strong></p>
        {winner && <p class="winner" id="winner" role="status">Winner: <strong>{names[winner] || winner}</strong>{identity === winner && ' (you)'} with {formatMoney(winning)}</p>}
        {record.state === 'closed' && !winner && !f.sealed && <p class="winner" id="winner">No bids: no winner.</p>}
      </div>
      {record.state === 'open' && now < f.closes_at && <BidForm ws={ws} record={record} onDone={reload} />}
      {record.state === 'closed' && f.sealed && <RevealBids ws={ws} record={record} onDone={reload} />}
      <section aria-labelledby="bids-title">
        <h2 id="bids-title">Bids <span class="muted">({bids.length})</span></h2>
        <ol class="bids" id="bids" aria-live="polite">
          {[...bids].reverse().map((b, i) => <li key={bids.length - i}>{formatValue(b)}</li>)}
        </ol>
        {bids.length === 0 && <p class="muted">No bids yet.</p>}
      </section>
    </div>
  );
}

function BidForm({ ws, record, onDone }) {
  const currency = record.fields.reserve?.currency || 'EUR';
  const [amount, setAmount] = useState({ amount: '', currency });
  const [error, setError] = useState(null);
  const [ok, setOk] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setOk('');
    const v = toApi({ type: 'money', currency }, amount);
    if (v.error || !v.value) return setError({ message: v.error || 'enter an amount' });
    try {
      if (record.fields.sealed) {
        await api('POST', `${recordPath(ws, record.id)}/sealed-bids`, { amount: v.value });
      } else {
        await api('PATCH', recordPath(ws, record.id), { append: { bids: v.value } });
      }
      setOk(`Your bid of ${formatMoney(v.value)} is in.`);
      setAmount({ amount: '', currency });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="inline-form bid" onSubmit={submit}>
      <div class="field"><label for="bid-amount">Your bid ({currency}){record.fields.sealed ? ', sealed' : ''}</label>
        <FieldInput ws={ws} field={{ name: 'bid', title: 'Bid', type: 'money', currency }} id="bid-amount" value={amount} onChange={setAmount} /></div>
      <button type="submit">Place bid</button>
      {ok && <p role="status">{ok}</p>}
      <ErrorText error={error} />
    </form>
  );
}

// A sealed lot after its close: each bidder's device publishes the openings of its own bids.
function RevealBids({ ws, record, onDone }) {
  const [msg, setMsg] = useState('');
  const [error, setError] = useState(null);
  const reveal = async () => {
    setError(null);
    try {
      const r = await api('POST', `${recordPath(ws, record.id)}/openings`, {});
      setMsg(r.published ? `Opened ${r.published} sealed bid${r.published === 1 ? '' : 's'}.` : 'No sealed bids of yours to open.');
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div class="buttons">
      <button type="button" onClick={reveal}>Open my sealed bids</button>
      {msg && <span role="status">{msg}</span>}
      <ErrorText error={error} />
    </div>
  );
}

// --- service ----------------------------------------------------------------------------------

export function CasesPage({ ws }) {
  const cases = useLive(() => listRecords(ws, { type: 'case', sort: 'id', order: 'desc' }), [ws], onRecords(ws));
  const workspace = useWorkspace(ws);
  const names = memberNames(workspace.data);
  const states = ['new', 'open', 'waiting', 'resolved', 'closed'];
  return (
    <>
      <h1 tabIndex={-1}>Cases</h1>
      <div class="toolbar"><a class="button" href={`#/w/${ws}/new/case`}>New case</a></div>
      {cases.error && <ErrorText error={cases.error} />}
      {!cases.data ? <Loading /> : (
        <div class="board" id="case-board">
          {states.map((s) => {
            const inState = cases.data.filter((c) => c.state === s);
            return (
              <section class="column" key={s} aria-labelledby={`col-${s}`} data-state={s}>
                <h2 id={`col-${s}`}>{title(s)} <span class="muted">({inState.length})</span></h2>
                <ul>
                  {inState.map((c) => (
                    <li key={c.id} class={`case prio-${c.fields.priority || 'normal'}`}>
                      <a href={`#/w/${ws}/r/${encodeURIComponent(c.id)}`}>{c.fields.title}</a>
                      <p class="muted">{c.fields.customer} · {c.fields.priority || 'normal'}{c.fields.due ? ` · due ${c.fields.due}` : ''}</p>
                      <p class="muted">{c.fields.assignee ? `Assigned to ${names[c.fields.assignee] || 'a member'}` : 'Unassigned'} · {(c.lists?.comments || []).length} comments · {(c.lists?.attachments || []).length} files</p>
                    </li>
                  ))}
                </ul>
              </section>
            );
          })}
        </div>
      )}
    </>
  );
}

