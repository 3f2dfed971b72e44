// Identity, users: the records of an auth collection (searched, paged) and the roles one
// record holds (assign, unassign), and signing a record out everywhere.

import { get, post, del, api, seg, quote } from '../api.js';
import { h, mount, field, input, select, button, table, pager, toast, errorBox, failed, confirm, time, badge, loading } from '../ui.js';
import { setHash, withQuery, permList, loadRoles } from './identity_common.js';

const USERS_PER_PAGE = 20;

export async function users(ctx, body, id) {
  const collection = ctx.query.collection || '';
  if (id) return userDetail(ctx, body, collection || 'users', id);
  const state = { collection, q: ctx.query.q || '', page: Number(ctx.query.page) || 1 };
  let authCollections = [];
  let listError = null;
  try {
    const out = await get('/api/collections', { filter: 'type = "auth"', perPage: 200, sort: 'name', skipTotal: 1 });
    authCollections = out.items.filter((c) => c.name !== '_superusers');
  } catch (err) {
    listError = err;
  }
  if (!ctx.isCurrent()) return;
  if (!state.collection) state.collection = (authCollections.find((c) => c.name === 'users') || authCollections[0] || { name: 'users' }).name;

  const collectionControl = authCollections.length
    ? select({ name: 'collection' }, authCollections.map((c) => c.name), state.collection)
    : input({ name: 'collection', value: state.collection, required: true });
  const search = input({ type: 'search', name: 'q', value: state.q });
  const results = h('div');
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Auth collection', collectionControl),
    field('Search', search, { class: 'grow', hint: 'Part of an email, a username, a name or an id.' }),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.collection = collectionControl.value.trim();
    state.q = search.value.trim();
    state.page = 1;
    load();
  });
  collectionControl.addEventListener('change', () => form.requestSubmit());

  mount(body,
    h('p', { class: 'muted' }, 'Records of auth collections are created and edited on the ',
      h('a', { href: '#/collections' }, 'Collections'), ' page. Here you see and change the roles a record holds, and sign it out everywhere. Superusers hold every permission and take no roles.'),
    listError ? errorBox(listError) : null,
    form, results);

  async function load() {
    setHash(withQuery('#/identity/users', { collection: state.collection, q: state.q, page: state.page }));
    mount(results, loading());
    const coll = authCollections.find((c) => c.name === state.collection);
    const names = new Set((coll ? coll.fields || [] : []).map((f) => f.name));
    const query = { page: state.page, perPage: USERS_PER_PAGE, skipTotal: 1, sort: '-created' };
    if (state.q) {
      const terms = ['id', 'email', 'username', 'name'].filter((n) => n === 'id' || n === 'email' || names.has(n));
      query.filter = terms.map((n) => `${n} ~ ${quote(state.q)}`).join(' || ');
    }
    try {
      const out = await get(`/api/collections/${seg(state.collection)}/records`, query);
      if (!ctx.isCurrent()) return;
      const open = (r) => ctx.go(`#/identity/users/${seg(r.id)}?collection=${encodeURIComponent(state.collection)}`);
      mount(results,
        table({
          caption: `Records of ${state.collection}`,
          columns: [
            { label: 'Id', render: (r) => h('a', { href: `#/identity/users/${seg(r.id)}?collection=${encodeURIComponent(state.collection)}` }, r.id) },
            { label: 'Email', render: (r) => r.email || h('span', { class: 'muted' }, '—') },
            { label: 'Username / name', render: (r) => r.username || r.name || '' },
            { label: 'Verified', render: (r) => badge(r.verified ? 'verified' : 'unverified', r.verified ? 'ok' : 'waiting') },
            { label: 'Created', render: (r) => time(r.created) },
          ],
          rows: out.items,
          onOpen: open,
          rowLabel: (r) => `Record ${r.email || r.username || r.id}`,
          empty: state.q ? 'No record matches the search.' : 'This collection has no records yet.',
        }),
        pager({ page: state.page, perPage: USERS_PER_PAGE, count: out.items.length, onPage: (p) => { state.page = p; load(); } }));
    } catch (err) {
      if (ctx.isCurrent()) mount(results, errorBox(err));
    }
  }
  await load();
}

async function userDetail(ctx, body, collection, id) {
  const base = `/api/collections/${seg(collection)}/records/${seg(id)}`;
  const [record, held, all] = await Promise.all([
    get(base),
    get(`${base}/roles`),
    loadRoles(),
  ]);
  if (!ctx.isCurrent()) return;
  const who = record.email || record.username || record.name || record.id;
  ctx.title(`${who} · Identity`);
  const rolesBox = h('div');
  mount(body,
    h('p', null, h('a', { href: withQuery('#/identity/users', { collection }) }, `← Records of ${collection}`)),
    h('div', { class: 'page-head' }, h('h2', null, who),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `#/collections/${seg(collection)}/records/${seg(id)}` }, 'Edit the record'),
        button('Revoke sessions', revokeSessions, { class: 'danger' }))),
    h('div', { class: 'card' }, h('dl', { class: 'kv' },
      h('dt', null, 'Collection'), h('dd', null, collection),
      h('dt', null, 'Id'), h('dd', { class: 'mono' }, record.id),
      h('dt', null, 'Email'), h('dd', null, record.email || '—'),
      h('dt', null, 'Verified'), h('dd', null, record.verified ? 'yes' : 'no'),
      h('dt', null, 'Created'), h('dd', null, time(record.created)))),
    h('h2', null, 'Roles'),
    all.error ? errorBox(all.error) : null,
    rolesBox);
  showRoles(held.roles);

  function showRoles(names) {
    const byName = new Map(all.items.map((r) => [r.name, r]));
    const free = all.items.filter((r) => !names.includes(r.name));
    const pick = select({ name: 'role' }, free.map((r) => r.name));
    const assign = h('form', { class: 'toolbar', style: 'margin-top: .75rem' },
      field('Role to assign', pick),
      h('button', { type: 'submit', class: 'primary', disabled: !free.length }, 'Assign role'));
    assign.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!pick.value) return;
      try {
        const out = await api('PUT', `/api/roles/${seg(pick.value)}/members/${seg(collection)}/${seg(id)}`);
        toast(`Role ${pick.value} assigned.`);
        showRoles(out.roles);
      } catch (err) {
        failed(err);
      }
    });
    mount(rolesBox,
      table({
        caption: 'Roles held',
        columns: [
          { label: 'Role', render: (n) => h('a', { href: `#/identity/roles/${seg(n)}` }, n) },
          { label: 'Permissions', render: (n) => permList(byName.get(n) ? byName.get(n).permissions : []) },
          { label: 'Actions', render: (n) => button('Unassign', () => unassign(n, names), { 'aria-label': `Unassign role ${n}` }) },
        ],
        rows: names,
        empty: 'This record holds no role.',
      }),
      assign);
  }

  async function unassign(name, names) {
    try {
      await del(`/api/roles/${seg(name)}/members/${seg(collection)}/${seg(id)}`);
      toast(`Role ${name} unassigned.`);
      showRoles(names.filter((n) => n !== name));
    } catch (err) {
      failed(err);
    }
  }

  async function revokeSessions() {
    const ok = await confirm(`Sign ${who} out everywhere?`,
      'Every auth, file and refresh token issued to this record stops working at once; it has to sign in again.', 'Revoke sessions');
    if (!ok) return;
    try {
      await post(`/api/collections/${seg(collection)}/auth-revoke`, { id });
      toast(`Every session of ${who} was revoked.`);
    } catch (err) {
      failed(err);
    }
  }
}
