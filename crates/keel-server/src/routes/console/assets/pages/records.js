// A collection's records: PocketBase's filter syntax, sort by column, pages of any size
// (skipTotal: no count per page; "Count" asks once), a column chooser, bulk delete, and live
// updates when another client writes.

import { get, del, seg } from '../api.js';
import { h, mount, header, field, input, select, button, loading, errorBox, confirm, toast, failed, pager, time, short, debounce } from '../ui.js';
import { subscribe } from '../realtime.js';

export default async function render(ctx) {
  const name = ctx.params.name;
  ctx.title(name);
  mount(ctx.main, header(name), loading());
  let collection;
  try {
    collection = await get(`/api/collections/${seg(name)}`);
  } catch (err) {
    mount(ctx.main, header(name), errorBox(err));
    return;
  }
  const view = new RecordsView(ctx, collection);
  view.draw();
  // Subscribed before the first read, so no write between the two is missed.
  const reload = debounce(() => view.load(true), 250);
  ctx.cleanup(subscribe(`${collection.name}/*`, (e) => {
    view.flash(e);
    reload();
  }));
  await view.load();
}

const PER_PAGE = [20, 50, 100, 200];

class RecordsView {
  constructor(ctx, collection) {
    this.ctx = ctx;
    this.c = collection;
    const q = ctx.query;
    // Newest first by insertion order; a view has none (its query decides).
    this.defaultSort = collection.type === 'view' ? '' : '-@rowid';
    this.state = { filter: q.filter || '', sort: q.sort || this.defaultSort, page: Number(q.page) || 1, perPage: Number(q.perPage) || 20 };
    const stored = localStorage.getItem(`keel_console_columns_${collection.id}`);
    const visible = this.c.fields.filter((f) => !f.hidden && f.type !== 'password');
    this.columns = stored ? JSON.parse(stored) : visible.slice(0, 7).map((f) => f.name);
    this.selected = new Set();
    this.items = [];
  }

  draw() {
    const c = this.c;
    this.filterInput = input({ type: 'search', name: 'filter', value: this.state.filter, placeholder: 'e.g. title ~ "hello" && created > "2026-01-01"', autocomplete: 'off' });
    const filterForm = h('form', { class: 'toolbar', role: 'search' },
      field('Filter', this.filterInput, { class: 'grow' }),
      h('button', { type: 'submit' }, 'Apply filter'),
      this.columnChooser(),
      field('Per page', this.perPageSelect()));
    filterForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.state.filter = this.filterInput.value.trim();
      this.state.page = 1;
      this.load();
    });
    this.status = h('div');
    this.body = h('div');
    this.bulk = h('div', { class: 'actions' });
    this.countBox = h('span', { class: 'muted' });
    mount(this.ctx.main,
      header(c.name,
        c.type === 'view' ? null : h('a', { class: 'button primary', href: `#/collections/${encodeURIComponent(c.name)}/records/new` }, 'New record'),
        h('a', { class: 'button', href: `#/collections/${encodeURIComponent(c.name)}/edit` }, 'Edit collection')),
      h('p', { class: 'muted small' }, `${c.type} collection · API: `, h('code', null, `/api/collections/${c.name}/records`)),
      filterForm, this.status, this.bulk, this.body,
      h('div', { class: 'actions' }, button('Count records', () => this.count()), this.countBox));
  }

  perPageSelect() {
    const s = select({ name: 'perPage' }, PER_PAGE.map(String), String(this.state.perPage));
    s.addEventListener('change', () => {
      this.state.perPage = Number(s.value);
      this.state.page = 1;
      this.load();
    });
    return s;
  }

  columnChooser() {
    const names = ['id', ...this.c.fields.filter((f) => f.name !== 'id' && f.type !== 'password').map((f) => f.name)];
    const box = h('details', { class: 'columns' }, h('summary', { class: 'button' }, 'Columns'),
      h('div', { class: 'card', style: 'position:absolute; z-index:5; max-height:20rem; overflow:auto' },
        names.map((n) => {
          const cb = h('input', { type: 'checkbox', checked: n === 'id' || this.columns.includes(n), disabled: n === 'id' });
          cb.addEventListener('change', () => {
            this.columns = names.filter((x) => x !== 'id' && (x === n ? cb.checked : this.columns.includes(x)));
            localStorage.setItem(`keel_console_columns_${this.c.id}`, JSON.stringify(this.columns));
            this.drawTable();
          });
          return field(n, cb);
        })));
    box.style.position = 'relative';
    return box;
  }

  async load(quiet) {
    const s = this.state;
    const query = { page: s.page, perPage: s.perPage, sort: s.sort, filter: s.filter, skipTotal: 1 };
    if (!quiet) mount(this.status, loading());
    try {
      const out = await get(`/api/collections/${seg(this.c.name)}/records`, query);
      if (!this.ctx.isCurrent()) return;
      this.items = out.items;
      mount(this.status);
      this.selected.clear();
      this.drawTable();
      const params = new URLSearchParams();
      for (const k of ['filter', 'sort', 'page', 'perPage']) if (s[k] && !(k === 'page' && s[k] === 1) && !(k === 'perPage' && s[k] === 20) && !(k === 'sort' && s[k] === this.defaultSort)) params.set(k, s[k]);
      const hash = `#/collections/${encodeURIComponent(this.c.name)}${params.toString() ? `?${params}` : ''}`;
      if (location.hash !== hash) history.replaceState(null, '', hash);
    } catch (err) {
      mount(this.status, errorBox(err));
    }
  }

  async count() {
    mount(this.countBox, 'Counting…');
    try {
      const out = await get(`/api/collections/${seg(this.c.name)}/records`, { page: 1, perPage: 1, fields: 'id', filter: this.state.filter });
      mount(this.countBox, `${out.totalItems} record${out.totalItems === 1 ? '' : 's'}${this.state.filter ? ' match the filter' : ''}.`);
    } catch (err) {
      mount(this.countBox);
      failed(err);
    }
  }

  sortButton(name) {
    const s = this.state.sort;
    const dir = s === name ? 'ascending' : s === `-${name}` ? 'descending' : 'none';
    const b = button(`${name}${dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''}`, () => {
      this.state.sort = dir === 'ascending' ? `-${name}` : name;
      this.state.page = 1;
      this.load();
    }, { class: 'sort', 'aria-label': `Sort by ${name}` });
    return [b, dir];
  }

  drawTable() {
    const fields = this.columns.map((n) => this.c.fields.find((f) => f.name === n)).filter(Boolean);
    const all = h('input', { type: 'checkbox', 'aria-label': 'Select all records on this page' });
    all.addEventListener('change', () => {
      for (const r of this.items) {
        if (all.checked) this.selected.add(r.id);
        else this.selected.delete(r.id);
      }
      this.drawTable();
    });
    all.checked = this.items.length > 0 && this.items.every((r) => this.selected.has(r.id));
    const th = (name) => {
      const [b, dir] = this.sortButton(name);
      return h('th', { scope: 'col', 'aria-sort': dir }, b);
    };
    const rows = this.items.map((r) => {
      const cb = h('input', { type: 'checkbox', checked: this.selected.has(r.id), 'aria-label': `Select record ${r.id}` });
      cb.addEventListener('change', () => {
        if (cb.checked) this.selected.add(r.id);
        else this.selected.delete(r.id);
        this.drawBulk();
      });
      const open = () => this.ctx.go(`#/collections/${encodeURIComponent(this.c.name)}/records/${encodeURIComponent(r.id)}`);
      const tr = h('tr', { class: 'clickable', tabindex: 0, 'aria-label': `Record ${r.id}`, dataset: { id: r.id } },
        h('td', null, cb),
        h('td', null, h('a', { href: `#/collections/${encodeURIComponent(this.c.name)}/records/${encodeURIComponent(r.id)}`, class: 'mono' }, r.id)),
        fields.filter((f) => f.name !== 'id').map((f) => h('td', null, cell(this.c, r, f))));
      tr.addEventListener('click', (e) => {
        if (!e.target.closest('a, input, button')) open();
      });
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && e.target === tr) open();
      });
      return tr;
    });
    const s = this.state;
    mount(this.body,
      this.items.length ? h('div', { class: 'table-wrap' }, h('table', null,
        h('caption', { class: 'sr-only' }, `Records of ${this.c.name}`),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, all), th('id'), fields.filter((f) => f.name !== 'id').map((f) => th(f.name)))),
        h('tbody', null, rows))) : h('p', { class: 'empty' }, s.filter ? 'No record matches the filter.' : 'No records yet.'),
      pager({ page: s.page, perPage: s.perPage, count: this.items.length, onPage: (p) => {
        s.page = p;
        this.load();
      } }));
    this.drawBulk();
  }

  drawBulk() {
    const n = this.selected.size;
    mount(this.bulk, n ? button(`Delete selected (${n})`, () => this.deleteSelected(), { class: 'danger' }) : null);
  }

  async deleteSelected() {
    const ids = [...this.selected];
    if (!await confirm(`Delete ${ids.length} record${ids.length === 1 ? '' : 's'}?`, `They are deleted from ${this.c.name} with their files. This cannot be undone.`)) return;
    let done = 0;
    for (const id of ids) {
      try {
        await del(`/api/collections/${seg(this.c.name)}/records/${seg(id)}`);
        done += 1;
      } catch (err) {
        failed(err);
      }
    }
    toast(`${done} record${done === 1 ? '' : 's'} deleted.`);
    this.load(true);
  }

  /** Marks a live change so it is noticed (the list reloads just after). */
  flash(e) {
    if (!e || !e.record) return;
    const verb = { create: 'created', update: 'updated', delete: 'deleted' }[e.action] || e.action;
    mount(this.status, h('p', { class: 'notice', role: 'status' }, `Record ${e.record.id} ${verb} just now.`));
  }
}

/** A record's value as a table cell. */
function cell(collection, record, f) {
  const v = record[f.name];
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return h('span', { class: 'muted' }, '—');
  switch (f.type) {
    case 'bool':
      return v ? 'yes' : 'no';
    case 'date':
    case 'autodate':
      return time(v);
    case 'file': {
      const files = Array.isArray(v) ? v : [v];
      return h('span', { class: 'cell' }, files.join(', '));
    }
    case 'json':
      return h('code', { class: 'cell' }, short(v, 60));
    default:
      return h('span', { class: 'cell', title: Array.isArray(v) ? v.join(', ') : String(v) }, Array.isArray(v) ? v.join(', ') : short(String(v), 80));
  }
}
