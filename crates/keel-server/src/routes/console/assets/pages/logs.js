// The Logs page: the request logs (`/api/logs`, filtered and paged), one log's detail, a
// chart of requests per hour (`/api/logs/stats`), and the request rate and latency read from
// Keel's Prometheus metrics (`/metrics`).

import { get, api, seg } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, errorBox, time, badge, loading,
} from '../ui.js';

const PER_PAGE = 50;
const MIN_BARS = 24;
const MAX_BARS = 168;
const SVG = 'http://www.w3.org/2000/svg';
const SORTS = [
  ['', 'Newest first'],
  ['@rowid', 'Oldest first'],
  ['-data.execTime', 'Slowest first'],
  ['-data.status', 'Highest status first'],
];

/** The list's last address, so a log's page leads back to the same filter and page. */
let lastList = '#/logs';

export default async function render(ctx) {
  if (ctx.params.id) return detail(ctx, ctx.params.id);
  ctx.title('Logs');
  const state = { filter: ctx.query.filter || '', sort: ctx.query.sort || '', page: Number(ctx.query.page) || 1 };
  const chart = h('div', null, loading());
  const metrics = h('div', null, loading());
  const results = h('div');
  const filter = input({ name: 'filter', value: state.filter, autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const sort = select({ name: 'sort' }, SORTS, state.sort);
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Filter', filter, { class: 'grow', hint: 'e.g. data.status >= 400, data.method = "POST" && data.url ~ "/api/collections", data.execTime > 100, data.auth = "_superusers".' }),
    field('Sort', sort),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    button('Clear', () => { filter.value = ''; sort.value = ''; form.requestSubmit(); }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.filter = filter.value.trim();
    state.sort = sort.value;
    state.page = 1;
    refresh();
  });
  const scraper = metricsScraper(ctx, metrics);

  mount(ctx.main,
    header('Logs', button('Refresh', () => { refresh(); scraper.scrape(); })),
    h('section', { class: 'card', 'aria-labelledby': 'logs-chart-title' }, h('h2', { id: 'logs-chart-title', style: 'margin-top: 0' }, 'Requests per hour'), chart),
    h('section', { class: 'card', 'aria-labelledby': 'logs-metrics-title' }, h('h2', { id: 'logs-metrics-title', style: 'margin-top: 0' }, 'Rate and latency'), metrics),
    h('h2', null, 'Request logs'),
    form,
    results);

  function refresh() {
    return Promise.all([list(), stats()]);
  }

  async function list() {
    lastList = withQuery(state);
    if (location.hash !== lastList) history.replaceState(null, '', lastList);
    mount(results, loading());
    try {
      const out = await get('/api/logs', { page: state.page, perPage: PER_PAGE, filter: state.filter, sort: state.sort, skipTotal: 1 });
      if (!ctx.isCurrent()) return;
      mount(results,
        logsTable(ctx, out.items, state.filter),
        pager({ page: state.page, perPage: PER_PAGE, count: out.items.length, onPage: (p) => { state.page = p; list(); } }));
    } catch (err) {
      if (ctx.isCurrent()) mount(results, errorBox(err));
    }
  }

  async function stats() {
    try {
      const out = await get('/api/logs/stats', { filter: state.filter });
      if (ctx.isCurrent()) mount(chart, requestsChart(out, state.filter));
    } catch (err) {
      if (ctx.isCurrent()) mount(chart, errorBox(err));
    }
  }

  await Promise.all([refresh(), scraper.scrape()]);
  const timer = setInterval(() => scraper.scrape(), 30_000);
  ctx.cleanup(() => clearInterval(timer));
}

function withQuery(state) {
  const p = new URLSearchParams();
  if (state.filter) p.set('filter', state.filter);
  if (state.sort) p.set('sort', state.sort);
  if (state.page > 1) p.set('page', String(state.page));
  const s = p.toString();
  return s ? `#/logs?${s}` : '#/logs';
}

function statusBadge(status) {
  const n = Number(status) || 0;
  return badge(String(status ?? ''), n >= 500 ? 'error' : n >= 400 ? 'warn' : 'ok');
}

function ms(value) {
  if (value === undefined || value === null || value === '') return '';
  const n = Number(value);
  return n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(n >= 10 ? 1 : 2)} ms`;
}

function logsTable(ctx, items, filter) {
  return table({
    caption: 'Request logs',
    columns: [
      { label: 'Time', render: (l) => h('a', { href: `#/logs/${seg(l.id)}` }, time(l.created)) },
      { label: 'Method', render: (l) => (l.data && l.data.method) || '' },
      { label: 'Status', render: (l) => statusBadge(l.data && l.data.status) },
      { label: 'URL', render: (l) => h('span', { class: 'cell mono', title: (l.data && l.data.url) || l.message }, (l.data && l.data.url) || l.message) },
      { label: 'Duration', class: 'num', render: (l) => ms(l.data && l.data.execTime) },
      { label: 'Auth', render: (l) => (l.data && l.data.auth) || h('span', { class: 'muted' }, 'guest') },
      { label: 'IP', render: (l) => (l.data && l.data.userIP) || '' },
    ],
    rows: items,
    onOpen: (l) => ctx.go(`#/logs/${seg(l.id)}`),
    rowLabel: (l) => `${l.message} ${(l.data && l.data.status) || ''}`,
    empty: filter ? 'No request matches the filter.' : 'No request logged yet.',
  });
}

// ---------------------------------------------------------------------------------------
// Charts.

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

/**
 * A bar chart: `bars` = [{value, label}]; an image with its own title and description, each
 * bar titled with its label and value for pointer users.
 */
export function barChart(title, description, bars) {
  const width = Math.max(bars.length * 10, 100);
  const height = 100;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const step = width / Math.max(bars.length, 1);
  const titleId = `chart-${Math.random().toString(36).slice(2, 9)}`;
  const el = svg('svg', {
    class: 'chart', role: 'img', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none',
    'aria-labelledby': `${titleId}-t ${titleId}-d`,
  },
  svg('title', { id: `${titleId}-t` }, document.createTextNode(title)),
  svg('desc', { id: `${titleId}-d` }, document.createTextNode(description)),
  svg('line', { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, stroke: 'currentColor', 'stroke-opacity': '0.3', 'stroke-width': 1, 'vector-effect': 'non-scaling-stroke' }));
  bars.forEach((b, i) => {
    const hgt = b.value ? Math.max((b.value / max) * (height - 4), 1.5) : 0;
    el.append(svg('rect', { x: i * step + step * 0.1, y: height - hgt, width: step * 0.8, height: hgt },
      svg('title', {}, document.createTextNode(`${b.label}: ${b.value}`))));
  });
  return el;
}

function hourStart(d) {
  const x = new Date(d);
  x.setUTCMinutes(0, 0, 0);
  return x.getTime();
}

function requestsChart(rows, filter) {
  if (!rows.length) return h('p', { class: 'empty' }, filter ? 'No request matches the filter in the kept logs.' : 'No request logged yet.');
  const counts = new Map(rows.map((r) => [hourStart(new Date(r.date.replace(' ', 'T'))), r.total]));
  const last = Math.max(hourStart(Date.now()), ...counts.keys());
  const first = Math.max(Math.min(last - (MIN_BARS - 1) * 3600_000, ...counts.keys()), last - (MAX_BARS - 1) * 3600_000);
  const bars = [];
  for (let t = first; t <= last; t += 3600_000) {
    bars.push({ value: counts.get(t) || 0, label: new Date(t).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) });
  }
  const total = bars.reduce((s, b) => s + b.value, 0);
  const peak = Math.max(...bars.map((b) => b.value));
  const what = filter ? 'matching requests' : 'requests';
  const description = `${total} ${what} in ${bars.length} hours, from ${bars[0].label} to ${bars[bars.length - 1].label}; at most ${peak} in one hour.`;
  return h('div', null,
    barChart(`Requests per hour${filter ? ` matching ${filter}` : ''}`, description, bars),
    h('p', { class: 'small muted', style: 'display: flex; justify-content: space-between; margin: .3rem 0 0' },
      h('span', null, bars[0].label), h('span', null, `${total} ${what} · peak ${peak}/hour`), h('span', null, bars[bars.length - 1].label)));
}

// ---------------------------------------------------------------------------------------
// Prometheus metrics.

/** Parses Prometheus' text format into [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1], labels, value: Number(m[3] === '+Inf' ? Infinity : m[3]) });
  }
  return out;
}

/** The request totals and latency histogram (all routes, and per route). */
function summarize(samples) {
  const all = { count: 0, sum: 0, errors: 0, buckets: new Map() };
  const routes = new Map();
  const routeOf = (l) => {
    const key = `${l.method} ${l.route}`;
    if (!routes.has(key)) routes.set(key, { key, count: 0, sum: 0, buckets: new Map() });
    return routes.get(key);
  };
  let start = null;
  for (const s of samples) {
    if (s.name === 'process_start_time_seconds') start = s.value;
    else if (s.name === 'keel_http_requests_total') {
      all.count += s.value;
      if (Number(s.labels.status) >= 500) all.errors += s.value;
      routeOf(s.labels).count += s.value;
    } else if (s.name === 'keel_http_request_duration_seconds_sum') {
      all.sum += s.value;
      routeOf(s.labels).sum += s.value;
    } else if (s.name === 'keel_http_request_duration_seconds_bucket') {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      all.buckets.set(le, (all.buckets.get(le) || 0) + s.value);
      const r = routeOf(s.labels);
      r.buckets.set(le, (r.buckets.get(le) || 0) + s.value);
    }
  }
  return { all, routes: [...routes.values()], start };
}

/** Prometheus' histogram_quantile over cumulative buckets (a Map le → count), in seconds. */
export function quantile(q, buckets) {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (!sorted.length) return null;
  const total = sorted[sorted.length - 1][1];
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + (le - prevLe) * ((rank - prevCount) / ((count - prevCount) || 1));
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function secs(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  return v >= 1 ? `${Number(v.toFixed(2))} s` : ms(v * 1000);
}

function rate(v) {
  if (!Number.isFinite(v)) return '—';
  return v >= 10 ? `${v.toFixed(0)}/s` : `${v.toFixed(2)}/s`;
}

function latencyChart(buckets) {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  let prev = 0;
  const bars = sorted.map(([le, count]) => {
    const bar = { value: count - prev, label: le === Infinity ? `over ${secs(sorted[sorted.length - 2] ? sorted[sorted.length - 2][0] : 0)}` : `up to ${secs(le)}` };
    prev = count;
    return bar;
  });
  if (!bars.length) return null;
  return h('div', null,
    barChart('Request latency distribution since start', `Requests by duration, ${bars.map((b) => `${b.label}: ${b.value}`).join('; ')}.`, bars),
    h('p', { class: 'small muted', style: 'display: flex; justify-content: space-between; margin: .3rem 0 0' },
      h('span', null, bars[0].label), h('span', null, 'requests by duration'), h('span', null, bars[bars.length - 1].label)));
}

/** Reads `/metrics` now and then; the rate is taken between two reads (or since start). */
function metricsScraper(ctx, box) {
  let previous = null;
  async function scrape() {
    let text;
    try {
      const res = await api('GET', '/metrics', undefined, { raw: true, noExpiry: true });
      text = await res.text();
    } catch (err) {
      if (!ctx.isCurrent()) return;
      mount(box, h('p', { class: 'notice' }, 'Keel\'s metrics (', h('code', null, '/metrics'), ') cannot be read with this account: it needs the metrics:read permission.'), errorBox(err));
      return;
    }
    if (!ctx.isCurrent()) return;
    const now = Date.now() / 1000;
    const { all, routes, start } = summarize(parseMetrics(text));
    let current;
    let over;
    if (previous && now > previous.at) {
      current = (all.count - previous.count) / (now - previous.at);
      over = `over the last ${Math.round(now - previous.at)} s`;
    } else if (start) {
      current = all.count / Math.max(now - start, 1);
      over = 'average since the process started';
    }
    previous = { at: now, count: all.count };
    const top = routes.sort((a, b) => b.count - a.count).slice(0, 6);
    mount(box, h('div', { class: 'grid2' }, h('div', null,
      h('div', { class: 'cards', style: 'margin-bottom: .5rem' },
        stat('Request rate', rate(current), over),
        stat('Median latency', secs(quantile(0.5, all.buckets)), 'p50 since start'),
        stat('p95 latency', secs(quantile(0.95, all.buckets)), 'since start'),
        stat('p99 latency', secs(quantile(0.99, all.buckets)), `${all.count} requests, ${all.errors} answered 5xx`)),
      latencyChart(all.buckets)), h('div', null,
      h('h3', { style: 'margin-top: 0' }, 'Busiest routes'),
      table({
        caption: 'Busiest routes since start',
        columns: [
          { label: 'Route', render: (r) => h('span', { class: 'cell mono', title: r.key }, r.key) },
          { label: 'Requests', class: 'num', render: (r) => String(r.count) },
          { label: 'Average', class: 'num', render: (r) => secs(r.count ? r.sum / r.count : null) },
          { label: 'p95', class: 'num', render: (r) => secs(quantile(0.95, r.buckets)) },
        ],
        rows: top,
        empty: 'No request counted yet.',
      }))),
      h('p', { class: 'small muted' }, 'From this process\'s ', h('code', null, '/metrics'), ' (counters since it started), read every 30 s.'));
  }
  return { scrape };
}

function stat(label, value, note) {
  return h('div', null, h('div', { class: 'small muted' }, label), h('div', { class: 'stat' }, value), note ? h('div', { class: 'small muted' }, note) : null);
}

// ---------------------------------------------------------------------------------------
// One log.

async function detail(ctx, id) {
  ctx.title('Log · Logs');
  mount(ctx.main, header('Request log'), loading());
  const log = await get(`/api/logs/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  const d = log.data || {};
  const row = (label, value) => (value === undefined || value === null || value === '' ? null : [h('dt', null, label), h('dd', null, value)]);
  ctx.title(`${log.message} · Logs`);
  mount(ctx.main,
    header('Request log', h('a', { class: 'button', href: lastList }, 'Back to the logs')),
    h('p', { class: 'mono' }, log.message),
    h('div', { class: 'card' }, h('dl', { class: 'kv' },
      row('Time', time(log.created)),
      row('Level', `${log.level} (${log.level >= 8 ? 'error' : log.level >= 4 ? 'warning' : 'info'})`),
      row('Method', d.method),
      row('URL', h('span', { class: 'mono' }, d.url)),
      row('Status', statusBadge(d.status)),
      row('Duration', ms(d.execTime)),
      row('Auth', d.auth === '' ? 'guest' : d.auth),
      row('Auth id', d.authId),
      row('Client IP', d.userIP),
      row('Remote IP', d.remoteIP),
      row('Referer', d.referer),
      row('User agent', d.userAgent),
      row('Error', d.error))),
    d.details !== undefined ? [h('h2', null, 'Error details'), h('pre', null, JSON.stringify(d.details, null, 2))] : null,
    h('h2', null, 'Raw entry'),
    h('pre', null, JSON.stringify(log, null, 2)));
}
