// Ops: the Run form of a runbook, its inputs generated from the parameters' JSON Schema.

import { post, seg, ApiError } from '../api.js';
import { h, mount, field, input, select, toast, errorBox } from '../ui.js';
import { textarea, secretNames, datalist } from './ops_common.js';

export function runCard(ctx, rb) {
  const schema = (rb.definition && rb.definition.parameters) || {};
  const params = paramControls(schema);
  const err = h('div');
  const form = h('form', { class: 'stack', 'aria-label': `Run ${rb.name}` },
    params.nodes.length ? params.nodes : h('p', { class: 'muted' }, 'This runbook takes no parameters.'),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Run')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    mount(err);
    try {
      const run = await post(`/api/ops/runbooks/${seg(rb.id)}/run`, { params: params.values() });
      toast(`Run of ${rb.name} started.`);
      ctx.go(`#/ops/runs/${seg(run.id)}`);
    } catch (ex) {
      mount(err, errorBox(ex));
    } finally {
      btn.disabled = false;
    }
  });
  if (params.secrets) {
    secretNames().then((names) => {
      if (ctx.isCurrent()) form.append(datalist(params.secrets, names));
    });
  }
  return h('section', { class: 'card' }, h('h2', { style: 'margin-top:0' }, 'Run'), form);
}

function schemaType(s) {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== 'null') : s.type;
  if (Array.isArray(s.enum) && s.enum.length) return 'enum';
  return t || 'string';
}

/** The inputs of a parameters schema: `{nodes, values(), secrets}` (secrets: a datalist id). */
function paramControls(schema) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const readers = [];
  let secrets = null;
  const nodes = Object.entries(props).map(([name, raw]) => {
    const s = raw || {};
    const type = schemaType(s);
    const must = required.has(name);
    const hasDefault = s.default !== undefined;
    let control;
    let read;
    if (type === 'boolean') {
      control = h('input', { type: 'checkbox', name, checked: hasDefault ? !!s.default : false });
      read = () => control.checked;
    } else if (type === 'enum') {
      const opts = s.enum.map((v, i) => [String(i), typeof v === 'string' ? v : JSON.stringify(v)]);
      const current = hasDefault ? String(s.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(s.default))) : '';
      control = select({ name, required: must }, [['', must ? 'Choose…' : '(none)'], ...opts], current);
      read = () => (control.value === '' ? undefined : s.enum[Number(control.value)]);
    } else if (type === 'integer' || type === 'number') {
      control = input({ type: 'number', name, required: must, step: type === 'integer' ? '1' : 'any', min: s.minimum, max: s.maximum, value: hasDefault ? String(s.default) : '' });
      read = () => {
        if (control.value === '') return undefined;
        const n = Number(control.value);
        if (Number.isNaN(n)) throw paramError(name, 'Not a number.');
        return n;
      };
    } else if (type === 'object' || type === 'array') {
      control = textarea({ name, rows: 3, required: must, value: hasDefault ? JSON.stringify(s.default, null, 2) : '' });
      read = () => {
        if (!control.value.trim()) return undefined;
        try {
          return JSON.parse(control.value);
        } catch {
          throw paramError(name, `Not valid JSON (an ${type} is expected).`);
        }
      };
    } else {
      control = input({ name, required: must, value: hasDefault ? String(s.default) : '', autocomplete: 'off' });
      if (type === 'secret') {
        secrets = secrets || 'ops-secret-names';
        control.setAttribute('list', secrets);
      }
      if (s.maxLength) control.setAttribute('maxlength', s.maxLength);
      read = () => (control.value === '' ? undefined : control.value);
    }
    readers.push([name, read]);
    const hint = [
      s.description,
      type === 'secret' ? 'The name of a vault secret.' : '',
      type === 'object' || type === 'array' ? `JSON (an ${type}).` : '',
      s.pattern ? `Pattern: ${s.pattern}` : '',
      hasDefault && type !== 'boolean' ? `Default: ${JSON.stringify(s.default)}` : '',
    ].filter(Boolean).join(' ');
    const label = [s.title || name, must ? h('span', { class: 'muted', 'aria-hidden': 'true', title: 'required' }, ' *') : null];
    return field(label, control, hint ? { hint } : {});
  });
  return {
    nodes,
    secrets,
    values() {
      const out = {};
      for (const [name, read] of readers) {
        const v = read();
        if (v !== undefined) out[name] = v;
      }
      return out;
    },
  };
}

function paramError(name, message) {
  return new ApiError(400, { message: 'Check the parameters.', data: { [`params.${name}`]: { code: 'validation_invalid', message } } });
}
