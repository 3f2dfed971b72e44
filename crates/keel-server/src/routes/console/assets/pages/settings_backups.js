// Settings, backups: the list (download, restore, delete), create, upload, and the schedule
// and S3 storage of backups.

import { get, post, del, seg } from '../api.js';
import { h, mount, field, input, button, table, toast, errorBox, failed, dialog, formDialog, confirm, time, loading } from '../ui.js';
import { settingsForm, fieldset, s3Fields, testS3 } from './settings_common.js';

function size(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}

export async function backups(ctx, body, s) {
  const b = s.backups || {};
  const list = h('div', null, loading());
  const upload = h('input', { type: 'file', name: 'file', accept: '.zip,application/zip' });
  const uploadForm = h('form', { class: 'toolbar' },
    field('Backup file (.zip)', upload),
    h('button', { type: 'submit' }, 'Upload backup'));
  uploadForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = upload.files[0];
    if (!file) {
      toast('Choose a .zip file first.', 'error');
      return;
    }
    const btn = uploadForm.querySelector('button[type=submit]');
    btn.disabled = true;
    const fd = new FormData();
    fd.append('file', file);
    try {
      await post('/api/backups/upload', fd);
      toast(`${file.name} uploaded.`);
      upload.value = '';
      await load();
    } catch (err) {
      failed(err);
    } finally {
      btn.disabled = false;
    }
  });
  const s3Out = h('div');
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow' }, 'A backup is a zip of data.db, jobs.db and the uploaded files (never the vault key). Restoring replaces the data and restarts Keel.'),
      button('Create backup', () => createBackup(load), { class: 'primary' }),
      button('Refresh', () => load())),
    list,
    uploadForm,
    h('h2', null, 'Schedule and storage'),
    settingsForm((f) => [
      fieldset('Scheduled backups',
        h('div', { class: 'grid2' },
          f.text('backups.cron', 'Schedule (cron, UTC)', b.cron, { hint: 'e.g. 0 3 * * * or @daily; empty turns scheduled backups off.' }),
          f.number('backups.cronMaxKeep', 'Scheduled backups to keep', b.cronMaxKeep, { props: { min: 1 }, hint: 'Older scheduled ones are deleted; backups made by hand never are.' }))),
      fieldset('Store backups on S3', s3Fields(f, 'backups.s3', b.s3)),
    ], { extra: [testS3('backups', s3Out)] }),
    s3Out);

  async function load() {
    try {
      const items = await get('/api/backups');
      if (!ctx.isCurrent()) return;
      items.sort((x, y) => String(y.modified).localeCompare(String(x.modified)));
      mount(list, table({
        caption: 'Backups',
        columns: [
          { label: 'Name', render: (x) => h('span', { class: 'mono' }, x.key) },
          { label: 'Size', class: 'num', render: (x) => size(x.size) },
          { label: 'Modified', render: (x) => time(x.modified) },
          { label: 'Actions', render: (x) => h('div', { class: 'actions' },
            button('Download', () => download(x.key), { 'aria-label': `Download ${x.key}` }),
            button('Restore', () => restore(x.key), { 'aria-label': `Restore ${x.key}` }),
            button('Delete', () => remove(x.key), { class: 'danger', 'aria-label': `Delete ${x.key}` })) },
        ],
        rows: items,
        empty: 'No backup yet.',
      }));
    } catch (err) {
      if (ctx.isCurrent()) mount(list, errorBox(err));
    }
  }

  async function remove(key) {
    if (!await confirm(`Delete ${key}?`, 'The backup file is deleted for good.')) return;
    try {
      await del(`/api/backups/${seg(key)}`);
      toast(`${key} deleted.`);
      await load();
    } catch (err) {
      failed(err);
    }
  }

  await load();
}

async function createBackup(reload) {
  const name = input({ name: 'name', autocomplete: 'off', placeholder: 'pb_backup_app_20250101000000.zip' });
  const made = await formDialog('Create a backup', () => h('div', null,
    field('Name', name, { hint: 'Optional: lowercase letters, digits, _ and -, ending in .zip. Empty: named after the app and the time.' }),
    h('p', { class: 'small muted' }, 'The server keeps serving while the backup is made; this can take a while for a large data dir.')), async () => {
    const n = name.value.trim();
    await post('/api/backups', n ? { name: n } : {});
    return n || 'The backup';
  }, 'Create backup');
  if (!made) return;
  toast(`${made} was created.`);
  await reload();
}

/** Downloads with a short-lived file token (`?token=`), which is how backups are authorised. */
async function download(key) {
  try {
    const { token } = await post('/api/files/token');
    const a = h('a', { href: `/api/backups/${seg(key)}?token=${encodeURIComponent(token)}`, download: key, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    failed(err);
  }
}

/** Restore: the backup's name must be typed to confirm; then Keel restarts into it. */
async function restore(key) {
  const ok = await dialog(`Restore ${key}?`, (close) => {
    const typed = input({ name: 'confirm', autocomplete: 'off', spellcheck: 'false' });
    const go = button('Restore and restart', () => close(true), { class: 'danger', disabled: true });
    typed.addEventListener('input', () => {
      go.disabled = typed.value.trim() !== key;
    });
    return h('div', null,
      h('div', { class: 'error', role: 'alert' }, h('strong', null, 'This replaces every record, collection, setting, user, job and uploaded file with the backup\'s. '),
        'Everything written since the backup was made is lost, and Keel restarts (clients reconnect). Create a backup of the current data first if you may need it.'),
      field(`Type ${key} to confirm`, typed),
      h('div', { class: 'actions end' }, button('Cancel', () => close(false)), go));
  });
  if (ok !== true) return;
  try {
    await post(`/api/backups/${seg(key)}/restore`);
  } catch (err) {
    failed(err);
    return;
  }
  const status = h('p', { role: 'status' }, `The backup ${key} was unpacked and checked; Keel is restarting into it. This page reloads once Keel answers again.`);
  dialog('Restoring…', () => status);
  if (await waitForRestart()) {
    location.reload();
  } else {
    status.textContent = 'Keel has not answered for two minutes. Check the server and its log (a restart it could not make is logged there, and the next start finishes the restore), then reload this page.';
  }
}

/**
 * Waits for Keel to go down and come back after a restore (or to answer for 6 s without
 * going down: the restart was quicker than a poll; the old process stops accepting at once). False when it stays away two minutes.
 */
async function waitForRestart() {
  let wentDown = false;
  const end = Date.now() + 120_000;
  for (let i = 0; Date.now() < end; i++) {
    await new Promise((r) => setTimeout(r, 500));
    let up = false;
    try {
      up = (await fetch('/api/health', { cache: 'no-store' })).ok;
    } catch {
      up = false;
    }
    if (!up) wentDown = true;
    else if (wentDown || i >= 12) return true;
  }
  return false;
}
