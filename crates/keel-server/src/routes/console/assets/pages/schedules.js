// Schedules: every schedule with its timetable, queue and next fire time (`#/schedules`),
// creating and editing one, and one schedule (`#/schedules/ID`) with its next 10 fire times,
// pause/resume, "Trigger now", delete and its run history linking to each run's job.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, toast, errorBox, failed,
  confirm, formDialog, time, badge, short, loading, parseJson,
} from '../ui.js';
import * as realtime from '../realtime.js';

const PER_PAGE = 50;
const schedulePath = (id) => `/api/schedules/${seg(id)}`;
const scheduleHash = (id) => `#/schedules/${seg(id)}`;
const jobHash = (q, id) => `#/jobs/${seg(q)}/${seg(id)}`;
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

export default async function render(ctx) {
  if (ctx.params.id) return detailPage(ctx, ctx.params.id);
  return listPage(ctx);
}

/** The timetable in words: `cron 30 2 * * *`, `every 15m`, `once at …`. */
function when(s) {
  const t = s.schedule || {};
  if (t.cron) return h('code', null, t.cron);
  if (t.every) return h('span', null, 'every ', h('code', null, t.every));
  if (t.at) return h('span', null, 'once at ', time(t.at));
  return short(t);
}

const zone = (s) => (s.schedule && s.schedule.cron ? (s.schedule.timezone || 'UTC') : '—');
const status = (s) => (s.paused ? badge('paused') : badge('active', 'ok'));

// ---------------------------------------------------------------------------------------
// #/schedules

async function listPage(ctx) {
  ctx.title('Schedules');
  let page = Math.max(1, Number.parseInt(ctx.query.page, 10) || 1);
  let items = [];
  const list = h('div', null, loading());
  mount(ctx.main,
    header('Schedules', button('New schedule', () => scheduleDialog(ctx, null), { class: 'primary' })),
    h('p', { class: 'muted' }, 'Each tick of a schedule enqueues its job, exactly once however many Keel processes run.'),
    list);

  function draw() {
    const pages = Math.max(1, Math.ceil(items.length / PER_PAGE));
    page = Math.min(page, pages);
    const rows = items.slice((page - 1) * PER_PAGE, page * PER_PAGE);
    mount(list,
      table({
        caption: 'Schedules',
        columns: [
          { label: 'Name', render: (s) => h('strong', null, s.name) },
          { label: 'When', render: when },
          { label: 'Timezone', render: zone },
          { label: 'Queue', render: (s) => s.queue },
          { label: 'Job', render: (s) => (s.job && s.job.name) || 'default' },
          { label: 'Status', render: status },
          { label: 'Next fire', render: (s) => (s.paused ? h('span', { class: 'muted' }, 'paused') : time(s.nextAt)) },
          { label: 'Last tick', render: (s) => time(s.lastTick) },
        ],
        rows,
        rowLabel: (s) => `Schedule ${s.name}`,
        onOpen: (s) => ctx.go(scheduleHash(s.id)),
        empty: 'No schedule yet. A schedule enqueues a job on a cron timetable, at an interval or once.',
      }),
      items.length > PER_PAGE ? pager({ page, perPage: PER_PAGE, count: rows.length, total: items.length, onPage: (p) => {
        page = p;
        history.replaceState(null, '', `#/schedules${p > 1 ? `?page=${p}` : ''}`);
        draw();
      } }) : null);
  }

  try {
    const out = await get('/api/schedules');
    if (!ctx.isCurrent()) return;
    items = (out.items || []).sort((a, b) => a.name.localeCompare(b.name));
    draw();
  } catch (err) {
    if (ctx.isCurrent()) mount(list, errorBox(err));
  }
}

// ---------------------------------------------------------------------------------------
// Create or edit: `current` is the schedule to edit, or null for a new one.

async function scheduleDialog(ctx, current) {
  let queues = [];
  try {
    queues = ((await get('/api/queues')).items || []).map((q) => q.name);
  } catch {
    // Only suggestions: typing a queue name works without them.
  }
  const t = (current && current.schedule) || {};
  const job = (current && current.job) || {};
  const kindOf = t.every ? 'every' : t.at ? 'at' : 'cron';
  const name = input({ name: 'name', required: true, value: current ? current.name : '' });
  const kind = select({ name: 'kind' }, [['cron', 'On a cron timetable'], ['every', 'At a fixed interval'], ['at', 'Once, at a given time']], kindOf);
  const cron = input({ name: 'cron', value: t.cron || '', placeholder: '30 2 * * *', spellcheck: 'false', autocomplete: 'off' });
  const tz = input({ name: 'timezone', value: t.timezone || (current ? 'UTC' : localZone()), list: 'sched-zones', autocomplete: 'off' });
  const every = input({ name: 'every', value: t.every || '', placeholder: '15m' });
  const anchor = input({ name: 'anchor', value: t.anchor || '', placeholder: '2026-01-01T00:00:00Z' });
  const at = input({ type: 'datetime-local', name: 'at', value: t.at ? localInput(t.at) : '' });
  const queue = input({ name: 'queue', required: true, value: current ? current.queue : '', list: 'sched-queues', autocomplete: 'off' });
  const jobName = input({ name: 'jobName', value: job.name || 'default' });
  const payload = h('textarea', { name: 'payload', spellcheck: 'false', placeholder: '{"kind": "nightly"}' });
  payload.value = job.payload === undefined || job.payload === null ? '' : JSON.stringify(job.payload, null, 2);
  const overlap = select({ name: 'overlap' }, [['skip', 'Skip a tick while the last job is pending'], ['allow', 'Enqueue anyway']], current ? current.overlap : 'skip');
  const catchup = select({ name: 'catchup' }, [['skip', 'Skip missed ticks'], ['runOnce', 'Run the latest missed tick once']], current ? current.catchup : 'skip');

  const cronPart = h('div', null,
    field('Cron', cron, { hint: '5 fields (minute hour day month weekday), or 6 with seconds first; @daily, @hourly…' }),
    field('Timezone', tz, { hint: 'An IANA zone; cron times are wall-clock times there.' }),
    h('datalist', { id: 'sched-zones' }, zones().map((z) => h('option', { value: z }))));
  const everyPart = h('div', null,
    field('Every', every, { hint: 's, m, h, d, e.g. 15m or 1h30m (1 s to 366 d).' }),
    field('Anchor', anchor, { hint: 'Optional RFC 3339 time the ticks count from (default: creation).' }));
  const atPart = h('div', null, field('At', at, { hint: 'Your local time; must be in the future.' }));
  const showKind = () => {
    cronPart.hidden = kind.value !== 'cron';
    everyPart.hidden = kind.value !== 'every';
    atPart.hidden = kind.value !== 'at';
  };
  kind.addEventListener('change', showKind);
  showKind();

  const saved = await formDialog(current ? `Edit schedule ${current.name}` : 'New schedule', () => h('div', null,
    field('Name', name),
    field('Runs', kind),
    cronPart, everyPart, atPart,
    field('Queue', queue, { hint: 'The queue each tick enqueues into.' }),
    h('datalist', { id: 'sched-queues' }, queues.map((q) => h('option', { value: q }))),
    field('Job name', jobName),
    field('Payload (JSON)', payload, { hint: 'The job payload; empty for none.' }),
    h('div', { class: 'grid2' }, field('Overlap', overlap), field('Catch-up', catchup))),
  async () => {
    let schedule;
    if (kind.value === 'cron') schedule = { cron: cron.value.trim(), timezone: tz.value.trim() || 'UTC' };
    else if (kind.value === 'every') {
      schedule = { every: every.value.trim() };
      if (anchor.value.trim()) schedule.anchor = anchor.value.trim();
    } else {
      if (!at.value) throw new Error('Choose when the job runs.');
      schedule = { at: new Date(at.value).toISOString() };
    }
    const body = {
      name: name.value.trim(),
      schedule,
      queue: queue.value.trim(),
      job: { ...job, name: jobName.value.trim() || 'default', payload: parseJson(payload.value, 'Payload') },
      overlap: overlap.value,
      catchup: catchup.value,
    };
    if (body.job.payload === null) delete body.job.payload;
    return current ? patch(schedulePath(current.id), body) : post('/api/schedules', body);
  }, current ? 'Save' : 'Create');
  if (!saved) return null;
  toast(current ? `Schedule ${saved.name} saved.` : `Schedule ${saved.name} created.`);
  ctx.go(scheduleHash(saved.id));
  return saved;
}

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

/** An RFC 3339 time as a `datetime-local` value in the reader's zone. */
function localInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// ---------------------------------------------------------------------------------------
// #/schedules/ID

async function detailPage(ctx, id) {
  ctx.title(`Schedule ${id}`);
  let s = null;
  let topic = null;
  let unsubscribe = null;

  const pauseBtn = button('Pause', () => togglePause(), { disabled: true });
  const triggerBtn = button('Trigger now', () => trigger(), { disabled: true, class: 'primary' });
  const editBtn = button('Edit', () => scheduleDialog(ctx, s), { disabled: true });
  const deleteBtn = button('Delete', () => remove(), { disabled: true, class: 'danger' });
  const heading = h('h1', null, `Schedule ${id}`);
  const problem = h('div', null, loading());
  const details = h('dl', { class: 'kv' });
  const payload = h('pre', { 'aria-label': 'Job payload' });
  const upcoming = h('div');
  const runs = h('div', null, loading());
  const body = h('div', { hidden: true },
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'sched-details-h' }, h('h2', { id: 'sched-details-h', style: 'margin-top: 0' }, 'Details'), details),
      h('section', { class: 'card', 'aria-labelledby': 'sched-next-h' }, h('h2', { id: 'sched-next-h', style: 'margin-top: 0' }, 'Next fire times'), upcoming)),
    h('h2', null, 'Job payload'), payload,
    h('h2', { id: 'sched-runs-h' }, 'Run history'), runs);
  const crumb = h('span', null, id);
  mount(ctx.main,
    h('p', { class: 'small' }, h('a', { href: '#/schedules' }, 'Schedules'), ' › ', crumb),
    h('header', { class: 'page-head' }, heading, h('div', { class: 'actions' }, pauseBtn, triggerBtn, editBtn, deleteBtn)),
    problem,
    body);

  async function load() {
    try {
      const out = await get(schedulePath(id), { next: 10 });
      if (!ctx.isCurrent()) return;
      show(out);
    } catch (err) {
      if (ctx.isCurrent()) mount(problem, errorBox(err));
    }
  }

  function show(next) {
    s = next;
    mount(problem);
    body.hidden = false;
    ctx.title(`Schedule ${s.name}`);
    heading.textContent = `Schedule ${s.name}`;
    crumb.textContent = s.name;
    pauseBtn.textContent = s.paused ? 'Resume' : 'Pause';
    for (const b of [pauseBtn, triggerBtn, editBtn, deleteBtn]) b.disabled = false;
    const t = s.schedule || {};
    mount(details, [
      ['Status', status(s)],
      ['When', when(s)],
      ['Timezone', zone(s)],
      t.anchor ? ['Anchor', time(t.anchor)] : null,
      ['Queue', h('a', { href: `#/jobs/${seg(s.queue)}` }, s.queue)],
      ['Job name', (s.job && s.job.name) || 'default'],
      ['Overlap', s.overlap === 'allow' ? 'enqueue even while the last job is pending' : 'skip while the last job is pending'],
      ['Catch-up', s.catchup === 'runOnce' ? 'run the latest missed tick once' : 'skip missed ticks'],
      ['Last tick', time(s.lastTick)],
      ['Last job', s.lastJobId ? h('a', { href: jobHash(s.queue, s.lastJobId) }, s.lastJobId) : '—'],
      ['ID', h('code', null, s.id)],
      ['Created', time(s.createdAt)],
      ['Updated', time(s.updatedAt)],
    ].filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
    payload.textContent = JSON.stringify(s.job && s.job.payload !== undefined ? s.job.payload : null, null, 2);
    drawUpcoming(s.upcoming || []);
    if (topic !== s.queue) follow(s.queue);
  }

  function drawUpcoming(list) {
    const tz = zone(s);
    const other = tz !== '—' && tz !== localZone();
    mount(upcoming,
      s.paused ? h('p', { class: 'notice' }, 'Paused: these ticks fire only once the schedule is resumed.') : null,
      list.length
        ? h('ol', { 'aria-label': 'Next fire times' }, list.map((at) => h('li', null, time(at),
          other ? h('span', { class: 'muted small' }, ` (${inZone(at, tz)} ${tz})`) : null)))
        : h('p', { class: 'empty' }, 'No tick to come.'));
  }

  async function loadRuns() {
    try {
      const out = await get(`${schedulePath(id)}/runs`, { limit: 20 });
      if (!ctx.isCurrent()) return;
      mount(runs, table({
        caption: 'Run history',
        columns: [
          { label: 'Tick', render: (r) => time(r.tick) },
          { label: 'Fired', render: (r) => time(r.firedAt) },
          { label: 'Outcome', render: (r) => badge(r.outcome) },
          { label: 'Job', render: (r) => (r.jobId ? h('a', { href: jobHash(s.queue, r.jobId) }, r.jobId) : '—') },
          { label: 'Job state', render: (r) => (r.jobState ? badge(r.jobState) : h('span', { class: 'muted' }, r.jobId ? 'pruned' : '—')) },
        ],
        rows: out.items || [],
        empty: 'No run yet.',
      }), h('p', { class: 'muted small' }, 'The 20 latest runs.'));
    } catch (err) {
      if (ctx.isCurrent()) mount(runs, errorBox(err));
    }
  }

  /** Job events of the schedule's queue refresh the run history (its jobs' states). */
  function follow(queue) {
    if (unsubscribe) unsubscribe();
    topic = queue;
    unsubscribe = realtime.subscribe(`jobs/${queue}`, (data) => {
      if (data && data.action && data.record && data.record.queue === queue) refresh();
    });
  }

  let pending = null;
  function refresh() {
    clearTimeout(pending);
    pending = setTimeout(() => {
      load();
      loadRuns();
    }, 500);
  }

  async function togglePause() {
    pauseBtn.disabled = true;
    try {
      show({ ...(await post(`${schedulePath(id)}/${s.paused ? 'resume' : 'pause'}`)), upcoming: s.upcoming });
      toast(s.paused ? `Schedule ${s.name} paused.` : `Schedule ${s.name} resumed.`);
      load();
    } catch (err) {
      failed(err);
      pauseBtn.disabled = false;
    }
  }

  async function trigger() {
    triggerBtn.disabled = true;
    try {
      const job = await post(`${schedulePath(id)}/trigger`);
      toast(`Job ${job.id} enqueued into ${job.queue}.`);
      await Promise.all([load(), loadRuns()]);
    } catch (err) {
      failed(err);
    } finally {
      triggerBtn.disabled = false;
    }
  }

  async function remove() {
    const ok = await confirm('Delete this schedule?', `Schedule ${s.name} and its run history are deleted; jobs it already enqueued stay.`, 'Delete schedule');
    if (!ok) return;
    try {
      await del(schedulePath(id));
      toast(`Schedule ${s.name} deleted.`);
      ctx.go('#/schedules');
    } catch (err) {
      failed(err);
    }
  }

  const poll = setInterval(() => {
    load();
    loadRuns();
  }, 30_000);
  ctx.cleanup(() => {
    clearInterval(poll);
    clearTimeout(pending);
    if (unsubscribe) unsubscribe();
  });
  await load();
  if (s) await loadRuns();
  else mount(runs);
}

function inZone(iso, tz) {
  try {
    return new Date(iso).toLocaleString([], { timeZone: tz, dateStyle: 'medium', timeStyle: 'short' });
  } catch {
    return iso;
  }
}
