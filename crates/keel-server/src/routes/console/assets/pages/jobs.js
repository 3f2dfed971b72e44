// Background jobs: every queue with its jobs counted by state and a throughput chart
// (`#/jobs`), one queue's jobs by state with its settings and bulk actions (`#/jobs/QUEUE`),
// and one job, followed live while workers report on it (`#/jobs/QUEUE/ID`).
//
// The chart is Keel's own count per minute (`GET /api/queues/{queue}/throughput`), summed
// over the queues and read again as job events arrive.

import { get, post, patch, qs, seg, ApiError } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, toast, errorBox, failed,
  confirm, formDialog, time, badge, short, loading,
} from '../ui.js';
import * as realtime from '../realtime.js';

const STATES = ['waiting', 'delayed', 'active', 'completed', 'failed', 'dead', 'cancelled'];
const RETRYABLE = ['failed', 'dead', 'cancelled', 'completed'];
const CANCELLABLE = ['waiting', 'delayed', 'active', 'failed'];
const PER_PAGE = 25;

export default async function render(ctx) {
  const { queue, id } = ctx.params;
  if (id) return jobPage(ctx, queue, id);
  if (queue) return queuePage(ctx, queue);
  return queuesPage(ctx);
}

const queuePath = (q) => `/api/queues/${seg(q)}`;
const queueHash = (q, query) => `#/jobs/${seg(q)}${qs(query)}`;
const jobHash = (q, id) => `#/jobs/${seg(q)}/${seg(id)}`;

/** Calls `fn` once after a burst of calls has paused for `ms`; `cancel()` drops a pending one. */
function coalesce(fn, ms) {
  let t = null;
  const run = () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
  run.cancel = () => clearTimeout(t);
  return run;
}

/** Subscribes for the page's life; also calls `onBack()` when the stream comes back online. */
function live(ctx, topic, onEvent, onBack) {
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

// ---------------------------------------------------------------------------------------
// Throughput: completed/failed per minute over the last hour, from Keel.

const MINUTE = 60_000;

/** The last hour, minute by minute, summed over `names`' queues. */
async function lastHour(names) {
  const per = await Promise.all(names.map((n) => get(`/api/queues/${seg(n)}/throughput`, { minutes: 60 })));
  const byMinute = new Map();
  for (const out of per) {
    for (const m of out.items) {
      const t = Date.parse(m.minute);
      const slot = byMinute.get(t) || { completed: 0, failed: 0 };
      slot.completed += m.completed;
      slot.failed += m.failed;
      byMinute.set(t, slot);
    }
  }
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;
  return Array.from({ length: 60 }, (_, i) => {
    const t = now - (59 - i) * MINUTE;
    return { m: t / MINUTE, ...(byMinute.get(t) || { completed: 0, failed: 0 }) };
  });
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

/** A stacked bar per minute: completed (accent) under failed (danger). */
function throughputChart(data) {
  const completed = data.reduce((n, d) => n + d.completed, 0);
  const failedN = data.reduce((n, d) => n + d.failed, 0);
  const max = Math.max(1, ...data.map((d) => d.completed + d.failed));
  const W = 600;
  const H = 140;
  const bw = W / 60;
  const bars = [];
  data.forEach((d, i) => {
    const x = i * bw + 1;
    const hc = (d.completed / max) * (H - 4);
    const hf = (d.failed / max) * (H - 4);
    const at = new Date(d.m * MINUTE).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    const title = svg('title');
    title.textContent = `${at}: ${d.completed} completed, ${d.failed} failed`;
    const g = svg('g', null, title);
    g.append(svg('rect', { x, y: 0, width: bw - 2, height: H, style: 'fill: transparent' }));
    if (d.completed) g.append(svg('rect', { x, y: H - hc, width: bw - 2, height: hc }));
    // style.css colours every chart bar with the accent; failures need the danger colour.
    if (d.failed) g.append(svg('rect', { x, y: H - hc - hf, width: bw - 2, height: hf, style: 'fill: var(--danger)' }));
    bars.push(g);
  });
  const label = `Jobs per minute over the last hour: ${completed} completed, ${failedN} failed`;
  const swatch = (colour) => h('span', { 'aria-hidden': 'true', style: `display: inline-block; width: .7em; height: .7em; margin: 0 .3em 0 .8em; background: ${colour}` });
  return h('figure', { style: 'margin: 0' },
    h('div', { class: 'muted small', style: 'display: flex; justify-content: space-between' },
      h('span', null, `${max} per minute`),
      h('span', null, swatch('var(--accent)'), `${completed} completed`, swatch('var(--danger)'), `${failedN} failed`)),
    svg('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, style: 'border-bottom: 1px solid var(--line)' }, ...bars),
    h('div', { class: 'muted small', style: 'display: flex; justify-content: space-between' }, h('span', null, '60 min ago'), h('span', null, '30 min ago'), h('span', null, 'now')),
    h('figcaption', { class: 'muted small', style: 'margin-top: .4rem' },
      'Completed and failed jobs per minute, counted from the jobs each queue keeps (its retention settings bound how many).'));
}

// ---------------------------------------------------------------------------------------
// #/jobs: every queue.

async function queuesPage(ctx) {
  ctx.title('Jobs');
  const totals = h('div', { class: 'cards' });
  const chart = h('div');
  const list = h('div', null, loading());
  const problem = h('div');
  mount(ctx.main,
    header('Jobs', button('Enqueue job', () => enqueueDialog(ctx, null, queues.map((q) => q.name)), { class: 'primary' })),
    totals,
    h('section', { class: 'card', 'aria-labelledby': 'throughput-h' }, h('h2', { id: 'throughput-h', style: 'margin-top: 0' }, 'Throughput'), chart),
    h('h2', null, 'Queues'),
    problem,
    list);

  let queues = [];
  const load = async () => {
    try {
      const out = await get('/api/queues');
      if (!ctx.isCurrent()) return;
      queues = out.items || [];
      mount(problem);
      draw();
      const hour = await lastHour(queues.map((q) => q.name));
      if (ctx.isCurrent()) mount(chart, throughputChart(hour));
    } catch (err) {
      if (ctx.isCurrent()) mount(queues.length ? problem : list, errorBox(err));
    }
  };
  const reload = coalesce(load, 600);

  function draw() {
    const sum = (k) => queues.reduce((n, q) => n + (q.counts[k] || 0), 0);
    mount(totals,
      stat('Waiting', sum('waiting') + sum('delayed'), `${sum('delayed')} delayed`),
      stat('Active', sum('active')),
      stat('Failed', sum('failed'), 'to be retried'),
      stat('Dead', sum('dead')),
      stat('Completed last minute', sum('completedLastMinute'), `${sum('failedLastMinute')} failed`));
    mount(list, table({
      caption: 'Queues',
      columns: [
        { label: 'Queue', render: (q) => h('strong', null, q.name) },
        { label: 'Status', render: (q) => (q.settings.paused ? badge('paused') : h('span', { class: 'muted' }, 'running')) },
        ...STATES.map((s) => ({ label: s[0].toUpperCase() + s.slice(1), class: 'num', render: (q) => String(q.counts[s] || 0) })),
        { label: 'Last minute', render: (q) => `${q.counts.completedLastMinute || 0} done · ${q.counts.failedLastMinute || 0} failed` },
      ],
      rows: queues,
      rowLabel: (q) => `Queue ${q.name}`,
      onOpen: (q) => ctx.go(queueHash(q.name)),
      empty: 'No queue yet: a queue exists once a job is enqueued into it (or its settings are changed).',
    }));
  }

  const tick = setInterval(reload, 15_000);
  ctx.cleanup(() => {
    clearInterval(tick);
    reload.cancel();
  });
  live(ctx, 'jobs/*', reload, reload);
  await load();
}

function stat(label, value, note) {
  return h('div', { class: 'card' }, h('div', { class: 'muted small' }, label), h('div', { class: 'stat' }, String(value)),
    note ? h('div', { class: 'muted small' }, note) : null);
}

// ---------------------------------------------------------------------------------------
// Enqueue: a job into `queue` (asked for when null); opens the job afterwards.

function enqueueDialog(ctx, queue, known = []) {
  const listId = 'enqueue-queues';
  const queueIn = input({ name: 'queue', required: true, list: listId, autocomplete: 'off', pattern: '[A-Za-z0-9_\\-]{1,64}' });
  const name = input({ name: 'name', value: 'default', required: true, maxlength: 200 });
  const payload = h('textarea', { name: 'payload', spellcheck: 'false', placeholder: '{"to": "ada@example.com"}' });
  const priority = input({ type: 'number', name: 'priority', min: 0, max: 9, step: 1, value: 5 });
  const delay = input({ type: 'number', name: 'delay', min: 0, step: 'any', placeholder: '0' });
  const attempts = input({ type: 'number', name: 'maxAttempts', min: 1, max: 1000, step: 1, placeholder: '3' });
  const uniqueKey = input({ name: 'uniqueKey', maxlength: 500 });
  return formDialog(queue ? `Enqueue a job into ${queue}` : 'Enqueue a job', () => h('div', null,
    queue ? null : field('Queue', queueIn, { hint: '1–64 of A-Z a-z 0-9 _ -; a new name creates the queue.' }),
    queue ? null : h('datalist', { id: listId }, known.map((q) => h('option', { value: q }))),
    field('Job name', name, { hint: 'What the job is, e.g. send-welcome-email.' }),
    field('Payload (JSON)', payload, { hint: 'Any JSON; empty for none.' }),
    h('div', { class: 'grid2' },
      field('Priority', priority, { hint: '0–9, higher runs first.' }),
      field('Delay (seconds)', delay, { hint: 'Run no earlier than this from now.' }),
      field('Max attempts', attempts, { hint: 'Before the job is dead (default 3).' }),
      field('Unique key', uniqueKey, { hint: 'Optional: no second pending job with this key.' }))),
  async () => {
    const q = queue || queueIn.value.trim();
    const body = { name: name.value.trim() || 'default' };
    body.payload = parseJson(payload.value, 'Payload');
    if (priority.value !== '') body.priority = Number(priority.value);
    if (delay.value !== '') body.delayMs = Math.round(Number(delay.value) * 1000);
    if (attempts.value !== '') body.maxAttempts = Number(attempts.value);
    if (uniqueKey.value.trim()) body.uniqueKey = uniqueKey.value.trim();
    const job = await post(`${queuePath(q)}/jobs`, body);
    return job;
  }, 'Enqueue').then((job) => {
    if (!job) return;
    toast(job.created === false ? `A pending job already holds this unique key: ${job.id}.` : `Job ${job.id} enqueued.`);
    ctx.go(jobHash(job.queue, job.id));
  });
}

/** JSON from a text box (null when empty); throws naming the field. */
function parseJson(text, what) {
  if (!text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// #/jobs/QUEUE: the queue's jobs by state, paged; pause/resume, settings, bulk retry.

async function queuePage(ctx, queue) {
  ctx.title(`Queue ${queue}`);
  let state = STATES.includes(ctx.query.state) ? ctx.query.state : '';
  let page = Math.max(1, Number.parseInt(ctx.query.page, 10) || 1);
  let info = null; // {name, settings, counts}

  const pauseBtn = button('Pause queue', () => togglePause(), { disabled: true });
  const retryDeadBtn = button('Retry all dead', () => retryAllDead(), { disabled: true });
  const status = h('span');
  const counts = h('div', { class: 'cards', style: 'grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr))' });
  const stateSel = select({ name: 'state' }, [['', 'All states'], ...STATES], state);
  stateSel.addEventListener('change', () => {
    state = stateSel.value;
    page = 1;
    remember();
    loadJobs();
  });
  // The jobs list filters by state only: the search opens a job by its id.
  const search = input({ type: 'search', name: 'search', placeholder: 'A job id', autocomplete: 'off', title: 'Open a job by its id' });
  const searchOut = h('div');
  const searchForm = h('form', { class: 'toolbar grow', role: 'search', 'aria-label': 'Find a job' },
    field('Search', search, { class: 'grow' }),
    h('button', { type: 'submit' }, 'Open job'));
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    findJob();
  });
  const list = h('div', null, loading());
  const settingsBox = h('div');

  mount(ctx.main,
    h('p', { class: 'small' }, h('a', { href: '#/jobs' }, 'Jobs'), ' › ', queue),
    header(h('span', null, `Queue ${queue} `, status), pauseBtn,
      button('Enqueue job', () => enqueueDialog(ctx, queue), { class: 'primary' })),
    counts,
    h('div', { class: 'toolbar' }, field('State', stateSel), searchForm, retryDeadBtn),
    searchOut,
    list,
    h('section', { class: 'card', 'aria-labelledby': 'settings-h', style: 'margin-top: 1.5rem' },
      h('h2', { id: 'settings-h', style: 'margin-top: 0' }, 'Queue settings'), settingsBox));

  function remember() {
    history.replaceState(null, '', queueHash(queue, { state, page: page > 1 ? page : '' }));
  }

  async function loadQueue() {
    try {
      const q = await get(queuePath(queue));
      if (!ctx.isCurrent()) return;
      const first = !info;
      info = q;
      drawQueue();
      if (first) drawSettings();
    } catch (err) {
      if (ctx.isCurrent()) mount(counts, errorBox(err));
    }
  }

  function drawQueue() {
    const { settings, counts: c } = info;
    mount(status, settings.paused ? badge('paused') : badge('running', 'muted'));
    pauseBtn.textContent = settings.paused ? 'Resume queue' : 'Pause queue';
    pauseBtn.disabled = false;
    retryDeadBtn.disabled = !c.dead;
    mount(counts, STATES.map((s) => stat(s[0].toUpperCase() + s.slice(1), c[s] || 0)));
    for (const opt of stateSel.options) {
      if (opt.value) opt.textContent = `${opt.value} (${c[opt.value] || 0})`;
    }
  }

  async function loadJobs() {
    try {
      const out = await get(`${queuePath(queue)}/jobs`, { state, page, perPage: PER_PAGE });
      if (!ctx.isCurrent()) return;
      if (!out.items.length && page > 1 && out.totalPages >= 0 && page > out.totalPages) {
        page = Math.max(1, out.totalPages);
        remember();
        loadJobs();
        return;
      }
      drawJobs(out);
    } catch (err) {
      if (ctx.isCurrent()) mount(list, errorBox(err));
    }
  }

  function drawJobs(out) {
    mount(list,
      table({
        caption: `Jobs of ${queue}`,
        columns: [
          { label: 'Job', render: (j) => h('span', null, h('code', null, j.id), ' ', j.name) },
          { label: 'State', render: (j) => badge(j.state) },
          { label: 'Attempts', class: 'num', render: (j) => `${j.attempts} / ${j.maxAttempts}` },
          { label: 'Priority', class: 'num', render: (j) => String(j.priority) },
          { label: 'Progress', render: (j) => (j.progress ? miniProgress(j.progress.percent) : '') },
          { label: 'Payload', render: (j) => h('span', { class: 'cell mono' }, short(j.payload, 60)) },
          { label: 'Created', render: (j) => time(j.createdAt) },
          { label: 'Finished', render: (j) => time(j.finishedAt) },
          { label: 'Actions', render: rowActions },
        ],
        rows: out.items,
        rowLabel: (j) => `Job ${j.id} ${j.name}, ${j.state}`,
        onOpen: (j) => ctx.go(jobHash(queue, j.id)),
        empty: state ? `No ${state} job in ${queue}.` : `No job in ${queue} yet.`,
      }),
      pager({ page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => {
        page = p;
        remember();
        loadJobs();
      } }));
  }

  function rowActions(j) {
    return h('div', { class: 'actions' },
      RETRYABLE.includes(j.state) ? button('Retry', () => act(j, 'retry'), { 'aria-label': `Retry job ${j.id}` }) : null,
      CANCELLABLE.includes(j.state) ? button('Cancel', () => cancelJob(j.id).then((done) => done && refresh()), { 'aria-label': `Cancel job ${j.id}`, class: 'danger' }) : null);
  }

  async function act(j, what) {
    try {
      await post(`/api/jobs/${seg(j.id)}/${what}`);
      toast(`Job ${j.id} ${what === 'retry' ? 'is waiting again' : 'cancelled'}.`);
      refresh();
    } catch (err) {
      failed(err);
    }
  }

  async function togglePause() {
    const paused = info && info.settings.paused;
    pauseBtn.disabled = true;
    try {
      const settings = await post(`${queuePath(queue)}/${paused ? 'resume' : 'pause'}`);
      info.settings = settings;
      drawQueue();
      toast(settings.paused ? `Queue ${queue} paused: no job is claimed until it is resumed.` : `Queue ${queue} resumed.`);
    } catch (err) {
      failed(err);
      pauseBtn.disabled = false;
    }
  }

  async function retryAllDead() {
    const n = (info && info.counts.dead) || 0;
    const ok = await confirm('Retry all dead jobs', `Retry the ${n} dead job${n === 1 ? '' : 's'} of ${queue}? Each goes back to waiting with fresh attempts.`, 'Retry all');
    if (!ok) return;
    retryDeadBtn.disabled = true;
    try {
      const ids = await deadIds();
      let done = 0;
      const errors = [];
      await pool(ids, 4, async (id) => {
        try {
          await post(`/api/jobs/${seg(id)}/retry`);
          done++;
        } catch (err) {
          errors.push(`${id}: ${err.message}`);
        }
      });
      toast(`${done} dead job${done === 1 ? '' : 's'} retried.`);
      if (errors.length) toast(`${errors.length} could not be retried: ${short(errors.join('; '), 300)}`, 'error');
    } catch (err) {
      failed(err);
    }
    refresh();
  }

  /** Every dead job's id, page by page (they are collected first: retrying changes the pages). */
  async function deadIds() {
    const ids = [];
    for (let p = 1; ; p++) {
      const out = await get(`${queuePath(queue)}/jobs`, { state: 'dead', page: p, perPage: 500 });
      ids.push(...out.items.map((j) => j.id));
      if (!out.items.length || p >= (out.totalPages || 0)) break;
    }
    return ids;
  }

  async function findJob() {
    const id = search.value.trim();
    mount(searchOut);
    if (!id) return;
    try {
      const job = await get(`/api/jobs/${seg(id)}`);
      ctx.go(jobHash(job.queue, job.id));
    } catch (err) {
      mount(searchOut, err instanceof ApiError && err.status === 404
        ? h('p', { class: 'notice', role: 'status' }, `No job has the id ${id}.`)
        : errorBox(err));
    }
  }

  function drawSettings() {
    const s = info.settings;
    const conc = input({ type: 'number', name: 'concurrency', min: 1, step: 1, value: s.concurrency ?? '' });
    const rateMax = input({ type: 'number', name: 'rateMax', min: 1, step: 1, value: s.rateLimit ? s.rateLimit.max : '' });
    const rateInt = input({ type: 'number', name: 'rateInterval', min: 10, step: 1, value: s.rateLimit ? s.rateLimit.intervalMs : '' });
    const err = h('div');
    const form = h('form', null,
      h('div', { style: 'display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: 0 1rem' },
        field('Concurrency', conc, { hint: 'The most jobs active at once across every worker; empty for no limit.' }),
        field('Rate limit: jobs', rateMax, { hint: 'At most this many jobs started per interval; empty for no limit.' }),
        field('Rate limit: interval (ms)', rateInt, { hint: 'The window, at least 10 ms (60000 = a minute).' })),
      h('dl', { class: 'kv small' },
        h('dt', null, 'Push URL'), h('dd', null, s.pushUrl ? h('code', null, s.pushUrl) : h('span', { class: 'muted' }, 'none (workers claim jobs)')),
        h('dt', null, 'Keep completed'), h('dd', null, retention(s.keepCompleted)),
        h('dt', null, 'Keep dead'), h('dd', null, retention(s.keepDead))),
      err,
      h('div', { class: 'actions end' }, h('button', { type: 'submit', class: 'primary' }, 'Save settings')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      mount(err);
      const body = { concurrency: conc.value === '' ? null : Number(conc.value) };
      if (rateMax.value === '' && rateInt.value === '') body.rateLimit = null;
      else if (rateMax.value === '' || rateInt.value === '') {
        mount(err, errorBox(new Error('A rate limit needs both the number of jobs and the interval.')));
        return;
      } else body.rateLimit = { max: Number(rateMax.value), intervalMs: Number(rateInt.value) };
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        info.settings = await patch(queuePath(queue), body);
        drawQueue();
        toast('Queue settings saved.');
      } catch (ex) {
        mount(err, errorBox(ex));
      } finally {
        btn.disabled = false;
      }
    });
    mount(settingsBox, form);
  }

  const refresh = coalesce(() => {
    loadQueue();
    loadJobs();
  }, 400);
  const poll = setInterval(loadQueue, 15_000);
  ctx.cleanup(() => {
    clearInterval(poll);
    refresh.cancel();
  });
  live(ctx, `jobs/${queue}`, refresh, refresh);
  await Promise.all([loadQueue(), loadJobs()]);
}

/** Milliseconds as `250 ms`, `30 s`, `1 h`. */
function ms(n) {
  if (n === undefined || n === null) return '?';
  if (n < 1000 || n % 1000) return `${n} ms`;
  return duration(n / 1000);
}

function retention(keep) {
  if (!keep) return '—';
  return `newest ${keep.count}, at most ${duration(keep.ageSecs)}`;
}

function duration(secs) {
  if (secs % 86400 === 0) return `${secs / 86400} day${secs === 86400 ? '' : 's'}`;
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

/** Runs `fn` on each item, at most `n` at a time. */
async function pool(items, n, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function miniProgress(percent) {
  const p = clampPercent(percent);
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': p, 'aria-label': `${p}%`, title: `${p}%` },
    h('div', { style: `width: ${p}%` }));
}

const clampPercent = (v) => Math.round(Math.min(100, Math.max(0, Number(v) || 0)) * 10) / 10;

/** Asks, then cancels a job; resolves true when it was cancelled. */
async function cancelJob(id) {
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

// ---------------------------------------------------------------------------------------
// #/jobs/QUEUE/ID: one job, live.

async function jobPage(ctx, queue, id) {
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
