// Background jobs, `#/jobs`: every queue with its jobs counted by state, the totals and a
// throughput chart.
//
// The chart is Keel's own count per minute (`GET /api/queues/{queue}/throughput`), summed
// over the queues and read again as job events arrive.

import { get, seg } from '../api.js';
import { h, mount, button, header, table, errorBox, badge, loading } from '../ui.js';
import { STATES, queueHash, coalesce, live, stat } from './jobs_common.js';
import { enqueueDialog } from './jobs_queue.js';

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

export async function queuesPage(ctx) {
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
