// The vault: secrets' metadata (never their data), create, change the description or name,
// replace the data (write-only), delete, and Reveal: the data shown only on an explicit click
// (POST /api/vault/secrets/{id}/reveal, audited), hidden again with a button or on leaving.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, toast, errorBox, failed,
  confirm, formDialog, time, loading,
} from '../ui.js';

/** A card of label/value pairs. */
const kvCard = (...pairs) => h('div', { class: 'card' }, h('dl', { class: 'kv' }, ...pairs));

const PER_PAGE = 30;
const TYPES = [
  ['password', 'Password (username, password)'],
  ['ssh_key', 'SSH key (username, privateKey, passphrase)'],
  ['token', 'Token (token)'],
  ['winrm', 'WinRM account (username, password, domain)'],
  ['generic', 'Generic (any keys)'],
];
const TEMPLATES = {
  password: { username: '', password: '' },
  ssh_key: { username: '', privateKey: '', passphrase: '' },
  token: { token: '' },
  winrm: { username: '', password: '', domain: '' },
  generic: { key: 'value' },
};
const template = (type) => JSON.stringify(TEMPLATES[type] || {}, null, 2);

export default async function render(ctx) {
  ctx.title('Vault');
  try {
    if (ctx.params.id) await secretPage(ctx, ctx.params.id);
    else await secretsList(ctx);
  } catch (err) {
    if (ctx.isCurrent()) mount(ctx.main, header('Vault'), errorBox(err));
  }
}

async function secretsList(ctx) {
  const page = Number(ctx.query.page) || 1;
  mount(ctx.main, header('Vault'), loading());
  const out = await get('/api/vault/secrets', { page, perPage: PER_PAGE });
  if (!ctx.isCurrent()) return;
  mount(ctx.main,
    header('Vault', button('New secret', () => createDialog(ctx), { class: 'primary' })),
    h('p', { class: 'muted' }, 'Credentials for ops targets and runs, encrypted in the database. Their data is write-only: only Reveal, on a secret\'s page, shows it (and is audited).'),
    table({
      caption: 'Secrets',
      rows: out.items,
      empty: 'No secret yet.',
      onOpen: (s) => ctx.go(`#/vault/${seg(s.id)}`),
      rowLabel: (s) => `Secret ${s.name}`,
      columns: [
        { label: 'Name', render: (s) => h('a', { href: `#/vault/${seg(s.id)}` }, s.name) },
        { label: 'Type', render: (s) => s.type },
        { label: 'Description', render: (s) => h('span', { class: 'cell' }, s.description || '') },
        { label: 'Created', render: (s) => time(s.created) },
        { label: 'Updated', render: (s) => time(s.updated) },
        { label: 'Last used', render: (s) => lastUsed(s) },
      ],
    }),
    pager({ page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => ctx.go(p > 1 ? `#/vault?page=${p}` : '#/vault') }));
}

function lastUsed(s) {
  if (!s.lastUsedAt) return h('span', { class: 'muted' }, 'never');
  const by = s.lastUsedBy === 'reveal' ? 'revealed' : (s.lastUsedBy ? h('a', { href: `#/ops/runs/${seg(s.lastUsedBy)}` }, `run ${s.lastUsedBy}`) : '');
  return h('span', null, time(s.lastUsedAt), by ? [' · ', by] : null);
}

/** A JSON object of strings from a textarea, or a field error. */
function readData(text) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (ex) {
    throw fieldError('data', `Not valid JSON: ${ex.message}`);
  }
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw fieldError('data', 'The data must be a JSON object of strings.');
  return data;
}

function fieldError(name, message) {
  const err = new Error(`${name}: ${message}`);
  err.name = 'FieldError';
  return err;
}

function dataArea(value) {
  return h('textarea', { name: 'data', rows: 8, spellcheck: 'false', autocomplete: 'off', required: true, value });
}

function createDialog(ctx) {
  const name = input({ name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const type = select({ name: 'type' }, TYPES, 'password');
  const description = input({ name: 'description' });
  const data = dataArea(template('password'));
  let lastTemplate = data.value;
  type.addEventListener('change', () => {
    // Swap the skeleton while the data is still an untouched one.
    if (data.value === lastTemplate || !data.value.trim()) {
      data.value = template(type.value);
      lastTemplate = data.value;
    }
  });
  return formDialog('New secret', () => [
    field('Name', name, { hint: 'Letters, digits, _, - and ., starting with a letter or digit. Targets and runbooks name secrets by it.' }),
    field('Type', type),
    field('Description', description),
    field('Data (JSON)', data, { hint: 'Write-only: it is encrypted and never shown again except through Reveal.' }),
  ], async () => post('/api/vault/secrets', {
    name: name.value.trim(), type: type.value, description: description.value, data: readData(data.value),
  }), 'Create').then((saved) => {
    if (!saved) return;
    toast(`Secret ${saved.name} created.`);
    ctx.go(`#/vault/${seg(saved.id)}`);
  });
}

async function secretPage(ctx, id) {
  mount(ctx.main, header('Vault'), loading());
  const s = await get(`/api/vault/secrets/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  ctx.title(`${s.name} · Vault`);
  const revealBox = h('div');
  const revealBtn = button('Reveal', () => reveal(), { 'aria-controls': 'vault-revealed' });
  const reload = () => ctx.go(`#/vault/${seg(s.id)}`);

  async function reveal() {
    revealBtn.disabled = true;
    try {
      const out = await post(`/api/vault/secrets/${seg(s.id)}/reveal`);
      if (!ctx.isCurrent()) return;
      showRevealed(out.data || {});
    } catch (err) {
      mount(revealBox, errorBox(err));
      revealBtn.disabled = false;
    }
  }
  function showRevealed(data) {
    const hide = button('Hide', () => {
      mount(revealBox);
      revealBtn.disabled = false;
      revealBtn.focus();
    });
    mount(revealBox, h('section', { class: 'card', id: 'vault-revealed', 'aria-label': 'Revealed data' },
      h('p', { class: 'notice', style: 'margin-top:0' }, 'The data, as stored. This reveal was audited; hide it when you are done.'),
      h('dl', { class: 'kv' }, Object.entries(data).map(([k, v]) => [h('dt', null, k), h('dd', null, h('pre', { style: 'margin:0' }, String(v)))])),
      h('div', { class: 'actions end' }, hide)));
    hide.focus();
  }
  // Nothing revealed stays in the page once it is left.
  ctx.cleanup(() => mount(revealBox));

  mount(ctx.main,
    h('p', { class: 'small' }, h('a', { href: '#/vault' }, '← Vault')),
    header(s.name,
      revealBtn,
      button('Edit', () => editDialog(s).then((v) => v && ctx.go(`#/vault/${seg(v.id)}`))),
      button('Replace data', () => dataDialog(s).then((v) => v && reload())),
      button('Delete', () => remove(ctx, s), { class: 'danger' })),
    kvCard(
      h('dt', null, 'Type'), h('dd', null, s.type),
      h('dt', null, 'Description'), h('dd', null, s.description || '—'),
      h('dt', null, 'Created'), h('dd', null, time(s.created), s.createdBy ? ` by ${s.createdBy}` : ''),
      h('dt', null, 'Updated'), h('dd', null, time(s.updated), s.updatedBy ? ` by ${s.updatedBy}` : ''),
      h('dt', null, 'Last used'), h('dd', null, lastUsed(s)),
      h('dt', null, 'Master key'), h('dd', { class: 'mono' }, s.keyId || '—'),
      h('dt', null, 'Versions'), h('dd', { class: 'muted' }, 'Not kept: replacing the data overwrites it.')),
    h('p', { class: 'muted small' }, 'The data is not shown here. Reveal reads it from the server, records who did, and shows it until you hide it or leave the page.'),
    revealBox);
}

function editDialog(s) {
  const name = input({ name: 'name', required: true, value: s.name, autocomplete: 'off' });
  const description = input({ name: 'description', value: s.description || '' });
  return formDialog(`Edit ${s.name}`, () => [
    field('Name', name, { hint: 'Targets and runbooks that name the old name stop finding it.' }),
    field('Description', description),
  ], async () => {
    const saved = await patch(`/api/vault/secrets/${seg(s.id)}`, { name: name.value.trim(), description: description.value });
    toast('Saved.');
    return saved;
  });
}

function dataDialog(s) {
  const type = select({ name: 'type' }, TYPES, s.type);
  const data = dataArea(template(s.type));
  let lastTemplate = data.value;
  type.addEventListener('change', () => {
    if (data.value === lastTemplate || !data.value.trim()) {
      data.value = template(type.value);
      lastTemplate = data.value;
    }
  });
  return formDialog(`Replace the data of ${s.name}`, () => [
    h('p', { class: 'muted' }, 'The current data is not shown; what you enter replaces all of it.'),
    field('Type', type),
    field('New data (JSON)', data),
  ], async () => {
    const saved = await patch(`/api/vault/secrets/${seg(s.id)}`, { type: type.value, data: readData(data.value) });
    toast('The data was replaced.');
    return saved;
  }, 'Replace');
}

async function remove(ctx, s) {
  if (!(await confirm(`Delete ${s.name}?`, 'Targets and runs that use it will fail. Its data cannot be recovered.'))) return;
  try {
    await del(`/api/vault/secrets/${seg(s.id)}`);
    toast(`Secret ${s.name} deleted.`);
    ctx.go('#/vault');
  } catch (err) {
    failed(err);
  }
}
