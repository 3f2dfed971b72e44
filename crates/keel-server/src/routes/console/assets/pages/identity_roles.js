// Identity, roles: the list, a role's page with its members, and the editor of a role's
// permissions (a checkbox per known permission, free text for the rest).

import { get, post, patch, del, api, seg } from '../api.js';
import { h, mount, field, input, button, table, toast, errorBox, failed, confirm, formDialog, badge, loading } from '../ui.js';
import { permList } from './identity_common.js';

/** Every permission the server checks (keel_app::authz), by service, and the wildcards. */
const PERMISSIONS = [
  ['Wildcards', ['*', '*:read']],
  ['Collections and records', ['collections:read', 'collections:manage', 'records:manage']],
  ['Jobs', ['jobs:enqueue', 'jobs:work', 'jobs:read', 'jobs:admin']],
  ['Cache', ['cache:read', 'cache:write', 'cache:admin']],
  ['Search', ['search:read', 'search:write', 'search:manage']],
  ['Roles, keys and audit', ['roles:read', 'roles:manage', 'apikeys:manage', 'audit:read']],
  ['Ops runbooks', ['ops:read', 'ops:run', 'ops:approve', 'ops:manage']],
  ['Vault', ['vault:read', 'vault:manage', 'vault:reveal']],
  ['Webhooks and notifications', ['webhooks:manage', 'notifications:read', 'notifications:send', 'notifications:manage']],
  ['Changes and metrics', ['changes:read', 'changes:approve', 'metrics:read']],
];
const WILDCARD_HINTS = { '*': '(everything)', '*:read': '(read every service)' };
const KNOWN = new Set(PERMISSIONS.flatMap(([, list]) => list));

export async function roles(ctx, body, name) {
  if (name) return roleDetail(ctx, body, name);
  const list = h('div', null, loading());
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow' }, 'A role is a named set of permissions. Records of auth collections and API keys hold roles; superusers hold everything. Built-in roles cannot be changed.'),
      button('New role', () => editRole(ctx, null), { class: 'primary' })),
    list);
  const out = await get('/api/roles');
  if (!ctx.isCurrent()) return;
  mount(list, table({
    caption: 'Roles',
    columns: [
      { label: 'Name', render: (r) => h('a', { href: `#/identity/roles/${seg(r.name)}` }, r.name) },
      { label: 'Description', render: (r) => r.description || '' },
      { label: 'Permissions', render: (r) => permList(r.permissions) },
      { label: 'Kind', render: (r) => (r.builtin ? badge('built-in', 'waiting') : badge('custom', 'ok')) },
    ],
    rows: out.items,
    onOpen: (r) => ctx.go(`#/identity/roles/${seg(r.name)}`),
    rowLabel: (r) => `Role ${r.name}`,
  }));
}

/** The permissions editor: a checkbox per known permission, and free text for the rest. */
function permissionsEditor(current = []) {
  const boxes = [];
  const groups = PERMISSIONS.map(([title, list]) => h('div', null,
    h('h3', { class: 'small muted', style: 'margin: .5rem 0 .2rem' }, title),
    h('div', { style: 'display: flex; flex-wrap: wrap; gap: 0 1rem' }, list.map((p) => {
      const box = h('input', { type: 'checkbox', name: 'permission', value: p, checked: current.includes(p) });
      boxes.push(box);
      const f = field(p, box, WILDCARD_HINTS[p] ? { hint: WILDCARD_HINTS[p] } : {});
      f.style.marginBottom = '.25rem';
      return f;
    }))));
  const other = input({ name: 'otherPermissions', value: current.filter((p) => !KNOWN.has(p)).join(', '), autocomplete: 'off' });
  const el = h('fieldset', { style: 'border: 1px solid var(--line); border-radius: 8px; margin: 0 0 .8rem' },
    h('legend', null, 'Permissions'),
    groups,
    field('Other permissions', other, { hint: 'service:action, service:*, *:action or *; separate several with commas (e.g. queues:*, billing:read).' }));
  const value = () => [
    ...boxes.filter((b) => b.checked).map((b) => b.value),
    ...other.value.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean),
  ].filter((p, i, all) => all.indexOf(p) === i);
  return { el, value };
}

async function editRole(ctx, role) {
  const name = input({ name: 'name', required: true, autocomplete: 'off' });
  const description = input({ name: 'description', value: role ? role.description : '' });
  const perms = permissionsEditor(role ? role.permissions : []);
  const saved = await formDialog(role ? `Edit role ${role.name}` : 'New role', () => h('div', null,
    role ? null : field('Name', name, { hint: 'Lowercase letters, digits, _ and -, starting with a letter.' }),
    field('Description', description),
    perms.el), async () => {
    const body = { description: description.value.trim(), permissions: perms.value() };
    if (role) return patch(`/api/roles/${seg(role.name)}`, body);
    return post('/api/roles', { name: name.value.trim(), ...body });
  }, role ? 'Save role' : 'Create role');
  if (!saved) return;
  toast(role ? `Role ${saved.name} saved.` : `Role ${saved.name} created.`);
  ctx.go(location.hash);
}

async function roleDetail(ctx, body, name) {
  const role = await get(`/api/roles/${seg(name)}`);
  if (!ctx.isCurrent()) return;
  ctx.title(`Role ${role.name} · Identity`);
  const membersBox = h('div', null, loading());
  mount(body,
    h('p', null, h('a', { href: '#/identity/roles' }, '← Roles')),
    h('div', { class: 'page-head' },
      h('h2', null, `Role ${role.name} `, role.builtin ? badge('built-in', 'waiting') : null),
      h('div', { class: 'actions' },
        role.builtin ? null : button('Edit', () => editRole(ctx, role)),
        role.builtin ? null : button('Delete', removeRole, { class: 'danger' }))),
    h('div', { class: 'card' }, h('dl', { class: 'kv' },
      h('dt', null, 'Description'), h('dd', null, role.description || '—'),
      h('dt', null, 'Permissions'), h('dd', null, permList(role.permissions)))),
    h('h2', null, 'Members'),
    membersBox);
  await members();

  async function members() {
    let out;
    try {
      out = await get(`/api/roles/${seg(name)}/members`);
    } catch (err) {
      if (ctx.isCurrent()) mount(membersBox, errorBox(err));
      return;
    }
    if (!ctx.isCurrent()) return;
    const collection = input({ name: 'collection', value: 'users', required: true });
    const record = input({ name: 'record', required: true, autocomplete: 'off' });
    const form = h('form', { class: 'toolbar' },
      field('Auth collection', collection),
      field('Record id', record, { class: 'grow' }),
      h('button', { type: 'submit', class: 'primary' }, 'Assign'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('PUT', `/api/roles/${seg(name)}/members/${seg(collection.value.trim())}/${seg(record.value.trim())}`);
        toast(`Role ${name} assigned.`);
        await members();
      } catch (err) {
        failed(err);
      }
    });
    mount(membersBox,
      table({
        caption: `Members of ${name}`,
        columns: [
          { label: 'Collection', render: (m) => m.collectionName || m.collectionId },
          { label: 'Record', render: (m) => h('a', { href: `#/identity/users/${seg(m.recordId)}?collection=${encodeURIComponent(m.collectionName || m.collectionId)}`, class: 'mono' }, m.recordId) },
          { label: 'Actions', render: (m) => button('Unassign', () => unassign(m), { 'aria-label': `Unassign ${m.recordId}` }) },
        ],
        rows: out.items,
        empty: 'No record holds this role. (API keys holding it are listed under API keys.)',
      }),
      h('h3', null, 'Assign to a record'),
      form);
  }

  async function unassign(m) {
    try {
      await del(`/api/roles/${seg(name)}/members/${seg(m.collectionName || m.collectionId)}/${seg(m.recordId)}`);
      toast('Unassigned.');
      await members();
    } catch (err) {
      failed(err);
    }
  }

  async function removeRole() {
    const ok = await confirm(`Delete role ${name}?`, 'Its assignments are deleted too: records and API keys holding it lose its permissions at once.');
    if (!ok) return;
    try {
      await del(`/api/roles/${seg(name)}`);
      toast(`Role ${name} deleted.`);
      ctx.go('#/identity/roles');
    } catch (err) {
      failed(err);
    }
  }
}
