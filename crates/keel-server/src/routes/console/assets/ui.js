// Small DOM helpers every page uses: elements, labelled fields, tables, pagers, dialogs,
// toasts, errors and dates. Pages are built from these so they look and behave alike.

import { ApiError } from './api.js';

let nextId = 0;
/** A unique element id (for label/input pairs). */
export const uid = (prefix = 'f') => `${prefix}-${++nextId}`;

/**
 * An element: `h('button', {class: 'primary', onclick: fn, 'aria-label': 'Close'}, 'x')`.
 * Props starting with `on` are listeners; `class`, `text`, `html`-free; booleans set or drop
 * the attribute; children may be strings, nodes, arrays, null or false.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'value') el.value = v;
      else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'multiple' || k === 'required') el[k] = !!v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A labelled control: `field('Name', h('input', {name: 'name'}), {hint})`. The label is tied
 * to the control by id, so it is found by its label (and screen readers say it).
 */
export function field(label, control, opts = {}) {
  if (!control.id) control.id = uid();
  const hintId = opts.hint ? uid('hint') : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const inline = control.type === 'checkbox';
  return h('div', { class: `field${inline ? ' inline' : ''}${opts.class ? ` ${opts.class}` : ''}` },
    inline ? control : null,
    h('label', { for: control.id }, label),
    inline ? null : control,
    hintId ? h('small', { id: hintId, class: 'hint' }, opts.hint) : null);
}

export const input = (props) => h('input', { type: 'text', ...props });

/** A `<select>` from `[value, label]` pairs (or plain strings). */
export function select(props, options, current) {
  return h('select', props, options.map((o) => {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value, selected: String(value) === String(current ?? '') }, label);
  }));
}

export const button = (label, onclick, props = {}) => h('button', { type: 'button', onclick, ...props }, label);

/** A page heading with actions beside it. */
export function header(title, ...actions) {
  return h('header', { class: 'page-head' }, h('h1', null, title), h('div', { class: 'actions' }, actions));
}

/**
 * A table: `columns` = [{label, render: row => node|string, class}], `rows`, optional
 * `onOpen(row)` (row is a link-like button for the keyboard), `empty` text.
 */
export function table({ columns, rows, onOpen, empty = 'Nothing here yet.', caption, rowLabel }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' }, h('table', null,
    caption ? h('caption', { class: 'sr-only' }, caption) : null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
    h('tbody', null, rows.map((row) => {
      const tr = h('tr', { class: onOpen ? 'clickable' : null },
        columns.map((c) => h('td', { class: c.class }, c.render(row))));
      if (onOpen) {
        tr.tabIndex = 0;
        if (rowLabel) tr.setAttribute('aria-label', rowLabel(row));
        tr.addEventListener('click', (e) => {
          if (e.target.closest('button, a, input, label, select')) return;
          onOpen(row);
        });
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' && e.target === tr) onOpen(row);
        });
      }
      return tr;
    }))));
}

/**
 * Previous/next paging. `total` may be unknown (-1, with skipTotal): then "next" is offered
 * while a full page came back.
 */
export function pager({ page, perPage, count, total = -1, onPage }) {
  const hasNext = total >= 0 ? page * perPage < total : count >= perPage;
  const from = count ? (page - 1) * perPage + 1 : 0;
  const to = (page - 1) * perPage + count;
  const label = total >= 0 ? `${from}–${to} of ${total}` : (count ? `${from}–${to}` : 'none');
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    button('Previous page', () => onPage(page - 1), { disabled: page <= 1 }),
    h('span', { class: 'muted' }, label),
    button('Next page', () => onPage(page + 1), { disabled: !hasNext }));
}

/** A short-lived message (also read by screen readers). */
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}` }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** An error as a block for the page: the message and each field's error. */
export function errorBox(err) {
  if (err instanceof ApiError) {
    const fields = Object.entries(err.fields).filter(([, v]) => v && v.message);
    const hint = err.status === 403 ? ' Your account lacks the permission this needs; ask a superuser.' : '';
    return h('div', { class: 'error', role: 'alert' }, h('strong', null, err.message + hint),
      fields.length ? h('ul', null, fields.map(([k, v]) => h('li', null, `${k}: ${v.message}`))) : null);
  }
  return h('div', { class: 'error', role: 'alert' }, String((err && err.message) || err));
}

/** Shows an API error as a toast. */
export function failed(err) {
  if (err && err.name === 'AbortError') return;
  toast(err instanceof ApiError ? err.detail : String((err && err.message) || err), 'error');
}

/**
 * A modal dialog; resolves with the value passed to `close(value)` (undefined on Escape).
 * `build(close)` returns the content. Focus moves into it and back afterwards.
 */
export function dialog(title, build) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dlg');
    const dlg = h('dialog', { 'aria-labelledby': titleId });
    let value;
    const close = (v) => {
      value = v;
      dlg.close();
    };
    dlg.append(h('h2', { id: titleId }, title), build(close));
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.focus) opener.focus();
      resolve(value);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Asks before something that cannot be undone; resolves true to go ahead. */
export function confirm(title, message, confirmLabel = 'Delete') {
  return dialog(title, (close) => h('div', null,
    h('p', null, message),
    h('div', { class: 'actions end' },
      button('Cancel', () => close(false)),
      button(confirmLabel, () => close(true), { class: 'danger' })))).then((v) => v === true);
}

/** A form in a dialog: `fields` builds the inputs, `submit(form)` does the work (may throw). */
export function formDialog(title, buildFields, submit, submitLabel = 'Save') {
  return dialog(title, (close) => {
    const err = h('div');
    const form = h('form', { class: 'stack' }, buildFields(), err,
      h('div', { class: 'actions end' }, button('Cancel', () => close()), h('button', { type: 'submit', class: 'primary' }, submitLabel)));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        close(await submit(form));
      } catch (ex) {
        mount(err, errorBox(ex));
      } finally {
        btn.disabled = false;
      }
    });
    return form;
  });
}

/** A date as the reader's local time; '' for none. */
export function fmtDate(value) {
  if (!value) return '';
  const d = new Date(typeof value === 'string' ? value.replace(' ', 'T') : value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toLocaleString();
}

/** A `<time>` with the full date as its title. */
export function time(value) {
  if (!value) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: String(value), title: String(value) }, fmtDate(value));
}

/** A coloured label for a state name. */
export function badge(text, kind) {
  return h('span', { class: `badge ${kind || String(text).toLowerCase()}` }, String(text));
}

/** Runs `fn` once input has paused for `ms`. */
export function debounce(fn, ms = 300) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

/** JSON typed in a text box: `empty` when blank; throws naming `what` when it does not parse. */
export function parseJson(text, what, empty = null) {
  if (!text.trim()) return empty;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${err.message}`);
  }
}

/** JSON for display, shortened. */
export function short(value, max = 80) {
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  if (s === undefined) return '';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Tabs as links (`[[href, label]]`), the current one marked. */
export function tabs(items, current) {
  return h('nav', { class: 'tabs', 'aria-label': 'Sections' }, items.map(([href, label]) =>
    h('a', { href, 'aria-current': href === current ? 'page' : null }, label)));
}

/** Loading text while a page fetches. */
export const loading = () => h('p', { class: 'loading', role: 'status' }, 'Loading…');
