// Notifications, history: every notification sent, one per recipient, newest first (everyone's
// with notifications:read, otherwise the caller's own inbox), filtered and paged; a dialog shows
// one with its deliveries.

import { get, seg } from '../api.js';
import { h, mount, field, input, button, table, pager, errorBox, dialog, time, badge, short, loading } from '../ui.js';

const PER_PAGE = 20;

function recipient(n) {
  let addr = n.address;
  if (typeof addr === 'string' && addr.startsWith('{')) {
    try {
      addr = JSON.parse(addr);
    } catch {
      // shown as it is
    }
  }
  if (addr && typeof addr === 'object') return `${addr.address || addr.token || ''} (${addr.kind || 'address'})`;
  if (addr) return String(addr);
  if (n.recordRef) return `${n.collectionRef}/${n.recordRef}`;
  return n.topic ? `topic ${n.topic}` : '—';
}

// ---------------------------------------------------------------------------------------------
// History

export async function history({ ctx, body }) {
  ctx.title('History · Notifications');
  const page = Number(ctx.query.page) || 1;
  const filterIn = input({ name: 'filter', value: ctx.query.filter || '', placeholder: "subject ~ 'deploy' && status = 'sent'" });
  const form = h('form', { class: 'toolbar', role: 'search' }, field('Filter', filterIn, { class: 'grow' }), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = filterIn.value.trim();
    ctx.go(f ? `#/notifications/history?filter=${encodeURIComponent(f)}` : '#/notifications/history');
  });
  const results = h('div', null, loading());
  mount(body,
    h('p', { class: 'muted' }, 'Every notification sent, one per recipient, newest first: everyone\'s when you hold notifications:read (superusers do), otherwise your own inbox. Open one to see its deliveries.'),
    form, results);
  try {
    const out = await get('/api/notifications', { page, perPage: PER_PAGE, sort: '-created', skipTotal: 1, filter: ctx.query.filter });
    if (!ctx.isCurrent()) return;
    mount(results, table({
      caption: 'Notifications',
      rows: out.items,
      empty: 'No notification matches.',
      onOpen: notificationDialog,
      rowLabel: (n) => `Notification ${n.subject || n.id} to ${recipient(n)}`,
      columns: [
        { label: 'Sent', render: (n) => time(n.created) },
        { label: 'To', render: (n) => h('span', { class: 'cell' }, recipient(n)) },
        { label: 'Subject', render: (n) => h('span', { class: 'cell' }, n.subject || short(n.body, 60)) },
        { label: 'Channels', render: (n) => (n.channels || []).join(', ') },
        { label: 'Status', render: (n) => badge(n.status || 'unknown') },
        { label: 'Read', render: (n) => (n.readAt ? time(n.readAt) : h('span', { class: 'muted' }, 'no')) },
        { label: 'Flags', render: (n) => [n.critical ? badge('critical', 'warn') : null, n.ackRequired ? badge(n.ackedAt ? 'acked' : 'ack required', n.ackedAt ? 'ok' : 'warn') : null] },
      ],
    }), pager({
      page, perPage: PER_PAGE, count: out.items.length, total: -1,
      onPage: (p) => ctx.go(`#/notifications/history?page=${p}${ctx.query.filter ? `&filter=${encodeURIComponent(ctx.query.filter)}` : ''}`),
    }));
  } catch (err) {
    if (ctx.isCurrent()) mount(results, errorBox(err));
  }
}

function notificationDialog(n) {
  const deliveries = h('div', null, loading());
  dialog(n.subject || 'Notification', (close) => h('div', null,
    h('dl', { class: 'kv' },
      h('dt', null, 'To'), h('dd', null, recipient(n)),
      h('dt', null, 'Sent'), h('dd', null, time(n.created)),
      n.topic ? [h('dt', null, 'Topic'), h('dd', null, n.topic)] : null,
      n.template ? [h('dt', null, 'Template'), h('dd', null, n.template)] : null,
      h('dt', null, 'Status'), h('dd', null, badge(n.status || 'unknown')),
      h('dt', null, 'Read'), h('dd', null, time(n.readAt)),
      n.ackRequired ? [h('dt', null, 'Acknowledged'), h('dd', null, time(n.ackedAt))] : null),
    h('h3', null, 'Body'), h('pre', null, n.body || ''),
    Object.keys(n.data || {}).length ? [h('h3', null, 'Data'), h('pre', null, JSON.stringify(n.data, null, 2))] : null,
    h('h3', null, 'Deliveries'), deliveries,
    h('div', { class: 'actions end' }, button('Close', () => close()))));
  get(`/api/notifications/${seg(n.id)}/deliveries`).then((out) => {
    mount(deliveries, table({
      caption: 'Deliveries',
      rows: out.items,
      empty: 'No delivery (in-app only, or none due yet).',
      columns: [
        { label: 'Channel', render: (d) => d.channel },
        { label: 'Status', render: (d) => badge(d.status) },
        { label: 'Provider', render: (d) => d.provider || '—' },
        { label: 'Attempts', class: 'num', render: (d) => String(d.attempts ?? 0) },
        { label: 'Due', render: (d) => time(d.dueAt) },
        { label: 'Updated', render: (d) => time(d.updated) },
        { label: 'Error', render: (d) => d.error || '' },
      ],
    }));
  }, (err) => mount(deliveries, errorBox(err)));
}
