// Identity, the audit trail: entries filtered and paged, each row expanding to its data, and
// one entry's own page.

import { get, seg, quote, ApiError } from '../api.js';
import { h, mount, field, input, button, table, pager, errorBox, time, badge, loading, uid } from '../ui.js';
import { setHash, withQuery } from './identity_common.js';

const AUDIT_PER_PAGE = 30;

export async function audit(ctx, body, id) {
  if (id) return auditEntry(ctx, body, id);
  const state = { filter: ctx.query.filter || '', page: Number(ctx.query.page) || 1 };
  const filter = input({ name: 'filter', value: state.filter, autocomplete: 'off', spellcheck: 'false', class: 'mono' });
  const results = h('div');
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Filter', filter, { class: 'grow', hint: 'PocketBase filter syntax, e.g. event = "role.create", success = false && created >= @todayStart, actor = "users/ID", details.role = "editor".' }),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    button('Clear', () => { filter.value = ''; form.requestSubmit(); }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.filter = filter.value.trim();
    state.page = 1;
    load();
  });
  mount(body,
    form,
    h('p', { class: 'small muted' }, 'The trail is append-only and hash-chained. The API has no call to check the chain: run ',
      h('code', null, 'keel audit verify'), ' on the server (it names the first broken entry, if any).'),
    results);

  async function load() {
    setHash(withQuery('#/identity/audit', { filter: state.filter, page: state.page }));
    mount(results, loading());
    try {
      const out = await get('/api/audit', { page: state.page, perPage: AUDIT_PER_PAGE, filter: state.filter, skipTotal: 1 });
      if (!ctx.isCurrent()) return;
      mount(results,
        auditTable(out.items),
        pager({ page: state.page, perPage: AUDIT_PER_PAGE, count: out.items.length, onPage: (p) => { state.page = p; load(); } }));
    } catch (err) {
      if (ctx.isCurrent()) mount(results, errorBox(err));
    }
  }
  await load();
}

function subject(e) {
  if (!e.collectionRef && !e.recordRef) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'mono small' }, [e.collectionRef, e.recordRef].filter(Boolean).join('/'));
}

/** The entries, each row opening (Enter, click or its button) a row with the entry's data. */
function auditTable(items) {
  const toggles = new Map();
  const columns = [
    { label: 'When', render: (e) => time(e.created) },
    { label: 'Event', render: (e) => h('code', null, e.event) },
    { label: 'Result', render: (e) => badge(e.success ? 'ok' : 'failed') },
    { label: 'Actor', render: (e) => h('span', { class: 'mono small' }, e.actor || '—') },
    { label: 'Subject', render: subject },
    { label: 'Identity', render: (e) => e.identity || '' },
    { label: 'IP', render: (e) => e.ip || '' },
    { label: 'Data', render: (e) => {
      const b = button('Show', () => toggles.get(e)(), { 'aria-expanded': 'false', 'aria-label': `Show the data of entry ${e.seq}` });
      e._button = b;
      return b;
    } },
  ];
  const wrap = table({ caption: 'Audit entries', columns, rows: items, onOpen: (e) => toggles.get(e)(), rowLabel: (e) => `Entry ${e.seq}: ${e.event}`, empty: 'No entry matches.' });
  const trs = wrap.querySelectorAll('tbody > tr');
  items.forEach((e, i) => {
    const tr = trs[i];
    const detailId = uid('audit');
    const detail = h('tr', { id: detailId, hidden: true },
      h('td', { colspan: columns.length }, entryData(e)));
    tr.after(detail);
    tr.setAttribute('aria-expanded', 'false');
    e._button.setAttribute('aria-controls', detailId);
    toggles.set(e, () => {
      detail.hidden = !detail.hidden;
      const open = String(!detail.hidden);
      tr.setAttribute('aria-expanded', open);
      e._button.setAttribute('aria-expanded', open);
      e._button.textContent = detail.hidden ? 'Show' : 'Hide';
      e._button.setAttribute('aria-label', `${detail.hidden ? 'Show' : 'Hide'} the data of entry ${e.seq}`);
    });
  });
  return wrap;
}

function entryData(e) {
  return h('div', null,
    h('dl', { class: 'kv small' },
      h('dt', null, 'Id'), h('dd', null, h('a', { href: `#/identity/audit/${seg(e.id)}`, class: 'mono' }, e.id)),
      h('dt', null, 'Sequence'), h('dd', null, String(e.seq)),
      h('dt', null, 'User agent'), h('dd', null, e.userAgent || '—'),
      h('dt', null, 'Hash'), h('dd', { class: 'mono' }, e.hash || '—'),
      h('dt', null, 'Previous hash'), h('dd', { class: 'mono' }, e.prevHash || '—')),
    h('pre', { 'aria-label': `Data of entry ${e.seq}` }, JSON.stringify(e.details ?? {}, null, 2)));
}

async function auditEntry(ctx, body, id) {
  const out = await get('/api/audit', { filter: `id = ${quote(id)}`, perPage: 1, skipTotal: 1 });
  if (!ctx.isCurrent()) return;
  const e = out.items[0];
  if (!e) throw new ApiError(404, { message: 'This audit entry does not exist (or retention removed it).' });
  ctx.title(`Audit entry ${e.seq} · Identity`);
  mount(body,
    h('p', null, h('a', { href: '#/identity/audit' }, '← Audit trail')),
    h('h2', null, `Entry ${e.seq}: `, h('code', null, e.event), ' ', badge(e.success ? 'ok' : 'failed')),
    h('div', { class: 'card' }, h('dl', { class: 'kv' },
      h('dt', null, 'When'), h('dd', null, time(e.created)),
      h('dt', null, 'Actor'), h('dd', { class: 'mono' }, e.actor || '—'),
      h('dt', null, 'Subject'), h('dd', null, subject(e)),
      h('dt', null, 'Identity'), h('dd', null, e.identity || '—'),
      h('dt', null, 'IP'), h('dd', null, e.ip || '—'))),
    entryData(e));
}
