// Create or edit a collection: its fields with each type's options, its API rules (checked
// against the server as you type), indexes, a view's query; delete with the consequence
// spelled out.

import { get, post, patch, del, seg, ApiError } from '../api.js';
import { h, mount, header, field, input, select, button, loading, errorBox, dialog, formDialog, toast, debounce } from '../ui.js';

const TYPES = ['text', 'number', 'bool', 'email', 'url', 'editor', 'date', 'autodate', 'select', 'json', 'file', 'relation', 'password'];

/** Each type's options: [key, kind, label]; kind is number, text, bool, list or collection. */
const OPTIONS = {
  text: [['min', 'number', 'Min length'], ['max', 'number', 'Max length'], ['pattern', 'text', 'Pattern (regular expression)'],
    ['autogeneratePattern', 'text', 'Autogenerate pattern'], ['encrypted', 'bool', 'Encrypted with the vault\'s keys']],
  number: [['min', 'number', 'Minimum'], ['max', 'number', 'Maximum'], ['onlyInt', 'bool', 'Integers only']],
  bool: [],
  email: [['onlyDomains', 'list', 'Only these domains'], ['exceptDomains', 'list', 'Except these domains']],
  url: [['onlyDomains', 'list', 'Only these domains'], ['exceptDomains', 'list', 'Except these domains']],
  editor: [['maxSize', 'number', 'Max size in bytes'], ['convertURLs', 'bool', 'Convert URLs']],
  date: [['min', 'text', 'Earliest (YYYY-MM-DD HH:MM:SS)'], ['max', 'text', 'Latest (YYYY-MM-DD HH:MM:SS)']],
  autodate: [['onCreate', 'bool', 'Set on create'], ['onUpdate', 'bool', 'Set on update']],
  select: [['values', 'list', 'Values'], ['maxSelect', 'number', 'Most values selected']],
  json: [['maxSize', 'number', 'Max size in bytes']],
  file: [['maxSelect', 'number', 'Most files'], ['maxSize', 'number', 'Max size in bytes'], ['mimeTypes', 'list', 'MIME types'],
    ['thumbs', 'list', 'Thumb sizes (100x100, 0x300…)'], ['protected', 'bool', 'Protected (downloads need a file token)']],
  relation: [['collectionId', 'collection', 'Related collection'], ['maxSelect', 'number', 'Most records'], ['minSelect', 'number', 'Fewest records'],
    ['cascadeDelete', 'bool', 'Delete with the related record']],
  password: [['min', 'number', 'Min length'], ['max', 'number', 'Max length'], ['pattern', 'text', 'Pattern']],
};

const DEFAULTS = {
  select: { values: [], maxSelect: 1 },
  file: { maxSelect: 1, maxSize: 0, mimeTypes: [], thumbs: [], protected: false },
  relation: { collectionId: '', maxSelect: 1, minSelect: 0, cascadeDelete: false },
  autodate: { onCreate: true, onUpdate: false },
};

const RULES = [
  ['listRule', 'List/search rule'], ['viewRule', 'View rule'], ['createRule', 'Create rule'],
  ['updateRule', 'Update rule'], ['deleteRule', 'Delete rule'],
];
const AUTH_RULES = [['authRule', 'Auth rule'], ['manageRule', 'Manage rule']];

/** The auth collection settings edited as JSON (PocketBase's keys). */
const AUTH_KEYS = ['passwordAuth', 'oauth2', 'mfa', 'otp', 'authAlert', 'authToken', 'passwordResetToken',
  'emailChangeToken', 'verificationToken', 'fileToken', 'verificationTemplate', 'resetPasswordTemplate', 'confirmEmailChangeTemplate'];

export default async function render(ctx) {
  const editing = ctx.params.name;
  ctx.title(editing ? `Edit ${editing}` : 'New collection');
  mount(ctx.main, loading());
  let original = null;
  let all;
  try {
    [all, original] = await Promise.all([
      get('/api/collections', { perPage: 500, sort: 'name' }),
      editing ? get(`/api/collections/${seg(editing)}`) : null,
    ]);
  } catch (err) {
    mount(ctx.main, errorBox(err));
    return;
  }
  const model = original ? structuredClone(original) : {
    name: '', type: 'base', fields: [], listRule: null, viewRule: null, createRule: null, updateRule: null, deleteRule: null, indexes: [],
  };
  new Editor(ctx, model, original, all.items).draw();
}

class Editor {
  constructor(ctx, model, original, collections) {
    this.ctx = ctx;
    this.model = model;
    this.original = original;
    this.collections = collections;
    this.ruleErrors = {};
    this.checkSoon = debounce(() => this.check(), 400);
  }

  draw() {
    const m = this.model;
    const name = input({ name: 'name', value: m.name, required: true, autocomplete: 'off' });
    name.addEventListener('input', () => {
      m.name = name.value.trim();
    });
    const type = select({ name: 'type', disabled: !!this.original }, [['base', 'Base'], ['auth', 'Auth'], ['view', 'View']], m.type);
    type.addEventListener('change', () => {
      m.type = type.value;
      this.draw();
    });
    this.errors = h('div');
    this.fieldsBox = h('div');
    this.drawFields();
    const form = h('form', { class: 'stack', novalidate: true },
      h('div', { class: 'grid2' }, field('Name', name), field('Type', type, { hint: this.original ? 'The type of an existing collection cannot change.' : 'Base: records. Auth: records that sign in. View: a read-only SQL query.' })),
      m.type === 'view' ? this.viewQuery() : h('section', { 'aria-labelledby': 'fields-h' },
        h('h2', { id: 'fields-h' }, 'Fields'), this.fieldsBox,
        button('Add field', () => this.addField())),
      this.rules(),
      m.type === 'auth' ? this.authOptions() : null,
      m.type === 'view' ? null : this.indexes(),
      this.errors,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, this.original ? 'Save changes' : 'Create collection'),
        h('a', { class: 'button', href: this.original ? `#/collections/${encodeURIComponent(this.original.name)}` : '#/collections' }, 'Cancel'),
        this.original && !this.original.system ? button('Delete collection', () => this.remove(), { class: 'danger' }) : null));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.save(form);
    });
    mount(this.ctx.main, header(this.original ? `Edit collection ${this.original.name}` : 'New collection'), form);
    if (!this.original) name.focus();
  }

  viewQuery() {
    const q = h('textarea', { name: 'viewQuery', rows: 6, required: true }, this.model.viewQuery || '');
    q.addEventListener('input', () => {
      this.model.viewQuery = q.value;
    });
    return h('section', null, h('h2', null, 'Query'), field('View query (one SELECT)', q, { hint: 'Its columns become the fields; it must select an id column.' }));
  }

  drawFields() {
    mount(this.fieldsBox, this.model.fields.map((f, i) => this.fieldRow(f, i)));
  }

  addField() {
    this.model.fields.push({ name: '', type: 'text', required: false, hidden: false, presentable: false });
    this.drawFields();
    const rows = this.fieldsBox.querySelectorAll('fieldset');
    rows[rows.length - 1].querySelector('input').focus();
  }

  fieldRow(f, i) {
    const system = !!f.system;
    const name = input({ name: `field-${i}-name`, value: f.name, required: true, disabled: system && f.name === 'id', autocomplete: 'off' });
    name.addEventListener('input', () => {
      f.name = name.value.trim();
    });
    const type = select({ name: `field-${i}-type`, disabled: !!f.id || system }, TYPES, f.type);
    type.addEventListener('change', () => {
      const keep = { name: f.name, required: f.required, hidden: f.hidden, presentable: f.presentable };
      for (const k of Object.keys(f)) delete f[k];
      Object.assign(f, keep, { type: type.value }, structuredClone(DEFAULTS[type.value] || {}));
      this.drawFields();
      this.fieldsBox.querySelectorAll('fieldset')[i].querySelector('select').focus();
    });
    const required = h('input', { type: 'checkbox', checked: f.required, disabled: system });
    required.addEventListener('change', () => {
      f.required = required.checked;
    });
    const renamed = this.original && f.id && this.original.fields.find((o) => o.id === f.id && o.name !== f.name);
    return h('fieldset', { class: 'field-row' },
      h('legend', null, `Field ${i + 1}`, system ? ' (system)' : ''),
      field('Name', name, { hint: renamed ? `Renamed from ${renamed.name}` : null }),
      field('Type', type),
      field('Required', required),
      system ? h('span') : button('Remove', () => {
        this.model.fields.splice(i, 1);
        this.drawFields();
      }, { class: 'danger', 'aria-label': `Remove field ${f.name || i + 1}` }),
      h('details', { style: 'grid-column: 1 / -1' }, h('summary', null, 'Options'), this.options(f, i)));
  }

  options(f, i) {
    const box = h('div', { class: 'grid2' });
    const specs = [...(OPTIONS[f.type] || []), ['hidden', 'bool', 'Hidden (never returned by the API)'], ['presentable', 'bool', 'Presentable (shown for relations)']];
    for (const [key, kind, label] of specs) {
      let control;
      if (kind === 'bool') {
        control = h('input', { type: 'checkbox', checked: !!f[key], name: `field-${i}-${key}` });
        control.addEventListener('change', () => {
          f[key] = control.checked;
        });
      } else if (kind === 'list') {
        control = input({ name: `field-${i}-${key}`, value: (f[key] || []).join(', ') });
        control.addEventListener('input', () => {
          f[key] = control.value.split(',').map((s) => s.trim()).filter(Boolean);
        });
      } else if (kind === 'collection') {
        control = select({ name: `field-${i}-${key}` }, [['', 'Choose…'], ...this.collections.map((c) => [c.id, c.name])], f[key]);
        control.addEventListener('change', () => {
          f[key] = control.value;
        });
      } else {
        control = input({ type: kind === 'number' ? 'number' : 'text', name: `field-${i}-${key}`, value: f[key] ?? '', step: 'any' });
        control.addEventListener('input', () => {
          if (kind !== 'number') f[key] = control.value;
          else if (control.value === '') f[key] = key === 'min' || key === 'max' ? (f.type === 'number' ? null : 0) : 0;
          else f[key] = Number(control.value);
        });
      }
      box.append(field(label, control));
    }
    return box;
  }

  rules() {
    const keys = this.model.type === 'auth' ? [...RULES, ...AUTH_RULES] : this.model.type === 'view' ? RULES.slice(0, 2) : RULES;
    this.ruleBoxes = {};
    return h('section', { 'aria-labelledby': 'rules-h' },
      h('h2', { id: 'rules-h' }, 'API rules'),
      h('p', { class: 'muted small' }, 'PocketBase\'s filter syntax, e.g. ', h('code', null, '@request.auth.id != "" && author = @request.auth.id'),
        '. Locked: superusers only. Empty: everyone.'),
      keys.map(([key, label]) => {
        const rule = this.model[key];
        const text = h('textarea', { name: key, rows: 2, disabled: rule === null || rule === undefined }, rule || '');
        const locked = h('input', { type: 'checkbox', checked: rule === null || rule === undefined });
        const msg = h('small', { class: 'hint', role: 'status' });
        text.setAttribute('aria-describedby', msg.id = `${key}-msg`);
        this.ruleBoxes[key] = { text, msg };
        text.addEventListener('input', () => {
          this.model[key] = text.value;
          this.checkSoon();
        });
        locked.addEventListener('change', () => {
          text.disabled = locked.checked;
          this.model[key] = locked.checked ? null : text.value;
          this.checkSoon();
        });
        return h('div', { class: 'card' }, field(label, text), field(`Lock the ${label.toLowerCase()} (superusers only)`, locked), msg);
      }));
  }

  /** Asks the server whether the collection as it stands would be accepted; shows rule errors. */
  async check() {
    if (!this.model.name) return;
    let errors = {};
    try {
      await post('/api/changes/classify', { collection: this.payload() });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 400) return;
      errors = err.fields;
    }
    for (const [key, box] of Object.entries(this.ruleBoxes || {})) {
      const e = errors[`collection.${key}`];
      box.text.setAttribute('aria-invalid', e ? 'true' : 'false');
      box.msg.textContent = e ? e.message : (box.text.disabled ? '' : 'Valid.');
      box.msg.style.color = e ? 'var(--danger)' : 'var(--ok)';
    }
  }

  authOptions() {
    const current = {};
    for (const k of AUTH_KEYS) if (this.model[k] !== undefined) current[k] = this.model[k];
    const text = h('textarea', { name: 'authOptions', rows: 10 }, JSON.stringify(current, null, 2));
    text.addEventListener('input', () => {
      try {
        Object.assign(this.model, JSON.parse(text.value));
        text.setAttribute('aria-invalid', 'false');
      } catch {
        text.setAttribute('aria-invalid', 'true');
      }
    });
    return h('section', null, h('h2', null, 'Auth options'),
      field('Sign-in methods, tokens and email templates (JSON)', text, { hint: 'passwordAuth, oauth2, mfa, otp, token durations and templates, as in PocketBase.' }));
  }

  indexes() {
    const text = h('textarea', { name: 'indexes', rows: 3 }, (this.model.indexes || []).join('\n'));
    text.addEventListener('input', () => {
      this.model.indexes = text.value.split('\n').map((s) => s.trim()).filter(Boolean);
    });
    return h('section', null, h('h2', null, 'Indexes'),
      field('Indexes (one CREATE INDEX statement per line)', text, { hint: 'e.g. CREATE UNIQUE INDEX idx_slug ON posts (slug)' }));
  }

  payload() {
    const body = structuredClone(this.model);
    for (const k of ['id', 'created', 'updated', 'system']) delete body[k];
    if (this.original) body.id = this.original.id;
    return body;
  }

  /** What a save would do that cannot be undone, in words. */
  consequences() {
    if (!this.original) return [];
    const out = [];
    for (const old of this.original.fields) {
      const now = this.model.fields.find((f) => f.id === old.id);
      if (!now) out.push(`Field “${old.name}” is deleted, with its value in every record.`);
      else if (now.name !== old.name) out.push(`Field “${old.name}” is renamed to “${now.name}”: filters, sorts and clients that use “${old.name}” must change.`);
    }
    if (this.original.name !== this.model.name) out.push(`The collection is renamed to “${this.model.name}”: its API path changes to /api/collections/${this.model.name}/records.`);
    return out;
  }

  async save(form) {
    mount(this.errors);
    const btn = form.querySelector('button[type=submit]');
    const lines = this.consequences();
    if (lines.length) {
      let findings = [];
      try {
        const out = await post('/api/changes/classify', { collection: this.payload() });
        findings = (out.findings || []).filter((f) => f.level === 'major');
      } catch {
        // The save itself reports what is wrong.
      }
      const ok = await dialog('Save these changes?', (close) => h('div', null,
        h('ul', null, lines.map((l) => h('li', null, l))),
        findings.length ? h('div', null, h('p', null, h('strong', null, 'Breaking for clients:')), h('ul', null, findings.map((f) => h('li', null, f.message)))) : null,
        h('div', { class: 'actions end' }, button('Cancel', () => close(false)), button('Save changes', () => close(true), { class: 'danger' }))));
      if (!ok) return;
    }
    btn.disabled = true;
    try {
      const body = this.payload();
      const saved = this.original ? await patch(`/api/collections/${seg(this.original.id)}`, body) : await post('/api/collections', body);
      toast(this.original ? `Collection ${saved.name} saved.` : `Collection ${saved.name} created.`);
      this.ctx.go(`#/collections/${encodeURIComponent(saved.name)}`);
    } catch (err) {
      mount(this.errors, errorBox(err));
      this.errors.scrollIntoView({ block: 'nearest' });
    } finally {
      btn.disabled = false;
    }
  }

  async remove() {
    const name = this.original.name;
    const typed = input({ name: 'confirmName', autocomplete: 'off', required: true });
    const done = await formDialog(`Delete collection ${name}?`, () => h('div', null,
      h('p', null, `Every record of ${name} and its files are deleted. This cannot be undone.`),
      field(`Type ${name} to confirm`, typed)),
    async () => {
      if (typed.value !== name) throw new Error(`Type ${name} exactly to confirm.`);
      await del(`/api/collections/${seg(this.original.id)}`);
      return true;
    }, 'Delete collection');
    if (done) {
      toast(`Collection ${name} deleted.`);
      this.ctx.go('#/collections');
    }
  }
}
