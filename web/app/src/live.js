// Live updates: one stream of server-sent events (GET /api/v1/events) for the whole app, read
// with fetch rather than EventSource so that the app decides how to reconnect: after a dropped
// stream it asks again with Last-Event-ID (the peer gives every stream a position at once) and
// the peer replays what was missed. When it cannot (it restarted in between, or no longer keeps
// those events), the stream starts with a `reset` event and every view reloads.
import { useEffect, useRef, useState } from 'preact/hooks';

import { sessionEnded } from './api.js';

const listeners = new Set();
let running = false;
let controller = null;
let wake = null;
export let streamState = 'closed';  // connecting | open | closed
let lastEventId = '';

function emit(event) {
  for (const fn of [...listeners]) fn(event);
}

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setStream(state) {
  if (streamState === state) return;
  streamState = state;
  emit({ kind: 'stream', state });
}

// The peer sends a keep-alive comment after 15 s without events: a stream silent for much longer
// than that is dead (a half-open connection) and is dropped.
const SILENCE_MS = 40000;

async function readStream(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    let timer;
    const silent = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('silent stream')), SILENCE_MS);
    });
    const { value, done } = await Promise.race([reader.read(), silent]).finally(() => clearTimeout(timer));
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
      let id = '';
      let data = '';
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (id) lastEventId = id;
      if (!data) continue;
      try {
        emit(JSON.parse(data));
      } catch {
        // not an event
      }
    }
  }
}

async function loop() {
  let retryMs = 500;
  let missed = false;  // the peer refused our id: what came since is unknown
  while (running) {
    setStream('connecting');
    controller = new AbortController();
    try {
      const headers = { Accept: 'text/event-stream' };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      const response = await fetch('/api/v1/events', {
        headers, credentials: 'same-origin', cache: 'no-store', signal: controller.signal });
      if (response.status === 400 && lastEventId) {
        lastEventId = '';
        missed = true;
        continue;
      }
      if (response.status === 401) {
        sessionEnded();
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setStream('open');
      retryMs = 500;
      if (missed) emit({ kind: 'reset' });
      missed = false;
      await readStream(response);
    } catch {
      // dropped or refused: try again below
    }
    controller.abort();
    if (!running) return;
    setStream('connecting');
    await new Promise((resolve) => {
      wake = resolve;
      setTimeout(resolve, retryMs);
    });
    retryMs = Math.min(retryMs * 2, 10000);
  }
}

export function startEvents() {
  stopEvents();
  running = true;
  lastEventId = '';
  loop();
}

export function stopEvents() {
  running = false;
  controller?.abort();
  wake?.();
  setStream('closed');
}

// Loads data with `load()` now, when `deps` change, and again (debounced) after each event that
// `affects(event)`; {data, error, loading, reload}. A reload keeps the old data on screen.
export function useLive(load, deps, affects = () => true) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const timer = useRef(null);
  const run = () => {
    const mine = ++seq.current;
    Promise.resolve().then(load).then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })));
  };
  useEffect(() => {
    setState({ data: undefined, error: null, loading: true });
    run();
    const off = subscribe((event) => {
      if (event.kind === 'stream' || event.kind === 'sync') return;
      if (event.kind !== 'reset' && !affects(event)) return;
      clearTimeout(timer.current);
      timer.current = setTimeout(run, 120);
    });
    return () => {
      off();
      clearTimeout(timer.current);
      seq.current++;
    };
  }, deps);
  return { ...state, reload: run };
}
