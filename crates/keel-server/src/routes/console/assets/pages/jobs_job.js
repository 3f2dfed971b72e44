// Background jobs, `#/jobs/QUEUE/ID`: one job, followed live while workers report on it
// (state, progress, details, payload, result, the errors of its attempts; retry, cancel).

import { get, post, seg } from '../api.js';
import { h, mount, button, table, toast, errorBox, failed, time, badge, loading } from '../ui.js';
import {
  RETRYABLE, CANCELLABLE, queueHash, live, duration, clampPercent, cancelJob,
} from './jobs_common.js';

/** Milliseconds as `250 ms`, `30 s`, `1 h`. */
function ms(n) {
  if (n === undefined || n === null) return '?';
  if (n < 1000 || n % 1000) return `${n} ms`;
  return duration(n / 1000);
}

// ---------------------------------------------------------------------------------------
// #/jobs/QUEUE/ID: one job, live.

export async function jobPage(ctx, queue, id) {
  ctx.title(`Job ${id}`);
  let job = null;
  let topic = queue;

  const retryBtn = button('Retry', () => retry(), { disabled: true });
  const cancelBtn = button('Cancel', () => cancelJob(id).then((done) => done && load()), { disabled: true, class: 'danger' });
  const heading = h('h1', null, `Job ${id}`);
  const stateBox = h('div', { role: 'status', 'aria-label': 'Job state', 'aria-live': 'polite', style: 'font-size: 1.1rem' });
  const bar = h('div');
  const bar2 = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, style: 'height: .9rem' }, bar);
  const progressText = h('div', { class: 'muted small' });
  const details = h('div', { class: 'grid2' });
  const payload = h('pre', { 'aria-label': 'Payload' });
  const resultBox = h('div');
  const errorsBox = h('div');
  const body = h('div', { hidden: true },
    h('section', { class: 'card grid2', 'aria-label': 'Status' },
      h('div', null, h('div', { class: 'muted small' }, 'State'), stateBox),
      h('div', null, h('div', { class: 'muted small' }, 'Progress'), bar2, progressText)),
    h('section', { class: 'card' }, details),
    h('h2', null, 'Payload'), payload,
    resultBox,
    errorsBox);
  const problem = h('div', null, loading());
  const crumbs = h('p', { class: 'small' });
  mount(ctx.main,
    crumbs,
    h('header', { class: 'page-head' }, heading, h('div', { class: 'actions' }, retryBtn, cancelBtn)),
    problem,
    body);
  drawCrumbs();

  function drawCrumbs() {
    mount(crumbs, h('a', { href: '#/jobs' }, 'Jobs'), ' › ', h('a', { href: queueHash(topic) }, topic), ' › ', id);
  }

  function show(next) {
    // Events and fetches may cross: keep the newest version of the job.
    if (job && Date.parse(next.updatedAt) < Date.parse(job.updatedAt)) return;
    job = next;
    mount(problem);
    body.hidden = false;
    if (job.queue !== topic) {
      topic = job.queue;
      drawCrumbs();
      live(ctx, `jobs/${topic}`, onEvent, load);
    }
    ctx.title(`Job ${job.name} (${job.id})`);
    heading.textContent = `Job ${job.name}`;
    mount(stateBox, badge(job.state));
    const p = clampPercent(job.progress && job.progress.percent);
    bar.style.width = `${p}%`;
    bar2.setAttribute('aria-valuenow', String(p));
    const msg = job.progress && job.progress.message;
    if (msg) bar2.setAttribute('aria-valuetext', `${p}% — ${msg}`);
    else bar2.removeAttribute('aria-valuetext');
    mount(progressText, job.progress ? `${p}%${msg ? ` — ${msg}` : ''}` : 'No progress reported.');
    retryBtn.disabled = !RETRYABLE.includes(job.state);
    cancelBtn.disabled = !CANCELLABLE.includes(job.state);
    drawDetails();
    payload.textContent = JSON.stringify(job.payload, null, 2);
    mount(resultBox, job.result !== undefined
      ? [h('h2', null, 'Result'), h('pre', { 'aria-label': 'Result' }, JSON.stringify(job.result, null, 2))]
      : null);
    drawErrors();
  }

  function drawDetails() {
    const b = job.backoff || {};
    const facts = [
      ['ID', h('code', null, job.id)],
      ['Queue', h('a', { href: queueHash(job.queue) }, job.queue)],
      ['Attempts', `${job.attempts} / ${job.maxAttempts}`],
      ['Priority', String(job.priority)],
      ['Worker', job.worker || '—'],
      ['Unique key', job.uniqueKey || '—'],
      ['Timeout', `${ms(job.timeoutMs)} without a heartbeat`],
      ['Backoff', `${b.type || '?'}, ${ms(b.delayMs)}${b.type === 'exponential' ? ` doubling up to ${ms(b.maxDelayMs)}` : ''}${b.jitter ? ', with jitter' : ''}`],
    ];
    const times = [
      ['Created', time(job.createdAt)],
      ['Run at', time(job.runAt)],
      ['Started', time(job.startedAt)],
      ['Finished', time(job.finishedAt)],
      ['Lease expires', time(job.leaseExpiresAt)],
      ['Updated', time(job.updatedAt)],
    ];
    const kv = (rows) => h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
    mount(details, kv(facts), kv(times));
  }

  function drawErrors() {
    const errs = job.errors || [];
    mount(errorsBox, h('h2', null, `Errors (${errs.length})`), table({
      caption: 'Errors of attempts',
      columns: [
        { label: 'Attempt', class: 'num', render: (e) => String(e.attempt) },
        { label: 'At', render: (e) => time(e.at) },
        { label: 'Message', render: (e) => h('pre', { style: 'margin: 0; max-height: 12rem' }, e.message) },
      ],
      rows: errs.slice().reverse(),
      empty: 'No attempt failed.',
    }));
  }

  async function load() {
    try {
      const j = await get(`/api/jobs/${seg(id)}`);
      if (ctx.isCurrent()) show(j);
    } catch (err) {
      if (ctx.isCurrent()) mount(problem, errorBox(err));
    }
  }

  async function retry() {
    retryBtn.disabled = true;
    try {
      show(await post(`/api/jobs/${seg(id)}/retry`));
      toast('The job is waiting again, with fresh attempts.');
    } catch (err) {
      failed(err);
      load();
    }
  }

  function onEvent(data) {
    if (data.record.id === id && ctx.isCurrent()) show(data.record);
  }

  // Subscribe first, so nothing reported while the job loads is missed.
  live(ctx, `jobs/${topic}`, onEvent, load);
  await load();
}
