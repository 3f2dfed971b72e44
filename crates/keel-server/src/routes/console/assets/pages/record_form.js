// Create or edit one record: an input per field type (files with previews and thumbnails,
// a relation picker with search, selects, JSON, dates), delete with confirmation.

import { get, post, patch, del, api, seg, quote } from '../api.js';
import { h, mount, header, field, input, button, loading, errorBox, confirm, toast, failed, debounce, time } from '../ui.js';

export default async function render(ctx) {
  const { name, id } = ctx.params;
  const isNew = id === undefined;
  ctx.title(isNew ? `New ${name} record` : `${name} ${id}`);
  mount(ctx.main, loading());
  let collection;
  let record = {};
  try {
    collection = await get(`/api/collections/${seg(name)}`);
    if (!isNew) record = await get(`/api/collections/${seg(name)}/records/${seg(id)}`);
  } catch (err) {
    mount(ctx.main, errorBox(err));
    return;
  }
  let fileToken = '';
  if (!isNew && collection.fields.some((f) => f.type === 'file' && f.protected)) {
    try {
      fileToken = (await post('/api/files/token')).token;
    } catch {
      // Protected previews then show names only.
    }
  }
  const form = new RecordForm(ctx, collection, record, isNew, fileToken);
  form.draw();
}

/** `2026-12-04 16:00:00.000Z` ↔ the value of a datetime-local input (local time). */
function toLocalInput(value) {
  if (!value) return '';
  const d = new Date(value.replace(' ', 'T'));
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? value : d.toISOString().replace('T', ' ');
}

class RecordForm {
  constructor(ctx, collection, record, isNew, fileToken) {
    this.ctx = ctx;
    this.c = collection;
    this.r = record;
    this.isNew = isNew;
    this.fileToken = fileToken;
    this.readers = []; // each returns [key, value] pairs for the body
    this.hasFiles = false;
  }

  draw() {
    const c = this.c;
    const back = `#/collections/${encodeURIComponent(c.name)}`;
    this.errors = h('div');
    const controls = c.fields.filter((f) => this.editable(f)).map((f) => this.control(f));
    const meta = c.fields.filter((f) => f.type === 'autodate' && this.r[f.name]).map((f) => h('div', null, h('span', { class: 'muted' }, `${f.name}: `), time(this.r[f.name])));
    // A view's rows come from its query: shown, not edited.
    const readOnly = c.type === 'view';
    const form = h('form', { class: 'stack', novalidate: true },
      this.isNew ? null : h('p', { class: 'muted' }, 'id: ', h('code', null, this.r.id)),
      meta,
      readOnly ? h('fieldset', { disabled: true, style: 'border:0; padding:0; margin:0' }, h('legend', { class: 'muted' }, 'A view\'s rows are read-only.'), controls) : controls,
      this.errors,
      readOnly ? h('a', { class: 'button', href: back }, 'Back') : h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, this.isNew ? 'Create record' : 'Save record'),
        h('a', { class: 'button', href: back }, 'Cancel'),
        this.isNew ? null : button('Delete record', () => this.remove(), { class: 'danger' })));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save(form);
    });
    mount(this.ctx.main, header(this.isNew ? `New record in ${c.name}` : `Edit record in ${c.name}`), form);
    const first = form.querySelector('input:not([type=hidden]), textarea, select');
    if (first && this.isNew) first.focus();
  }

  editable(f) {
    if (f.type === 'autodate') return false;
    if (f.name === 'id') return this.isNew;
    if (this.c.type === 'auth' && f.name === 'tokenKey') return false;
    return true;
  }

  control(f) {
    const v = this.r[f.name];
    const hint = [f.required ? 'Required.' : null, f.help || null].filter(Boolean).join(' ') || null;
    const label = f.name === 'id' ? 'id (empty: generated)' : f.name;
    switch (f.type) {
      case 'bool': {
        const cb = h('input', { type: 'checkbox', name: f.name, checked: !!v });
        this.readers.push(() => [[f.name, cb.checked]]);
        return field(label, cb, { hint });
      }
      case 'number': {
        const el = input({ type: 'number', name: f.name, step: f.onlyInt ? '1' : 'any', value: v ?? '', min: f.min ?? undefined, max: f.max ?? undefined });
        this.readers.push(() => [[f.name, el.value === '' ? null : Number(el.value)]]);
        return field(label, el, { hint });
      }
      case 'editor': {
        const el = h('textarea', { name: f.name, rows: 6 }, v || '');
        this.readers.push(() => [[f.name, el.value]]);
        return field(label, el, { hint: hint || 'HTML.' });
      }
      case 'json': {
        const el = h('textarea', { name: f.name, rows: 5 }, v === null || v === undefined ? '' : JSON.stringify(v, null, 2));
        el.addEventListener('input', () => {
          try {
            if (el.value.trim()) JSON.parse(el.value);
            el.setAttribute('aria-invalid', 'false');
          } catch {
            el.setAttribute('aria-invalid', 'true');
          }
        });
        this.readers.push(() => {
          if (!el.value.trim()) return [[f.name, null]];
          try {
            return [[f.name, JSON.parse(el.value)]];
          } catch (err) {
            throw new Error(`${f.name}: the JSON does not parse (${err.message}).`);
          }
        });
        return field(label, el, { hint: hint || 'Any JSON value.' });
      }
      case 'date': {
        const el = input({ type: 'datetime-local', name: f.name, step: 1, value: toLocalInput(v) });
        this.readers.push(() => [[f.name, fromLocalInput(el.value)]]);
        return field(label, el, { hint: hint ? `${hint} Your local time; stored in UTC.` : 'Your local time; stored in UTC.' });
      }
      case 'select':
        return this.selectControl(f, v, label, hint);
      case 'relation':
        return this.relationControl(f, v, label, hint);
      case 'file':
        return this.fileControl(f, v, label, hint);
      case 'password': {
        const p1 = input({ type: 'password', name: f.name, autocomplete: 'new-password' });
        const p2 = input({ type: 'password', name: `${f.name}Confirm`, autocomplete: 'new-password' });
        this.readers.push(() => (p1.value ? [[f.name, p1.value], [`${f.name}Confirm`, p2.value]] : []));
        return h('div', null, field(this.isNew ? label : `New ${label} (empty: unchanged)`, p1), field(`Repeat the ${label}`, p2));
      }
      default: {
        const type = f.type === 'email' ? 'email' : f.type === 'url' ? 'url' : 'text';
        const el = input({ type, name: f.name, value: v ?? '', autocomplete: 'off' });
        this.readers.push(() => (f.name === 'id' && !el.value ? [] : [[f.name, el.value]]));
        return field(label, el, { hint });
      }
    }
  }

  selectControl(f, v, label, hint) {
    const multiple = (f.maxSelect || 1) > 1;
    const current = new Set(Array.isArray(v) ? v : v ? [v] : []);
    const el = h('select', { name: f.name, multiple }, multiple ? null : h('option', { value: '' }, '—'),
      (f.values || []).map((x) => h('option', { value: x, selected: current.has(x) }, x)));
    this.readers.push(() => [[f.name, multiple ? [...el.selectedOptions].map((o) => o.value) : el.value]]);
    return field(label, el, { hint: multiple ? `${hint || ''} Up to ${f.maxSelect}; Ctrl/Cmd-click for several.`.trim() : hint });
  }

  relationControl(f, v, label, hint) {
    const multiple = (f.maxSelect || 1) > 1;
    const chosen = Array.isArray(v) ? [...v] : v ? [v] : [];
    const chips = h('div', { class: 'files', 'aria-live': 'polite' });
    const results = h('ul', { class: 'stack', style: 'list-style:none; padding:0; margin:.25rem 0' });
    const search = input({ type: 'search', name: `${f.name}-search`, autocomplete: 'off', placeholder: 'Search by id or any text field' });
    let target = null;
    const drawChips = () => mount(chips, chosen.length ? chosen.map((id) => h('span', { class: 'badge waiting' }, id, ' ',
      button('×', () => {
        chosen.splice(chosen.indexOf(id), 1);
        drawChips();
      }, { class: 'link', 'aria-label': `Remove ${id} from ${f.name}` }))) : h('span', { class: 'muted' }, 'None chosen.'));
    const find = debounce(async () => {
      try {
        if (!target) target = await get(`/api/collections/${seg(f.collectionId)}`);
        const text = search.value.trim();
        const textFields = target.fields.filter((x) => ['text', 'email', 'url'].includes(x.type) && !x.hidden).map((x) => x.name);
        const filter = text ? textFields.map((n) => `${n} ~ ${quote(text)}`).join(' || ') : '';
        const out = await get(`/api/collections/${seg(target.id)}/records`, { perPage: 10, filter, skipTotal: 1 });
        const show = target.fields.find((x) => x.presentable) || target.fields.find((x) => textFields.includes(x.name) && x.name !== 'id');
        mount(results, out.items.map((r) => h('li', null, button(`${r.id}${show && r[show.name] ? ` · ${r[show.name]}` : ''}`, () => {
          if (!chosen.includes(r.id)) {
            if (!multiple) chosen.length = 0;
            chosen.push(r.id);
          }
          drawChips();
        }, { class: 'link', 'aria-label': `Choose ${r.id}${show && r[show.name] ? ` (${r[show.name]})` : ''} for ${f.name}` }))));
      } catch (err) {
        failed(err);
      }
    }, 250);
    search.addEventListener('input', find);
    search.addEventListener('focus', find, { once: true });
    drawChips();
    this.readers.push(() => [[f.name, multiple ? chosen : (chosen[0] || '')]]);
    return h('fieldset', { class: 'card' }, h('legend', null, label), hint ? h('small', { class: 'hint' }, hint) : null, chips,
      field(`Find records for ${f.name}`, search), results);
  }

  fileControl(f, v, label, hint) {
    const multiple = (f.maxSelect || 1) > 1;
    const existing = Array.isArray(v) ? v : v ? [v] : [];
    const removed = new Set();
    const picker = h('input', { type: 'file', name: f.name, multiple, accept: (f.mimeTypes || []).join(',') || undefined });
    const previews = h('div', { class: 'files' });
    picker.addEventListener('change', () => {
      mount(previews, [...picker.files].map((file) => file.type.startsWith('image/')
        ? h('img', { class: 'thumb', src: URL.createObjectURL(file), alt: `Preview of ${file.name}` })
        : h('span', { class: 'badge waiting' }, file.name)));
    });
    const current = existing.map((name) => {
      const url = `/api/files/${seg(this.c.id)}/${seg(this.r.id)}/${seg(name)}`;
      const q = this.fileToken ? `token=${encodeURIComponent(this.fileToken)}&` : '';
      const image = /\.(png|jpe?g|gif|webp)$/i.test(name);
      const cb = h('input', { type: 'checkbox' });
      cb.addEventListener('change', () => (cb.checked ? removed.add(name) : removed.delete(name)));
      return h('div', { class: 'card' },
        image ? h('img', { class: 'thumb', src: `${url}?${q}thumb=100x100`, alt: name }) : null,
        h('a', { href: `${url}${q ? `?${q.slice(0, -1)}` : ''}`, target: '_blank', rel: 'noopener' }, name),
        field(`Remove ${name}`, cb));
    });
    this.hasFiles = true;
    this.readers.push(() => {
      const out = [...picker.files].map((file) => [multiple ? `${f.name}+` : f.name, file]);
      for (const name of removed) out.push([`${f.name}-`, name]);
      return out;
    });
    return h('fieldset', { class: 'card' }, h('legend', null, label), hint ? h('small', { class: 'hint' }, hint) : null,
      current.length ? h('div', { class: 'files' }, current) : null,
      field(existing.length && !multiple ? `Replace the ${f.name} file` : `Upload ${f.name}`, picker), previews);
  }

  body() {
    const pairs = this.readers.flatMap((read) => read());
    const withFiles = pairs.some(([, value]) => value instanceof File) || pairs.some(([key]) => key.endsWith('-'));
    if (!withFiles) return Object.fromEntries(pairs);
    const data = new FormData();
    const json = {};
    for (const [key, value] of pairs) {
      if (value instanceof File || key.endsWith('-')) data.append(key, value);
      else json[key] = value;
    }
    // Non-file values travel as one JSON part, as PocketBase's SDKs send them.
    data.append('@jsonPayload', JSON.stringify(json));
    return data;
  }

  async save(form) {
    mount(this.errors);
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const body = this.body();
      const path = `/api/collections/${seg(this.c.name)}/records`;
      const saved = this.isNew ? await api('POST', path, body) : await patch(`${path}/${seg(this.r.id)}`, body);
      toast(this.isNew ? `Record ${saved.id} created.` : `Record ${saved.id} saved.`);
      this.ctx.go(`#/collections/${encodeURIComponent(this.c.name)}`);
    } catch (err) {
      mount(this.errors, errorBox(err));
    } finally {
      btn.disabled = false;
    }
  }

  async remove() {
    if (!await confirm('Delete this record?', `Record ${this.r.id} is deleted from ${this.c.name} with its files. This cannot be undone.`)) return;
    try {
      await del(`/api/collections/${seg(this.c.name)}/records/${seg(this.r.id)}`);
      toast(`Record ${this.r.id} deleted.`);
      this.ctx.go(`#/collections/${encodeURIComponent(this.c.name)}`);
    } catch (err) {
      failed(err);
    }
  }
}
