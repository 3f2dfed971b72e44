// Ops, runbooks: the list, a runbook's page (steps, versions, recent runs, the Run form), the
// JSON editor, YAML import and export, delete, and restoring an older version.

import { get, post, del, api, seg, quote } from '../api.js';
import {
  h, mount, field, button, table, toast, errorBox, failed, dialog, confirm, formDialog, time,
  badge, short, loading,
} from '../ui.js';
import { kvCard, hashWith, textarea } from './ops_common.js';
import { runsTable } from './ops_runs.js';
import { runCard } from './ops_run_form.js';

const NEW_RUNBOOK = {
  name: '',
  description: '',
  parameters: { type: 'object', required: [], properties: {} },
  steps: [{ id: 'hello', type: 'shell.exec', command: 'echo hello' }],
};

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied.');
  } catch {
    toast('Copying is not allowed here: select the text and copy it.', 'error');
  }
}

export async function runbooksList(view) {
  const { ctx } = view;
  ctx.title('Runbooks · Ops');
  const out = await get('/api/ops/runbooks');
  if (!ctx.isCurrent()) return;
  const items = [...out.items].sort((a, b) => a.name.localeCompare(b.name));
  view.show('Ops', [
    button('Import YAML', () => importDialog(ctx)),
    h('a', { class: 'button primary', href: '#/ops/runbooks/new' }, 'New runbook'),
  ], table({
    caption: 'Runbooks',
    rows: items,
    empty: 'No runbook yet. Create one from JSON, or import a YAML file.',
    onOpen: (r) => ctx.go(`#/ops/runbooks/${seg(r.id)}`),
    rowLabel: (r) => `Runbook ${r.name}`,
    columns: [
      { label: 'Name', render: (r) => h('a', { href: `#/ops/runbooks/${seg(r.id)}` }, r.name) },
      { label: 'Description', render: (r) => h('span', { class: 'cell' }, r.description || '') },
      { label: 'Steps', class: 'num', render: (r) => String(((r.definition && r.definition.steps) || []).length) },
      { label: 'Version', class: 'num', render: (r) => String(r.version) },
      { label: 'Updated', render: (r) => time(r.updated) },
    ],
  }));
}

function importDialog(ctx) {
  const text = textarea({ name: 'runbook', rows: 16, required: true, placeholder: 'name: restart\nparameters:\n  type: object\n  properties: {}\nsteps:\n  - id: hello\n    type: shell.exec\n    command: echo hello' });
  const file = h('input', { type: 'file', name: 'file', accept: '.yaml,.yml,.json,text/yaml,application/json' });
  file.addEventListener('change', async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  return formDialog('Import a runbook', () => [
    field('Runbook (YAML or JSON)', text, { hint: 'A runbook of that name gets a new version; otherwise it is created.' }),
    field('Or read a file', file),
  ], async () => api('POST', '/api/ops/runbooks/import', text.value, { contentType: 'text/plain; charset=utf-8' }), 'Import').then((rb) => {
    if (!rb) return;
    toast(`Runbook ${rb.name} is at version ${rb.version}.`);
    ctx.go(`#/ops/runbooks/${seg(rb.id)}`);
  });
}

export function runbookEditor(view, rb) {
  const { ctx } = view;
  ctx.title(rb ? `Edit ${rb.name} · Ops` : 'New runbook · Ops');
  const text = textarea({ name: 'definition', rows: 24, required: true, value: JSON.stringify(rb ? rb.definition : NEW_RUNBOOK, null, 2) });
  const err = h('div');
  const form = h('form', { class: 'stack' },
    field('Runbook (JSON)', text, { hint: '{"name", "description", "parameters" (a JSON Schema object), "timeoutSec", "concurrency", "steps"}. Saving makes a new version.' }),
    err,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, rb ? 'Save as a new version' : 'Create runbook'),
      h('a', { class: 'button', href: rb ? `#/ops/runbooks/${seg(rb.id)}` : '#/ops/runbooks' }, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    let definition;
    try {
      definition = JSON.parse(text.value);
    } catch (ex) {
      mount(err, errorBox(new Error(`The runbook is not valid JSON: ${ex.message}`)));
      return;
    }
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      const saved = rb ? await api('PUT', `/api/ops/runbooks/${seg(rb.id)}`, definition) : await post('/api/ops/runbooks', definition);
      toast(rb ? `Saved as version ${saved.version}.` : `Runbook ${saved.name} created.`);
      ctx.go(`#/ops/runbooks/${seg(saved.id)}`);
    } catch (ex) {
      mount(err, errorBox(ex));
    } finally {
      btn.disabled = false;
    }
  });
  view.show(rb ? `Edit ${rb.name}` : 'New runbook', [button('Import YAML', () => importDialog(ctx))], form);
  text.focus();
}

export async function runbookPage(view, id) {
  const { ctx } = view;
  const rb = await get(`/api/ops/runbooks/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  if (ctx.query.edit) {
    runbookEditor(view, rb);
    return;
  }
  const wanted = Number(ctx.query.version) || 0;
  const [versions, shown] = await Promise.all([
    get(`/api/ops/runbooks/${seg(id)}/versions`).catch(() => null),
    wanted && wanted !== rb.version ? get(`/api/ops/runbooks/${seg(id)}/versions/${wanted}`) : Promise.resolve(null),
  ]);
  if (!ctx.isCurrent()) return;
  ctx.title(`${rb.name} · Ops`);
  const def = shown ? shown.definition : rb.definition;
  const base = `#/ops/runbooks/${seg(rb.id)}`;

  const actions = [
    button('Export YAML', () => exportDialog(rb)),
    h('a', { class: 'button', href: `${base}?edit=1` }, 'Edit'),
    button('Delete', () => deleteRunbook(ctx, rb), { class: 'danger' }),
  ];
  const recent = h('div', null, loading());
  const body = [
    rb.description ? h('p', null, rb.description) : null,
    kvCard(
      h('dt', null, 'Current version'), h('dd', null, String(rb.version)),
      h('dt', null, 'Updated'), h('dd', null, time(rb.updated), rb.updatedBy ? ` by ${rb.updatedBy}` : ''),
      h('dt', null, 'Created'), h('dd', null, time(rb.created), rb.createdBy ? ` by ${rb.createdBy}` : ''),
      def.timeoutSec ? [h('dt', null, 'Timeout'), h('dd', null, `${def.timeoutSec} s`)] : null,
      def.concurrency ? [h('dt', null, 'Concurrency'), h('dd', null, String(def.concurrency))] : null),
  ];
  if (shown) {
    body.push(h('div', { class: 'notice' }, `You are looking at version ${shown.version}, not the current one (${rb.version}). `,
      h('a', { href: base }, 'Back to the current version'), ' · ',
      button('Restore this version', () => restoreVersion(ctx, rb, shown), { class: 'link' })));
  } else {
    body.push(runCard(ctx, rb));
  }
  body.push(h('h2', null, 'Steps'), runbookSteps(def.steps || []));
  if (shown) body.push(h('h2', null, 'Definition'), h('pre', null, JSON.stringify(def, null, 2)));
  if (versions) {
    body.push(h('h2', null, 'Versions'), table({
      caption: 'Versions',
      rows: versions.items,
      onOpen: (v) => ctx.go(v.version === rb.version ? base : `${base}?version=${v.version}`),
      rowLabel: (v) => `Version ${v.version}`,
      columns: [
        { label: 'Version', class: 'num', render: (v) => h('a', { href: v.version === rb.version ? base : `${base}?version=${v.version}` }, String(v.version)) },
        { label: '', render: (v) => (v.version === rb.version ? badge('current', 'ok') : (v.version === wanted ? badge('shown', 'active') : '')) },
        { label: 'Author', render: (v) => v.author || '—' },
        { label: 'Created', render: (v) => time(v.created) },
      ],
    }));
  }
  body.push(h('h2', null, 'Recent runs'), recent, h('p', null, h('a', { href: hashWith('#/ops/runs', { runbook: rb.name }) }, 'Every run of this runbook')));
  view.show(shown ? `${rb.name} · version ${shown.version}` : rb.name, actions, ...body);

  try {
    const runs = await get('/api/ops/runs', { perPage: 10, filter: `runbook = ${quote(rb.id)}` });
    if (ctx.isCurrent()) mount(recent, runsTable(ctx, runs.items, 'This runbook has not run yet.'));
  } catch (err) {
    if (ctx.isCurrent()) mount(recent, errorBox(err));
  }
}

function targetsOf(step) {
  if (step.target) return step.target;
  const t = step.targets;
  if (!t) return '';
  if (Array.isArray(t)) return t.join(', ');
  return [t.names && t.names.length ? t.names.join(', ') : '', t.tags && t.tags.length ? `tags: ${t.tags.join(', ')}` : ''].filter(Boolean).join('; ');
}

function stepSummary(s) {
  switch (s.type) {
    case 'ssh.exec': case 'winrm.exec': case 'shell.exec': return s.command;
    case 'ssh.copy': case 'winrm.copy': return `${s.direction || 'upload'} ${s.source} → ${s.destination}`;
    case 'http.request': return `${s.method || 'GET'} ${s.url}`;
    case 'notify.send': return s.template ? `template ${s.template}` : s.subject;
    case 'job.enqueue': return `queue ${s.queue}`;
    case 'runbook.call': return `runbook ${s.runbook}`;
    case 'approval': return s.message || `quorum ${s.quorum || 1}`;
    default: return '';
  }
}

function runbookSteps(steps) {
  return table({
    caption: 'Steps',
    rows: steps,
    empty: 'No steps.',
    columns: [
      { label: 'Step', render: (s) => h('span', { class: 'mono' }, s.id) },
      { label: 'Type', render: (s) => s.type },
      { label: 'Runs on', render: (s) => targetsOf(s) || (s.type === 'shell.exec' ? h('span', { class: 'muted' }, 'Keel host') : '—') },
      { label: 'Needs', render: (s) => (s.needs || []).join(', ') },
      { label: 'What', render: (s) => h('code', { class: 'cell', title: stepSummary(s) || '' }, short(stepSummary(s) || '', 90)) },
      {
        label: 'Options',
        render: (s) => h('span', { class: 'small muted' }, [
          s.when ? `when ${s.when}` : '', s.forEach ? 'forEach' : '', s.timeoutSec ? `timeout ${s.timeoutSec} s` : '',
          s.retries ? `${s.retries} retries` : '', s.continueOnError ? 'continue on error' : '', s.parallelism ? `parallelism ${s.parallelism}` : '',
        ].filter(Boolean).join(' · ')),
      },
    ],
  });
}

async function exportDialog(rb) {
  try {
    const res = await api('GET', `/api/ops/runbooks/${seg(rb.id)}/export?format=yaml`, undefined, { raw: true });
    const text = await res.text();
    dialog(`${rb.name} as YAML`, (close) => h('div', null,
      h('pre', { tabindex: '0', 'aria-label': 'Runbook YAML' }, text),
      h('div', { class: 'actions end' }, button('Copy', () => copyText(text)), button('Close', () => close()))));
  } catch (err) {
    failed(err);
  }
}

async function deleteRunbook(ctx, rb) {
  if (!(await confirm(`Delete ${rb.name}?`, 'The runbook and all its versions are deleted; its runs stay.'))) return;
  try {
    await del(`/api/ops/runbooks/${seg(rb.id)}`);
    toast(`Runbook ${rb.name} deleted.`);
    ctx.go('#/ops/runbooks');
  } catch (err) {
    failed(err);
  }
}

async function restoreVersion(ctx, rb, version) {
  if (!(await confirm(`Restore version ${version.version}?`, `Its definition becomes version ${rb.version + 1} of ${rb.name}.`, 'Restore'))) return;
  try {
    const saved = await api('PUT', `/api/ops/runbooks/${seg(rb.id)}`, version.definition);
    toast(`Version ${version.version} restored as version ${saved.version}.`);
    ctx.go(`#/ops/runbooks/${seg(rb.id)}`);
  } catch (err) {
    failed(err);
  }
}
