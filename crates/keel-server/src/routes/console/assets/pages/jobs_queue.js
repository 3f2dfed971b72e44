// Background jobs, `#/jobs/QUEUE`: one queue's jobs by state, paged, with pause/resume, its
// settings, retrying every dead job, opening a job by its id, and the dialog that enqueues a
// job (also opened from `#/jobs`).

import { get, post, patch, seg, ApiError } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, toast, errorBox, failed,
  confirm, formDialog, time, badge, short, loading, parseJson,
} from '../ui.js';
import {
  STATES, RETRYABLE, CANCELLABLE, queueHash, jobHash, coalesce, live, stat, duration,
  clampPercent, cancelJob,
} from './jobs_common.js';

const PER_PAGE = 25;

const queuePath = (q) => `/api/queues/${seg(q)}`;

// ---------------------------------------------------------------------------------------
// Enqueue: a job into `queue` (asked for when null); opens the job afterwards.

export function enqueueDialog(ctx, queue, known = []) {
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

// ---------------------------------------------------------------------------------------
// #/jobs/QUEUE: the queue's jobs by state, paged; pause/resume, settings, bulk retry.

export async function queuePage(ctx, queue) {
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
  // The search keeps the jobs whose name starts with it; a job's id opens that job.
  let name = ctx.query.name || '';
  const search = input({ type: 'search', name: 'search', value: name, placeholder: 'send-email, or a job id', autocomplete: 'off' });
  const searchOut = h('div');
  const searchForm = h('form', { class: 'toolbar grow', role: 'search', 'aria-label': 'Find a job' },
    field('Search', search, { class: 'grow', hint: 'Jobs whose name starts with this, or a job\'s id.' }),
    h('button', { type: 'submit' }, 'Search'));
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
    history.replaceState(null, '', queueHash(queue, { state, name, page: page > 1 ? page : '' }));
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
      const out = await get(`${queuePath(queue)}/jobs`, { state, name, page, perPage: PER_PAGE });
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
        empty: name ? `No ${state ? `${state} ` : ''}job in ${queue} has a name starting with “${name}”.`
          : state ? `No ${state} job in ${queue}.` : `No job in ${queue} yet.`,
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
    const text = search.value.trim();
    mount(searchOut);
    // What looks like an id opens its job when there is one.
    if (/^[a-z0-9]{15}$/.test(text)) {
      try {
        const job = await get(`/api/jobs/${seg(text)}`);
        ctx.go(jobHash(job.queue, job.id));
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) {
          mount(searchOut, errorBox(err));
          return;
        }
      }
    }
    name = text;
    page = 1;
    remember();
    loadJobs();
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

function retention(keep) {
  if (!keep) return '—';
  return `newest ${keep.count}, at most ${duration(keep.ageSecs)}`;
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
