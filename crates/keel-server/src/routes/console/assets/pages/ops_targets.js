// Ops, targets: the list, a target's page, create and edit (SSH, WinRM or the Keel host),
// the connection test, delete.

import { get, post, del, api, seg } from '../api.js';
import { h, mount, field, input, select, button, table, toast, errorBox, failed, confirm, formDialog, time, badge } from '../ui.js';
import { kvCard, secretNames, datalist } from './ops_common.js';

export async function targetsList(view) {
  const { ctx } = view;
  ctx.title('Targets · Ops');
  const out = await get('/api/ops/targets');
  if (!ctx.isCurrent()) return;
  const items = [...out.items].sort((a, b) => a.name.localeCompare(b.name));
  const result = h('div', { role: 'status', 'aria-live': 'polite' });
  const reload = () => ctx.go('#/ops/targets');
  view.show('Ops', [button('New target', () => targetDialog(null).then((t) => t && ctx.go(`#/ops/targets/${seg(t.id)}`)), { class: 'primary' })],
    result,
    table({
      caption: 'Targets',
      rows: items,
      empty: 'No target yet. A target is a host that steps run on (SSH, WinRM, or this Keel host).',
      onOpen: (t) => ctx.go(`#/ops/targets/${seg(t.id)}`),
      rowLabel: (t) => `Target ${t.name}`,
      columns: [
        { label: 'Name', render: (t) => h('a', { href: `#/ops/targets/${seg(t.id)}` }, t.name) },
        { label: 'Address', render: (t) => h('span', { class: 'mono' }, t.port ? `${t.address}:${t.port}` : t.address) },
        { label: 'Transport', render: (t) => t.transport },
        { label: 'Credential', render: (t) => t.credential || '—' },
        { label: 'Tags', render: (t) => (t.tags || []).map((tag) => badge(tag, 'tag')) },
        { label: 'OS', render: (t) => t.os || '' },
        {
          label: 'Actions',
          render: (t) => h('div', { class: 'actions' },
            button('Test', (e) => testTarget(t, result, e.currentTarget), { 'aria-label': `Test ${t.name}` }),
            button('Delete', () => deleteTarget(t, reload), { class: 'danger', 'aria-label': `Delete ${t.name}` })),
        },
      ],
    }));
}

async function testTarget(t, box, btn) {
  if (btn) {
    btn.disabled = true;
    btn.textContent = 'Testing…';
  }
  mount(box, h('p', { class: 'notice' }, `Connecting to ${t.name}…`));
  try {
    const out = await post(`/api/ops/targets/${seg(t.id)}/test`);
    mount(box, testResult(t, out));
  } catch (err) {
    mount(box, errorBox(err));
  } finally {
    if (btn) {
      btn.disabled = false;
      btn.textContent = 'Test';
    }
  }
}

function testResult(t, out) {
  if (!out.ok) return h('div', { class: 'error' }, h('strong', null, `${t.name}: the test failed. `), out.error || '');
  return h('div', { class: 'notice' },
    h('p', { style: 'margin-top:0' }, badge('ok'), ` ${t.name} answered in ${out.latencyMs} ms.`),
    h('dl', { class: 'kv' },
      out.hostname ? [h('dt', null, 'Host name'), h('dd', null, out.hostname)] : null,
      out.os ? [h('dt', null, 'OS'), h('dd', null, [out.os, out.osRelease, out.kernel].filter(Boolean).join(' · '))] : null,
      out.hostKey ? [h('dt', null, 'Host key'), h('dd', { class: 'mono' }, out.hostKey)] : null));
}

async function deleteTarget(t, after) {
  if (!(await confirm(`Delete ${t.name}?`, 'Runbooks naming this target will fail to find it.'))) return;
  try {
    await del(`/api/ops/targets/${seg(t.id)}`);
    toast(`Target ${t.name} deleted.`);
    after();
  } catch (err) {
    failed(err);
  }
}

export async function targetPage(view, id) {
  const { ctx } = view;
  const t = await get(`/api/ops/targets/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  ctx.title(`${t.name} · Ops`);
  const result = h('div', { role: 'status', 'aria-live': 'polite' });
  const w = t.winrm || {};
  view.show(t.name, [
    button('Test', (e) => testTarget(t, result, e.currentTarget), { class: 'primary' }),
    button('Edit', () => targetDialog(t).then((saved) => saved && ctx.go(`#/ops/targets/${seg(saved.id)}`))),
    button('Delete', () => deleteTarget(t, () => ctx.go('#/ops/targets')), { class: 'danger' }),
  ], result, kvCard(
    h('dt', null, 'Address'), h('dd', { class: 'mono' }, t.address),
    h('dt', null, 'Port'), h('dd', null, t.port ? String(t.port) : 'default'),
    h('dt', null, 'Transport'), h('dd', null, t.transport),
    h('dt', null, 'Credential'), h('dd', null, t.credential ? h('a', { href: `#/vault/${seg(t.credential)}` }, t.credential) : '—'),
    h('dt', null, 'Host key'), h('dd', { class: 'mono' }, t.hostKey || (t.trustOnFirstUse ? 'pinned on first use' : '—')),
    h('dt', null, 'Tags'), h('dd', null, (t.tags || []).join(', ') || '—'),
    h('dt', null, 'OS'), h('dd', null, t.os || '—'),
    t.transport === 'winrm' ? [h('dt', null, 'WinRM'), h('dd', null, `${w.https ? 'HTTPS' : 'HTTP'}, ${w.auth || 'ntlm'}, ${w.shell || 'powershell'}${w.allowUnencrypted ? ', unencrypted allowed' : ''}${w.acceptInvalidCerts ? ', any certificate' : ''}`)] : null,
    h('dt', null, 'Description'), h('dd', null, t.description || '—'),
    h('dt', null, 'Created'), h('dd', null, time(t.created)),
    h('dt', null, 'Updated'), h('dd', null, time(t.updated))));
}

/** Creates (t = null) or edits a target in a dialog; resolves with the saved target. */
async function targetDialog(t) {
  const names = await secretNames();
  const v = t || { transport: 'ssh', tags: [], winrm: {} };
  const w = v.winrm || {};
  const f = {
    name: input({ name: 'name', required: true, value: v.name || '' }),
    address: input({ name: 'address', required: true, value: v.address || '', placeholder: 'web-1.internal' }),
    port: input({ type: 'number', name: 'port', min: 0, max: 65535, value: v.port ? String(v.port) : '' }),
    transport: select({ name: 'transport' }, [['ssh', 'SSH'], ['winrm', 'WinRM'], ['local', 'Local (this Keel host)']], v.transport),
    credential: input({ name: 'credential', value: v.credential || '', list: 'ops-target-secrets', autocomplete: 'off' }),
    tags: input({ name: 'tags', value: (v.tags || []).join(', '), placeholder: 'web, eu' }),
    hostKey: input({ name: 'hostKey', value: v.hostKey || '', placeholder: 'SHA256:…' }),
    tofu: h('input', { type: 'checkbox', name: 'trustOnFirstUse', checked: !!v.trustOnFirstUse }),
    os: input({ name: 'os', value: v.os || '', placeholder: 'linux' }),
    description: input({ name: 'description', value: v.description || '' }),
    https: h('input', { type: 'checkbox', name: 'https', checked: !!w.https }),
    auth: select({ name: 'auth' }, [['ntlm', 'NTLM'], ['basic', 'Basic']], w.auth || 'ntlm'),
    shell: select({ name: 'shell' }, [['powershell', 'PowerShell'], ['cmd', 'cmd']], w.shell || 'powershell'),
    unencrypted: h('input', { type: 'checkbox', name: 'allowUnencrypted', checked: !!w.allowUnencrypted }),
    invalidCerts: h('input', { type: 'checkbox', name: 'acceptInvalidCerts', checked: !!w.acceptInvalidCerts }),
  };
  const winrmBox = h('fieldset', null, h('legend', null, 'WinRM'),
    field('HTTPS', f.https), field('Authentication', f.auth), field('Shell', f.shell),
    field('Allow unencrypted HTTP (lab only)', f.unencrypted), field('Accept any certificate (lab only)', f.invalidCerts));
  const sshBox = h('div', null,
    field('Host key', f.hostKey, { hint: 'The SHA256 fingerprint to pin (ssh-keygen -lf on the host).' }),
    field('Trust the key on first use', f.tofu));
  const sync = () => {
    winrmBox.hidden = f.transport.value !== 'winrm';
    sshBox.hidden = f.transport.value !== 'ssh';
  };
  f.transport.addEventListener('change', sync);
  sync();
  return formDialog(t ? `Edit ${t.name}` : 'New target', () => [
    h('div', { class: 'grid2' }, field('Name', f.name), field('Address', f.address)),
    h('div', { class: 'grid2' }, field('Transport', f.transport), field('Port', f.port, { hint: 'Empty: 22 for SSH, 5986/5985 for WinRM.' })),
    field('Credential', f.credential, { hint: 'A vault secret\'s name (not needed for the local transport).' }),
    datalist('ops-target-secrets', names),
    field('Tags', f.tags, { hint: 'Comma-separated; steps can pick targets by tag.' }),
    sshBox, winrmBox,
    h('div', { class: 'grid2' }, field('OS', f.os), field('Description', f.description)),
  ], async () => {
    const body = {
      name: f.name.value.trim(),
      address: f.address.value.trim(),
      port: f.port.value === '' ? 0 : Number(f.port.value),
      transport: f.transport.value,
      credential: f.credential.value.trim(),
      tags: f.tags.value.split(',').map((s) => s.trim()).filter(Boolean),
      os: f.os.value.trim(),
      description: f.description.value,
    };
    if (body.transport === 'ssh') {
      body.hostKey = f.hostKey.value.trim();
      body.trustOnFirstUse = f.tofu.checked;
    }
    if (body.transport === 'winrm') {
      body.winrm = { https: f.https.checked, auth: f.auth.value, shell: f.shell.value, allowUnencrypted: f.unencrypted.checked, acceptInvalidCerts: f.invalidCerts.checked };
    }
    const saved = t ? await api('PATCH', `/api/ops/targets/${seg(t.id)}`, body) : await post('/api/ops/targets', body);
    toast(t ? `Target ${saved.name} saved.` : `Target ${saved.name} created.`);
    return saved;
  }, t ? 'Save' : 'Create');
}
