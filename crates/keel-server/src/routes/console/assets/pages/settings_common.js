// Settings: the form every section saves with (controls registered by their path in the
// settings document, `PATCH /api/settings` with that section's part, the API's field errors
// beside their fields), fieldsets, and the S3 fields with their connection test.

import { post, patch, ApiError } from '../api.js';
import { h, mount, field, input, select, button, toast, errorBox, uid } from '../ui.js';

const FIELDSET = 'border: 1px solid var(--line); border-radius: 8px; margin: 0 0 1rem; padding: .6rem 1rem';

// A settings form: controls registered by their dotted path in the settings document, the
// patch built from them, and the API's errors (keyed by the same paths) shown beside them.

class SettingsForm {
  constructor() {
    this.controls = new Map();
    this.parts = [];
  }

  /** Registers a control; `get` reads its value, `omitBlank` leaves a blank one out. */
  add(path, label, control, get, opts = {}) {
    const slot = h('small', { id: uid('err'), class: 'field-error', style: 'color: var(--danger)', hidden: true });
    this.controls.set(path, { control, get, slot, omitBlank: opts.omitBlank });
    const f = field(label, control, opts);
    f.append(slot);
    return f;
  }

  text(path, label, value, opts = {}) {
    const el = input({ name: path, value: value ?? '', autocomplete: 'off', ...opts.props });
    return this.add(path, label, el, () => el.value.trim(), opts);
  }

  number(path, label, value, opts = {}) {
    const el = input({ type: 'number', name: path, value: value ?? 0, step: 1, ...opts.props });
    return this.add(path, label, el, () => (el.value === '' ? 0 : Number(el.value)), opts);
  }

  check(path, label, value, opts = {}) {
    const el = h('input', { type: 'checkbox', name: path, checked: !!value });
    return this.add(path, label, el, () => el.checked, opts);
  }

  choice(path, label, options, value, opts = {}) {
    const known = options.some((o) => String(Array.isArray(o) ? o[0] : o) === String(value ?? ''));
    const all = known ? options : [...options, [value, String(value)]];
    const el = select({ name: path }, all, value);
    return this.add(path, label, el, () => (opts.numeric ? Number(el.value) : el.value), opts);
  }

  /** A list of strings, written comma-separated. */
  list(path, label, value, opts = {}) {
    const el = input({ name: path, value: (value || []).join(', '), autocomplete: 'off' });
    return this.add(path, label, el, () => el.value.split(',').map((s) => s.trim()).filter(Boolean), opts);
  }

  /** A write-only secret: never prefilled; left out of the change while blank. */
  secret(path, label, opts = {}) {
    const el = input({ type: 'password', name: path, autocomplete: 'new-password', placeholder: 'Unchanged (write-only)' });
    return this.add(path, label, el, () => el.value, { omitBlank: true, hint: 'Write-only: it is never shown. Leave blank to keep the stored one.', ...opts });
  }

  textarea(path, label, value, opts = {}) {
    const el = h('textarea', { name: path, spellcheck: 'false' });
    el.value = value ?? '';
    return this.add(path, label, el, () => el.value, opts);
  }

  /** A part with its own value and error slots (`part.value()`, `part.errorSlot(path)`). */
  custom(path, part) {
    this.parts.push({ path, part });
  }

  /** The change: a nested object of every registered path. */
  value() {
    const out = {};
    for (const [path, c] of this.controls) {
      const v = c.get();
      if (c.omitBlank && v === '') continue;
      setPath(out, path, v);
    }
    for (const { path, part } of this.parts) setPath(out, path, part.value());
    return out;
  }

  clearErrors() {
    for (const c of [...this.controls.values(), ...this.parts.flatMap(({ part }) => part.slots())]) {
      c.slot.hidden = true;
      c.slot.textContent = '';
      c.control.removeAttribute('aria-invalid');
      const ids = (c.control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== c.slot.id);
      if (ids.length) c.control.setAttribute('aria-describedby', ids.join(' '));
      else c.control.removeAttribute('aria-describedby');
    }
  }

  /** Shows each field error beside its control; returns the errors no control took. */
  showErrors(err) {
    const rest = {};
    let first = null;
    for (const [key, value] of Object.entries(err.fields || {})) {
      const message = value && value.message ? value.message : String(value);
      const c = this.controls.get(key) || this.parts.map(({ part }) => part.errorSlot(key)).find(Boolean);
      if (!c) {
        rest[key] = value;
        continue;
      }
      c.slot.textContent = message;
      c.slot.hidden = false;
      c.control.setAttribute('aria-invalid', 'true');
      c.control.setAttribute('aria-describedby', [c.control.getAttribute('aria-describedby'), c.slot.id].filter(Boolean).join(' '));
      first = first || c.control;
    }
    if (first) first.focus();
    return rest;
  }

  /** Secrets are emptied after a save (the stored value is never shown back). */
  clearSecrets() {
    for (const c of this.controls.values()) if (c.omitBlank) c.control.value = '';
  }
}

function setPath(obj, path, value) {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k];
  }
  o[keys[keys.length - 1]] = value;
}

/**
 * The form of a section: `build(f)` returns its fieldsets; Save sends `f.value()` (this
 * section only) and shows the answer's errors. `extra` are buttons beside Save.
 */
export function settingsForm(build, { extra = [], saved } = {}) {
  const f = new SettingsForm();
  const errors = h('div', { 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save changes');
  const form = h('form', { novalidate: true }, build(f), errors, h('div', { class: 'actions' }, save, extra));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    f.clearErrors();
    mount(errors);
    save.disabled = true;
    try {
      const out = await patch('/api/settings', f.value());
      f.clearSecrets();
      toast('Settings saved.');
      if (saved) saved(out);
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        const rest = f.showErrors(err);
        mount(errors, errorBox(new ApiError(err.status, { message: err.message, data: rest })));
      } else {
        mount(errors, errorBox(err));
      }
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

export function fieldset(legend, ...children) {
  return h('fieldset', { style: FIELDSET }, h('legend', null, legend), children);
}

/** A button running `action`; its outcome shows in `out` beside it. */
function actionButton(label, action, out) {
  const b = button(label, async () => {
    b.disabled = true;
    mount(out, h('span', { class: 'muted', role: 'status' }, 'Working…'));
    try {
      mount(out, h('span', { role: 'status' }, await action()));
    } catch (err) {
      mount(out, errorBox(err));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** The S3 fields of `prefix` (`s3` or `backups.s3`). */
export function s3Fields(f, prefix, s3 = {}) {
  return [
    f.check(`${prefix}.enabled`, 'Use S3 storage', s3.enabled),
    h('div', { class: 'grid2' },
      f.text(`${prefix}.bucket`, 'Bucket', s3.bucket),
      f.text(`${prefix}.region`, 'Region', s3.region),
      f.text(`${prefix}.endpoint`, 'Endpoint', s3.endpoint, { props: { type: 'url' }, hint: 'e.g. https://s3.eu-west-1.amazonaws.com' }),
      f.text(`${prefix}.accessKey`, 'Access key', s3.accessKey),
      f.secret(`${prefix}.secret`, 'Secret')),
    f.check(`${prefix}.forcePathStyle`, 'Force path-style addressing', s3.forcePathStyle, { hint: 'For MinIO and other servers without virtual-host buckets.' }),
  ];
}

export function testS3(filesystem, out) {
  return actionButton('Test S3 connection', async () => {
    await post('/api/settings/test/s3', { filesystem });
    return 'The S3 connection works: a test file was written and deleted.';
  }, out);
}
