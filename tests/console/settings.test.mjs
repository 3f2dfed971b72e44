// The Settings, Identity and Logs pages: a setting saved (and a field error shown), a backup
// made, a role with two permissions and an API key whose one-time secret works against the
// API, the request logs filtered to that call, and the audit trail showing the role's creation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, signIn, api, call, unique, screenshot, URL } from './lib.mjs';

/** Polls `check` until it holds (a condition the server reaches on its own, e.g. a log row). */
async function until(check, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('settings, backups, roles, API keys, request logs and the audit trail', async () => {
  const { page, expect, done } = await open();
  const before = await api('GET', '/api/settings');
  const appName = unique('Console app');
  const backup = `${unique('console')}.zip`;
  const role = unique('role');
  const keyName = unique('key');
  try {
    await signIn(page);

    // Settings: the application name is saved (only the meta and logs sections are sent).
    await page.goto(`${URL}/_/#/settings`);
    await page.getByLabel('Application name').fill(appName);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Settings saved.').waitFor();
    assert.equal((await api('GET', '/api/settings')).meta.appName, appName);
    await screenshot(page, 'settings');

    // A field error from the API is shown beside its field.
    expect(/\/api\/settings 400$/);
    await page.getByLabel('Application name').fill('');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Cannot be blank.').waitFor();
    assert.equal(await page.getByLabel('Application name').getAttribute('aria-invalid'), 'true');
    assert.equal((await api('GET', '/api/settings')).meta.appName, appName);

    // Backups: one made from the console is listed.
    await page.goto(`${URL}/_/#/settings/backups`);
    await page.getByRole('button', { name: 'Create backup' }).click();
    const create = page.getByRole('dialog', { name: 'Create a backup' });
    await create.getByLabel('Name').fill(backup);
    await create.getByRole('button', { name: 'Create backup' }).click();
    await page.getByRole('cell', { name: backup, exact: true }).waitFor({ timeout: 60_000 });
    assert.ok((await api('GET', '/api/backups')).some((b) => b.key === backup));
    await page.getByRole('button', { name: `Restore ${backup}` }).waitFor();

    // A role with two permissions.
    await page.goto(`${URL}/_/#/identity/roles`);
    await page.getByRole('button', { name: 'New role' }).click();
    const roleDialog = page.getByRole('dialog', { name: 'New role' });
    await roleDialog.getByLabel('Name').fill(role);
    await roleDialog.getByLabel('Description').fill('Reads roles and the audit trail');
    await roleDialog.getByLabel('roles:read', { exact: true }).check();
    await roleDialog.getByLabel('audit:read', { exact: true }).check();
    await roleDialog.getByRole('button', { name: 'Create role' }).click();
    await page.getByRole('row', { name: `Role ${role}` }).waitFor();
    const saved = await api('GET', `/api/roles/${role}`);
    assert.deepEqual([...saved.permissions].sort(), ['audit:read', 'roles:read']);
    await screenshot(page, 'identity-roles');

    // An API key holding it: its secret is shown once and works against the API.
    await page.goto(`${URL}/_/#/identity/apikeys`);
    await page.getByRole('button', { name: 'New API key' }).click();
    const keyDialog = page.getByRole('dialog', { name: 'New API key' });
    await keyDialog.getByLabel('Name').fill(keyName);
    await keyDialog.getByLabel(role, { exact: true }).check();
    await keyDialog.getByRole('button', { name: 'Create key' }).click();
    const secretDialog = page.getByRole('dialog', { name: /API key created/ });
    await secretDialog.getByText('This secret will not be shown again.').waitFor();
    const secret = await secretDialog.getByLabel('Secret').inputValue();
    assert.match(secret, /^keel_[a-z0-9]+_\S+$/);
    await secretDialog.getByRole('button', { name: 'Copy' }).click();
    await secretDialog.getByText(/Copied to the clipboard|press Ctrl\+C/).waitFor();
    await secretDialog.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('row', { name: `API key ${keyName}` }).waitFor();
    await screenshot(page, 'identity-apikeys');

    const roles = await call('GET', '/api/roles', undefined, secret);
    assert.ok(roles.items.some((r) => r.name === role));
    const one = await call('GET', `/api/roles/${role}`, undefined, `Bearer ${secret}`);
    assert.equal(one.name, role);

    // The request logs, filtered to that call.
    const filter = `data.url = "/api/roles/${role}" && data.auth = "_apiKeys"`;
    await until(async () => (await api('GET', `/api/logs?perPage=1&skipTotal=1&filter=${encodeURIComponent(filter)}`)).items.length > 0, 'the request log row');
    await page.goto(`${URL}/_/#/logs`);
    await page.getByRole('img', { name: /Requests per hour/ }).waitFor();
    await page.getByRole('textbox', { name: 'Filter', exact: true }).fill(filter);
    await page.getByRole('button', { name: 'Apply' }).click();
    const logs = page.getByRole('table', { name: 'Request logs' });
    const logRow = logs.getByRole('row', { name: `GET /api/roles/${role} 200` });
    await logRow.waitFor();
    assert.equal(await logs.getByRole('row').count(), 2, 'the header and the one matching request');
    await screenshot(page, 'logs');
    await logRow.click();
    await page.getByRole('heading', { name: 'Request log' }).waitFor();
    await page.getByText('_apiKeys', { exact: true }).waitFor();

    // The audit trail shows the role's creation, with its data.
    await page.goto(`${URL}/_/#/identity/audit`);
    await page.getByRole('textbox', { name: 'Filter', exact: true }).fill(`event = "role.create" && details.role = "${role}"`);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('row', { name: /role\.create/ }).waitFor();
    await page.getByRole('button', { name: /^Show the data of entry/ }).click();
    const data = page.getByLabel(/^Data of entry/);
    await data.waitFor();
    const text = await data.textContent();
    assert.ok(text.includes(role) && text.includes('roles:read') && text.includes('audit:read'), text);
    await screenshot(page, 'audit');
  } finally {
    await api('PATCH', '/api/settings', { meta: { appName: before.meta.appName } }).catch(() => {});
    const keys = await api('GET', '/api/apikeys').catch(() => ({ items: [] }));
    for (const k of keys.items.filter((x) => x.name === keyName)) await api('DELETE', `/api/apikeys/${k.id}`).catch(() => {});
    await api('DELETE', `/api/roles/${role}`).catch(() => {});
    await api('DELETE', `/api/backups/${backup}`).catch(() => {});
  }
  await done();
});
