// The overview: health, collections, job counts across queues, runs waiting for approval and
// recent request errors, each a link to its page. Each card stands alone: one the caller may
// not read says so without hiding the others.

import { get } from '../api.js';
import { h, mount, header, errorBox } from '../ui.js';

const CARDS = [
  ['Server', '#/settings', async () => {
    const out = await get('/api/health');
    return [out.message || 'OK', 'answers'];
  }],
  ['Collections', '#/collections', async () => {
    const out = await get('/api/collections', { perPage: 500, fields: 'id,system' });
    return [String(out.items.filter((c) => !c.system).length), 'collections'];
  }],
  ['Jobs', '#/jobs', async () => {
    const out = await get('/api/queues');
    const sum = (state) => out.items.reduce((n, q) => n + ((q.counts && q.counts[state]) || 0), 0);
    return [String(sum('waiting') + sum('active')), `waiting or active in ${out.items.length} queue${out.items.length === 1 ? '' : 's'}; ${sum('dead')} dead`];
  }],
  ['Approvals', '#/ops/approvals', async () => {
    const out = await get('/api/ops/runs', { filter: 'state = "awaiting_approval"', perPage: 1 });
    return [String(out.totalItems ?? out.items.length), 'runs awaiting approval'];
  }],
  ['Errors', '#/logs', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString().replace('T', ' ');
    const out = await get('/api/logs', { filter: `data.status >= 500 && created >= "${since}"`, perPage: 1 });
    return [String(out.totalItems), 'server errors in the last hour'];
  }],
];

export default async function render(ctx) {
  ctx.title('Overview');
  const grid = h('div', { class: 'cards' });
  mount(ctx.main, header('Overview'), grid,
    h('p', { class: 'muted' }, 'The API is documented at ', h('a', { href: '/api/docs/' }, '/api/docs/'), '; metrics for Prometheus are at ', h('code', null, '/metrics'), '.'));
  await Promise.all(CARDS.map(async ([title, href, load]) => {
    const body = h('div', null, h('span', { class: 'muted' }, 'Loading…'));
    grid.append(h('section', { class: 'card', 'aria-label': title }, h('h2', { style: 'margin-top:0' }, h('a', { href }, title)), body));
    try {
      const [value, label] = await load();
      mount(body, h('div', { class: 'stat' }, value), h('div', { class: 'muted' }, label));
    } catch (err) {
      mount(body, err.status === 403 ? h('p', { class: 'muted' }, 'Your account may not see this.') : errorBox(err));
    }
  }));
}
