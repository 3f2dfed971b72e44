// Live updates over `/api/realtime` (PocketBase's protocol: an SSE stream whose first event,
// PB_CONNECT, names the client; the subscriptions are set with a POST carrying the caller's
// token). Reconnects by itself after a server restart and subscribes again.

import { session } from './api.js';

const listeners = new Map(); // topic -> Set(callback)
let source = null;
let clientId = null;
let retry = null;
const statusFns = new Set();
let status = 'idle';

/**
 * Calls `fn(status)` whenever it changes: `idle` (nothing subscribed), `connecting` (until
 * the server confirmed the subscriptions), `live`, or `offline` (reconnecting). Returns the
 * unsubscribe.
 */
export function onStatus(fn) {
  statusFns.add(fn);
  fn(status);
  return () => statusFns.delete(fn);
}

function setStatus(value) {
  if (status === value) return;
  status = value;
  for (const fn of statusFns) fn(value);
}

/**
 * Calls `fn(data)` for each message of `topic` (`posts/*`, `jobs/emails`, `ops/runs/ID`);
 * returns a function that unsubscribes.
 */
export function subscribe(topic, fn) {
  let set = listeners.get(topic);
  if (!set) {
    set = new Set();
    listeners.set(topic, set);
    if (source) listen(topic);
  }
  set.add(fn);
  ensure();
  if (status === 'live' || status === 'idle') setStatus('connecting');
  submitSoon();
  return () => {
    set.delete(fn);
    if (!set.size) {
      listeners.delete(topic);
      submitSoon();
    }
  };
}

function ensure() {
  if (source) return;
  clientId = null;
  source = new EventSource('/api/realtime');
  source.addEventListener('PB_CONNECT', (e) => {
    try {
      clientId = JSON.parse(e.data).clientId;
    } catch {
      clientId = e.lastEventId;
    }
    submitSoon();
  });
  for (const topic of listeners.keys()) listen(topic);
  source.onerror = () => {
    setStatus('offline');
    clientId = null;
    // The browser retries by itself unless the stream was refused; then start a new one.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      clearTimeout(retry);
      retry = setTimeout(() => listeners.size && ensure(), 2000);
    }
  };
}

const attached = new WeakMap(); // EventSource -> Set(topic)
function listen(topic) {
  let done = attached.get(source);
  if (!done) {
    done = new Set();
    attached.set(source, done);
  }
  if (done.has(topic)) return;
  done.add(topic);
  source.addEventListener(topic, (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    for (const fn of listeners.get(topic) || []) fn(data);
  });
}

let pending = null;
function submitSoon() {
  clearTimeout(pending);
  pending = setTimeout(submit, 30);
}

async function submit() {
  if (!clientId) return;
  if (!listeners.size) {
    close();
    return;
  }
  const headers = { 'Content-Type': 'application/json' };
  if (session.current) headers.Authorization = session.current.token;
  const sent = clientId;
  try {
    const res = await fetch('/api/realtime', {
      method: 'POST',
      headers,
      body: JSON.stringify({ clientId, subscriptions: [...listeners.keys()] }),
    });
    if (res.ok && sent === clientId && listeners.size) setStatus('live');
  } catch {
    // The stream's own error handler reconnects and submits again.
  }
}

/** Ends the stream (on sign-out). */
export function close() {
  if (source) source.close();
  source = null;
  clientId = null;
  setStatus('idle');
}
