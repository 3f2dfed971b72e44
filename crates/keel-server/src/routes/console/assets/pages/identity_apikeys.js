// Identity, API keys: the list, a key's page, create, rotate (the secret shown once), revoke
// and delete.

import { get, post, del, seg } from '../api.js';
import { h, mount, field, input, button, table, pager, toast, failed, dialog, confirm, formDialog, time, badge, loading } from '../ui.js';
import { setHash, withQuery, loadRoles } from './identity_common.js';

const KEYS_PER_PAGE = 50;

function keyPrefix(key) {
  return `keel_${key.id}_…`;
}

function keyState(key) {
  if (key.revoked) return badge('revoked');
  if (key.expires && new Date(key.expires.replace(' ', 'T')) < new Date()) return badge('expired', 'failed');
  return badge('active', 'ok');
}

const isActive = (key) => !key.revoked && !(key.expires && new Date(key.expires.replace(' ', 'T')) < new Date());

export async function apikeys(ctx, body, id) {
  if (id) return keyDetail(ctx, body, id);
  const state = { page: Number(ctx.query.page) || 1 };
  const list = h('div', null, loading());
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow' }, 'An API key is a credential for a service account: it holds the permissions of its roles, nothing else. Keel keeps only a hash, so a secret is shown once, when the key is created or rotated.'),
      button('New API key', () => createKey(ctx), { class: 'primary' })),
    list);
  const [out, all] = await Promise.all([get('/api/apikeys'), loadRoles()]);
  if (!ctx.isCurrent()) return;
  const byName = new Map(all.items.map((r) => [r.name, r]));
  show();

  function show() {
    setHash(withQuery('#/identity/apikeys', { page: state.page }));
    const rows = out.items.slice((state.page - 1) * KEYS_PER_PAGE, state.page * KEYS_PER_PAGE);
    mount(list,
      table({
        caption: 'API keys',
        columns: [
          { label: 'Name', render: (k) => h('a', { href: `#/identity/apikeys/${seg(k.id)}` }, k.name) },
          { label: 'Prefix', render: (k) => h('code', null, keyPrefix(k)) },
          { label: 'Owner', render: (k) => h('span', { class: 'mono small' }, k.createdBy || '—') },
          { label: 'Roles (permissions)', render: (k) => rolesWithPermissions(k.roles, byName) },
          { label: 'Expires', render: (k) => (k.expires ? time(k.expires) : h('span', { class: 'muted' }, 'never')) },
          { label: 'Last used', render: (k) => (k.lastUsed ? time(k.lastUsed) : h('span', { class: 'muted' }, 'never')) },
          { label: 'State', render: keyState },
          { label: 'Actions', render: (k) => (isActive(k) ? h('div', { class: 'actions', style: 'flex-wrap: nowrap' },
            button('Rotate', () => rotateKey(ctx, k), { 'aria-label': `Rotate ${k.name}` }),
            button('Revoke', () => revokeKey(ctx, k), { class: 'danger', 'aria-label': `Revoke ${k.name}` })) : null) },
        ],
        rows,
        onOpen: (k) => ctx.go(`#/identity/apikeys/${seg(k.id)}`),
        rowLabel: (k) => `API key ${k.name}`,
        empty: 'No API key yet.',
      }),
      pager({ page: state.page, perPage: KEYS_PER_PAGE, count: rows.length, total: out.items.length, onPage: (p) => { state.page = p; show(); } }));
  }
}

function rolesWithPermissions(names, byName) {
  if (!names.length) return h('span', { class: 'muted' }, 'no role');
  return h('div', null, names.map((n) => h('div', null,
    h('a', { href: `#/identity/roles/${seg(n)}` }, n),
    byName.has(n) ? h('div', { class: 'small muted' }, byName.get(n).permissions.join(', ')) : null)));
}

async function createKey(ctx) {
  const all = await loadRoles();
  if (all.error) {
    failed(all.error);
    return;
  }
  const name = input({ name: 'name', required: true, autocomplete: 'off' });
  const expires = input({ type: 'date', name: 'expires' });
  const boxes = all.items.map((r) => ({ role: r, box: h('input', { type: 'checkbox', name: 'role', value: r.name }) }));
  const created = await formDialog('New API key', () => h('div', null,
    field('Name', name, { hint: 'What the key is for, e.g. ci-deploy.' }),
    h('fieldset', { style: 'border: 1px solid var(--line); border-radius: 8px; margin: 0 0 .8rem' },
      h('legend', null, 'Roles'),
      h('p', { class: 'small muted', style: 'margin-top: 0' }, 'The key holds the permissions of these roles. You can give only roles whose permissions you hold.'),
      boxes.map(({ role, box }) => field(role.name, box, { hint: role.permissions.join(', ') || 'no permission' }))),
    field('Expires', expires, { hint: 'Leave empty for a key that never expires.' })), async () => {
    const roles = boxes.filter((b) => b.box.checked).map((b) => b.role.name);
    return post('/api/apikeys', { name: name.value.trim(), roles, expires: expires.value || undefined });
  }, 'Create key');
  if (!created) return;
  await showSecret(created, 'created');
  ctx.go(location.hash);
}

/** The one-time secret, with a Copy button and the warning that it is not shown again. */
function showSecret(key, what) {
  return dialog(`API key ${what}: copy its secret now`, (close) => {
    const secret = input({ name: 'secret', value: key.key, readonly: true, class: 'mono', spellcheck: 'false', autocomplete: 'off' });
    const copied = h('span', { role: 'status', class: 'small muted' });
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(key.key);
        copied.textContent = 'Copied to the clipboard.';
      } catch {
        secret.focus();
        secret.select();
        copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy it.';
      }
    };
    // Escape would lose the secret by accident: the dialog closes with Done only.
    queueMicrotask(() => {
      const dlg = secret.closest('dialog');
      if (dlg) dlg.addEventListener('cancel', (e) => e.preventDefault());
    });
    return h('div', null,
      h('p', { class: 'notice' }, h('strong', null, 'This secret will not be shown again. '),
        'Keel keeps only its hash. Copy it now and store it somewhere safe; if it is lost, rotate the key to get a new one.'),
      field('Secret', secret, { hint: `Send it as the Authorization header (Bearer ${keyPrefix(key)}). Key ${key.name}.` }),
      h('div', { class: 'actions' }, button('Copy', copy, { class: 'primary' }), copied),
      h('div', { class: 'actions end' }, button('Done', () => close(true))));
  });
}

async function rotateKey(ctx, key) {
  const ok = await confirm(`Rotate ${key.name}?`, 'A new secret replaces the current one, which stops working at once. Everything using the key needs the new secret.', 'Rotate');
  if (!ok) return;
  try {
    const out = await post(`/api/apikeys/${seg(key.id)}/rotate`);
    await showSecret(out, 'rotated');
    ctx.go(location.hash);
  } catch (err) {
    failed(err);
  }
}

async function revokeKey(ctx, key) {
  const ok = await confirm(`Revoke ${key.name}?`, 'The key stops working at once, for good (a revoked key cannot be rotated: create a new one).', 'Revoke');
  if (!ok) return;
  try {
    await post(`/api/apikeys/${seg(key.id)}/revoke`);
    toast(`${key.name} revoked.`);
    ctx.go(location.hash);
  } catch (err) {
    failed(err);
  }
}

async function keyDetail(ctx, body, id) {
  const [key, all] = await Promise.all([get(`/api/apikeys/${seg(id)}`), loadRoles()]);
  if (!ctx.isCurrent()) return;
  ctx.title(`API key ${key.name} · Identity`);
  const byName = new Map(all.items.map((r) => [r.name, r]));
  const remove = async () => {
    const ok = await confirm(`Delete ${key.name}?`, 'The key stops working at once. Keel keeps a deleted key in the list as revoked, for the audit trail.');
    if (!ok) return;
    try {
      await del(`/api/apikeys/${seg(key.id)}`);
      toast(`${key.name} deleted.`);
      ctx.go('#/identity/apikeys');
    } catch (err) {
      failed(err);
    }
  };
  mount(body,
    h('p', null, h('a', { href: '#/identity/apikeys' }, '← API keys')),
    h('div', { class: 'page-head' },
      h('h2', null, `API key ${key.name} `, keyState(key)),
      h('div', { class: 'actions' },
        isActive(key) ? button('Rotate', () => rotateKey(ctx, key)) : null,
        key.revoked ? null : button('Revoke', () => revokeKey(ctx, key), { class: 'danger' }),
        key.revoked ? null : button('Delete', remove, { class: 'danger' }))),
    h('div', { class: 'card' }, h('dl', { class: 'kv' },
      h('dt', null, 'Id'), h('dd', { class: 'mono' }, key.id),
      h('dt', null, 'Prefix'), h('dd', null, h('code', null, keyPrefix(key))),
      h('dt', null, 'Roles'), h('dd', null, rolesWithPermissions(key.roles, byName)),
      h('dt', null, 'Owner'), h('dd', { class: 'mono' }, key.createdBy || '—'),
      h('dt', null, 'Created'), h('dd', null, time(key.created)),
      h('dt', null, 'Expires'), h('dd', null, key.expires ? time(key.expires) : 'never'),
      h('dt', null, 'Last used'), h('dd', null, key.lastUsed ? time(key.lastUsed) : 'never'),
      h('dt', null, 'Revoked'), h('dd', null, key.revoked ? 'yes' : 'no'))));
}
