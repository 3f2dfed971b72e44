// Webhooks: endpoints (list, create, edit, enable/disable, delete, rotate the signing secret,
// which is shown once with a Copy button, send a test event) and an endpoint's delivery
// attempts, paged, each with Redeliver.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, button, header, table, pager, toast, errorBox, failed,
  dialog, confirm, formDialog, time, badge, short, loading,
} from '../ui.js';

/** A card of label/value pairs. */
const kvCard = (...pairs) => h('div', { class: 'card' }, h('dl', { class: 'kv' }, ...pairs));

const PER_PAGE = 20;
const EVENT_GROUPS = [
  ['Records', ['record.*', 'record.created', 'record.updated', 'record.deleted']],
  ['Jobs and schedules', ['job.*', 'job.completed', 'job.failed', 'job.dead', 'schedule.missed']],
  ['Ops runs', ['run.*', 'run.started', 'run.awaiting_approval', 'run.succeeded', 'run.failed', 'run.cancelled', 'run.interrupted']],
  ['Webhooks', ['webhook.*', 'webhook.disabled']],
];

export default async function render(ctx) {
  ctx.title('Webhooks');
  try {
    if (ctx.params.id) await endpointPage(ctx, ctx.params.id);
    else await endpointsList(ctx);
  } catch (err) {
    if (ctx.isCurrent()) mount(ctx.main, header('Webhooks'), errorBox(err));
  }
}

function stateBadge(w) {
  if (w.active) return w.failingSince ? badge('failing', 'warn') : badge('active', 'ok');
  return badge('disabled', 'cancelled');
}

async function endpointsList(ctx) {
  const page = Number(ctx.query.page) || 1;
  mount(ctx.main, header('Webhooks'), loading());
  const out = await get('/api/webhooks', { page, perPage: PER_PAGE });
  if (!ctx.isCurrent()) return;
  mount(ctx.main,
    header('Webhooks', button('New endpoint', () => endpointDialog(null).then((w) => w && afterCreate(ctx, w)), { class: 'primary' })),
    h('p', { class: 'muted' }, 'Keel POSTs events to these endpoints, signed as Standard Webhooks v1, and retries failures.'),
    table({
      caption: 'Endpoints',
      rows: out.items,
      empty: 'No endpoint yet.',
      onOpen: (w) => ctx.go(`#/webhooks/${seg(w.id)}`),
      rowLabel: (w) => `Endpoint ${w.url}`,
      columns: [
        { label: 'URL', render: (w) => h('a', { href: `#/webhooks/${seg(w.id)}`, class: 'cell mono', title: w.url }, w.url) },
        { label: 'Events', render: (w) => h('span', { class: 'small' }, (w.events || []).join(', ')) },
        { label: 'Collection', render: (w) => w.collection || '' },
        { label: 'State', render: (w) => stateBadge(w) },
        { label: 'Description', render: (w) => h('span', { class: 'cell' }, w.description || '') },
        { label: 'Created', render: (w) => time(w.created) },
      ],
    }),
    pager({ page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => ctx.go(p > 1 ? `#/webhooks?page=${p}` : '#/webhooks') }));
}

async function afterCreate(ctx, w) {
  await secretDialog('The endpoint\'s signing secret', w.secret);
  ctx.go(`#/webhooks/${seg(w.id)}`);
}

/** Shows a secret once, with a Copy button; resolves when closed. */
function secretDialog(title, secret) {
  return dialog(title, (close) => {
    const box = input({ name: 'secret', value: secret || '', readonly: true, class: 'mono' });
    box.addEventListener('focus', () => box.select());
    return h('div', null,
      h('p', null, 'Copy it now: it is shown only this once. Receivers verify signatures with it.'),
      field('Signing secret', box),
      h('div', { class: 'actions end' },
        button('Copy', async () => {
          try {
            await navigator.clipboard.writeText(secret);
            toast('Copied.');
          } catch {
            box.select();
            toast('Copying is not allowed here: the secret is selected, copy it with the keyboard.', 'error');
          }
        }),
        button('Done', () => close(), { class: 'primary' })));
  });
}

/** Creates (w = null) or edits an endpoint in a dialog; resolves with the saved endpoint. */
function endpointDialog(w) {
  const v = w || { events: [], headers: {} };
  const chosen = new Set(v.events || []);
  const url = input({ type: 'url', name: 'url', required: true, value: v.url || '', placeholder: 'https://hooks.example.com/keel' });
  const boxes = [];
  const all = h('input', { type: 'checkbox', name: 'event', value: '*', checked: chosen.has('*') });
  boxes.push(all);
  const groups = EVENT_GROUPS.map(([legend, events]) => h('fieldset', null, h('legend', null, legend),
    events.map((ev) => {
      const cb = h('input', { type: 'checkbox', name: 'event', value: ev, checked: chosen.has(ev) });
      boxes.push(cb);
      return field(ev.endsWith('.*') ? `${ev} (every ${ev.slice(0, -2)} event)` : ev, cb);
    })));
  const other = input({ name: 'otherEvents', value: [...chosen].filter((e) => !boxes.some((b) => b.value === e)).join(', ') });
  const collection = input({ name: 'collection', value: v.collection || '', placeholder: 'posts' });
  const filter = input({ name: 'filter', value: v.filter || '', placeholder: 'status = "published"' });
  const headers = h('textarea', { name: 'headers', rows: 3, spellcheck: 'false', value: Object.keys(v.headers || {}).length ? JSON.stringify(v.headers, null, 2) : '' });
  const description = input({ name: 'description', value: v.description || '' });
  return formDialog(w ? 'Edit endpoint' : 'New endpoint', () => [
    field('URL', url, { hint: 'http(s)://; internal addresses are refused unless [outbound] allow lists them.' }),
    h('fieldset', null, h('legend', null, 'Events'),
      field('Every event (*)', all),
      h('div', { class: 'grid2' }, groups),
      field('Other event types', other, { hint: 'Comma-separated, if any.' })),
    h('div', { class: 'grid2' },
      field('Collection', collection, { hint: 'Required with record events.' }),
      field('Filter', filter, { hint: 'Optional, in the rule language.' })),
    field('Headers (JSON)', headers, { hint: 'Optional extra headers, e.g. {"Authorization": "Bearer …"}.' }),
    field('Description', description),
  ], async () => {
    const events = boxes.filter((b) => b.checked).map((b) => b.value)
      .concat(other.value.split(',').map((s) => s.trim()).filter(Boolean));
    let hdrs = {};
    if (headers.value.trim()) {
      try {
        hdrs = JSON.parse(headers.value);
      } catch (ex) {
        throw new Error(`Headers: not valid JSON (${ex.message}).`);
      }
    }
    const body = { url: url.value.trim(), events, collection: collection.value.trim(), filter: filter.value, headers: hdrs, description: description.value };
    const saved = w ? await patch(`/api/webhooks/${seg(w.id)}`, body) : await post('/api/webhooks', body);
    toast(w ? 'Endpoint saved.' : 'Endpoint created.');
    return saved;
  }, w ? 'Save' : 'Create');
}

async function endpointPage(ctx, id) {
  const page = Number(ctx.query.page) || 1;
  mount(ctx.main, header('Webhooks'), loading());
  const w = await get(`/api/webhooks/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  ctx.title(`${w.url} · Webhooks`);
  const reload = () => ctx.go(`#/webhooks/${seg(w.id)}${page > 1 ? `?page=${page}` : ''}`);
  const testBox = h('div', { role: 'status', 'aria-live': 'polite' });
  const deliveries = h('div', null, loading());

  async function loadDeliveries() {
    try {
      const out = await get(`/api/webhooks/${seg(w.id)}/deliveries`, { page, perPage: PER_PAGE });
      if (!ctx.isCurrent()) return;
      mount(deliveries, deliveriesTable(w, out.items, loadDeliveries),
        pager({ page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => ctx.go(`#/webhooks/${seg(w.id)}${p > 1 ? `?page=${p}` : ''}`) }));
    } catch (err) {
      if (ctx.isCurrent()) mount(deliveries, errorBox(err));
    }
  }

  async function sendTest(e) {
    const btn = e.currentTarget;
    btn.disabled = true;
    mount(testBox, h('p', { class: 'notice' }, 'Sending a webhook.test event…'));
    try {
      const out = await post(`/api/webhooks/${seg(w.id)}/test`);
      if (!ctx.isCurrent()) return;
      mount(testBox, h('div', { class: out.status === 'succeeded' ? 'notice' : 'error' },
        'Test: ', badge(out.status), out.httpStatus ? ` HTTP ${out.httpStatus} after ${out.durationMs} ms` : ` no answer after ${out.durationMs} ms`,
        out.error ? ` · ${out.error}` : '', out.response ? h('pre', null, out.response) : null));
      await loadDeliveries();
    } catch (err) {
      mount(testBox, errorBox(err));
    } finally {
      btn.disabled = false;
    }
  }

  async function toggle() {
    try {
      await patch(`/api/webhooks/${seg(w.id)}`, { active: !w.active });
      toast(w.active ? 'Endpoint disabled.' : 'Endpoint enabled.');
      reload();
    } catch (err) {
      failed(err);
    }
  }

  async function rotate() {
    if (!(await confirm('Rotate the secret?', 'A new secret signs from now on; the old one keeps signing beside it for the grace period ([webhooks] secret_grace_hours).', 'Rotate'))) return;
    try {
      const out = await post(`/api/webhooks/${seg(w.id)}/rotate-secret`);
      await secretDialog('The new signing secret', out.secret);
      reload();
    } catch (err) {
      failed(err);
    }
  }

  async function remove() {
    if (!(await confirm('Delete this endpoint?', `${w.url} stops receiving events; deliveries still queued complete without being sent.`))) return;
    try {
      await del(`/api/webhooks/${seg(w.id)}`);
      toast('Endpoint deleted.');
      ctx.go('#/webhooks');
    } catch (err) {
      failed(err);
    }
  }

  mount(ctx.main,
    h('p', { class: 'small' }, h('a', { href: '#/webhooks' }, '← Webhooks')),
    header('Endpoint',
      button('Send test', sendTest, { class: 'primary' }),
      button('Edit', () => endpointDialog(w).then((v) => v && reload())),
      button(w.active ? 'Disable' : 'Enable', toggle),
      button('Rotate secret', rotate),
      button('Delete', remove, { class: 'danger' })),
    kvCard(
      h('dt', null, 'URL'), h('dd', { class: 'mono' }, w.url),
      h('dt', null, 'State'), h('dd', null, stateBadge(w),
        w.disabledReason ? ` ${w.disabledReason}` : '', w.disabledAt ? [' · since ', time(w.disabledAt)] : ''),
      w.failingSince ? [h('dt', null, 'Failing since'), h('dd', null, time(w.failingSince))] : null,
      h('dt', null, 'Events'), h('dd', null, (w.events || []).join(', ')),
      w.collection ? [h('dt', null, 'Collection'), h('dd', null, w.collection)] : null,
      w.filter ? [h('dt', null, 'Filter'), h('dd', { class: 'mono' }, w.filter)] : null,
      Object.keys(w.headers || {}).length ? [h('dt', null, 'Headers'), h('dd', { class: 'mono' }, Object.keys(w.headers).join(', '))] : null,
      w.description ? [h('dt', null, 'Description'), h('dd', null, w.description)] : null,
      w.previousSecretUntil ? [h('dt', null, 'Old secret signs until'), h('dd', null, time(w.previousSecretUntil))] : null,
      h('dt', null, 'Created'), h('dd', null, time(w.created)),
      h('dt', null, 'Updated'), h('dd', null, time(w.updated))),
    testBox,
    h('div', { class: 'toolbar' }, h('h2', { class: 'grow', style: 'margin:0' }, 'Deliveries'), button('Refresh', () => loadDeliveries())),
    deliveries);
  await loadDeliveries();
}

function deliveriesTable(w, items, reload) {
  return table({
    caption: 'Delivery attempts, newest first',
    rows: items,
    empty: 'No delivery yet. Send a test to see one.',
    onOpen: deliveryDialog,
    rowLabel: (d) => `Delivery ${d.id}, ${d.eventType}, ${d.status}`,
    columns: [
      { label: 'Time', render: (d) => time(d.created) },
      { label: 'Event', render: (d) => d.eventType },
      { label: 'Status', render: (d) => badge(d.status) },
      { label: 'Attempt', class: 'num', render: (d) => String(d.attempt) },
      { label: 'Response code', class: 'num', render: (d) => (d.httpStatus ? String(d.httpStatus) : '—') },
      { label: 'Duration', class: 'num', render: (d) => `${d.durationMs ?? 0} ms` },
      { label: 'Error', render: (d) => (d.error ? h('span', { class: 'cell', title: d.error }, d.error) : '') },
      { label: 'Next attempt', render: (d) => time(d.nextAttemptAt) },
      { label: '', render: (d) => button('Redeliver', () => redeliver(w, d, reload), { 'aria-label': `Redeliver ${d.eventType} of ${d.created}` }) },
    ],
  });
}

async function redeliver(w, d, reload) {
  try {
    await post(`/api/webhooks/${seg(w.id)}/deliveries/${seg(d.id)}/redeliver`);
    toast('Queued again: the new attempt appears here once it is sent.');
    await reload();
  } catch (err) {
    failed(err);
  }
}

function deliveryDialog(d) {
  dialog(`Delivery of ${d.eventType}`, (close) => h('div', null,
    h('dl', { class: 'kv' },
      h('dt', null, 'Message'), h('dd', { class: 'mono' }, d.messageId),
      h('dt', null, 'Status'), h('dd', null, badge(d.status)),
      h('dt', null, 'Attempt'), h('dd', null, String(d.attempt)),
      h('dt', null, 'Response code'), h('dd', null, d.httpStatus ? String(d.httpStatus) : '—'),
      h('dt', null, 'Duration'), h('dd', null, `${d.durationMs ?? 0} ms`),
      h('dt', null, 'Time'), h('dd', null, time(d.created)),
      d.nextAttemptAt ? [h('dt', null, 'Next attempt'), h('dd', null, time(d.nextAttemptAt))] : null,
      d.error ? [h('dt', null, 'Error'), h('dd', null, d.error)] : null),
    h('h3', null, 'Payload'), h('pre', null, JSON.stringify(d.payload, null, 2)),
    h('h3', null, 'Response (first 1 KiB)'), h('pre', null, d.response ? short(d.response, 1024) : '(none)'),
    h('div', { class: 'actions end' }, button('Close', () => close()))));
}
