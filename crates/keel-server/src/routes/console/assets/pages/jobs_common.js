// Background jobs: what the pages share (the job states, addresses, the live subscription,
// a count card, durations, cancelling a job).

import { post, qs, seg } from '../api.js';
import { h, toast, failed, confirm } from '../ui.js';
import * as realtime from '../realtime.js';

export const STATES = ['waiting', 'delayed', 'active', 'completed', 'failed', 'dead', 'cancelled'];
export const RETRYABLE = ['failed', 'dead', 'cancelled', 'completed'];
export const CANCELLABLE = ['waiting', 'delayed', 'active', 'failed'];

export const queueHash = (q, query) => `#/jobs/${seg(q)}${qs(query)}`;
export const jobHash = (q, id) => `#/jobs/${seg(q)}/${seg(id)}`;

/** Calls `fn` once after a burst of calls has paused for `ms`; `cancel()` drops a pending one. */
export function coalesce(fn, ms) {
  let t = null;
  const run = () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
  run.cancel = () => clearTimeout(t);
  return run;
}

/** Subscribes for the page's life; also calls `onBack()` when the stream comes back online. */
export function live(ctx, topic, onEvent, onBack) {
  ctx.cleanup(realtime.subscribe(topic, (data) => {
    // A collection named `jobs` shares the topics: keep only job events.
    if (data && data.action && data.record && data.record.queue !== undefined) onEvent(data);
  }));
  if (onBack) {
    // Back live after the connection was lost: read again what may have been missed.
    let lost = false;
    ctx.cleanup(realtime.onStatus((state) => {
      if (state === 'offline') lost = true;
      if (state === 'live' && lost) {
        lost = false;
        onBack();
      }
    }));
  }
}

export function stat(label, value, note) {
  return h('div', { class: 'card' }, h('div', { class: 'muted small' }, label), h('div', { class: 'stat' }, String(value)),
    note ? h('div', { class: 'muted small' }, note) : null);
}

export function duration(secs) {
  if (secs % 86400 === 0) return `${secs / 86400} day${secs === 86400 ? '' : 's'}`;
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

export const clampPercent = (v) => Math.round(Math.min(100, Math.max(0, Number(v) || 0)) * 10) / 10;

/** Asks, then cancels a job; resolves true when it was cancelled. */
export async function cancelJob(id) {
  const ok = await confirm('Cancel this job?', `Job ${id} will not run again unless retried. A worker running it now is told to stop on its next call.`, 'Cancel job');
  if (!ok) return false;
  try {
    await post(`/api/jobs/${seg(id)}/cancel`);
    toast(`Job ${id} cancelled.`);
    return true;
  } catch (err) {
    failed(err);
    return false;
  }
}
