// Collections: every collection with its type and fields; create, import and export.

import { get, api } from '../api.js';
import { h, mount, header, table, button, badge, loading, errorBox, formDialog, field, toast } from '../ui.js';

export default async function render(ctx) {
  ctx.title('Collections');
  mount(ctx.main, header('Collections'), loading());
  let list;
  try {
    list = await get('/api/collections', { perPage: 500, sort: 'name' });
  } catch (err) {
    mount(ctx.main, header('Collections'), errorBox(err));
    return;
  }
  const showSystem = ctx.query.system === '1';
  const items = list.items.filter((c) => showSystem || !c.system);
  mount(ctx.main,
    header('Collections',
      h('a', { class: 'button primary', href: '#/collections/new' }, 'New collection'),
      button('Import', () => importDialog(ctx)),
      button('Export', () => exportAll(list.items.filter((c) => !c.system)))),
    h('p', { class: 'muted' }, `${items.length} collection${items.length === 1 ? '' : 's'}. `,
      h('a', { href: showSystem ? '#/collections' : '#/collections?system=1' }, showSystem ? 'Hide system collections' : 'Show system collections')),
    table({
      caption: 'Collections',
      columns: [
        { label: 'Name', render: (c) => h('a', { href: `#/collections/${encodeURIComponent(c.name)}` }, c.name) },
        { label: 'Type', render: (c) => badge(c.type, 'waiting') },
        { label: 'Fields', class: 'num', render: (c) => String((c.fields || []).length) },
        { label: 'List rule', render: (c) => ruleText(c.listRule) },
        { label: '', render: (c) => h('a', { href: `#/collections/${encodeURIComponent(c.name)}/edit`, 'aria-label': `Edit collection ${c.name}` }, 'Edit') },
      ],
      rows: items,
      rowLabel: (c) => `Collection ${c.name}`,
      onOpen: (c) => ctx.go(`#/collections/${encodeURIComponent(c.name)}`),
      empty: 'No collections yet. Create the first one.',
    }));
}

/** How a rule reads in a list: locked (superusers only), public, or the expression. */
export function ruleText(rule) {
  if (rule === null || rule === undefined) return h('span', { class: 'muted' }, 'superusers only');
  if (rule === '') return h('span', null, 'everyone');
  return h('code', { class: 'cell' }, rule);
}

function exportAll(collections) {
  const blob = new Blob([JSON.stringify(collections, null, 2)], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: 'keel_collections.json' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function importDialog(ctx) {
  const text = h('textarea', { name: 'collections', rows: 14, required: true, placeholder: '[{"name": "posts", "type": "base", "fields": [...]}]' });
  const deleteMissing = h('input', { type: 'checkbox', name: 'deleteMissing' });
  const file = h('input', { type: 'file', accept: 'application/json,.json' });
  file.addEventListener('change', async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  return formDialog('Import collections', () => h('div', null,
    field('JSON file', file),
    field('Collections (JSON array)', text),
    field('Delete collections (and their records) missing from the import', deleteMissing)),
  async () => {
    let collections;
    try {
      collections = JSON.parse(text.value);
    } catch (err) {
      throw new Error(`The JSON does not parse: ${err.message}`);
    }
    await api('PUT', '/api/collections/import', { collections, deleteMissing: deleteMissing.checked });
    toast('Collections imported.');
    ctx.go('#/collections');
    return true;
  }, 'Import');
}
