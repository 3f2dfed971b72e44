// Collections and records in the console: sign-in (and the TOTP step), a collection made with
// fields and a rule checked as it is typed, records created, edited (with a file upload) and
// deleted, a record written by another client appearing live, bulk delete.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { open, signIn, api, call, unique, screenshot, navLink, waitLive, URL } from './lib.mjs';

// A 2x2 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');

test('a collection with fields and a rule, its records created, edited, deleted and seen live', async () => {
  const s = await open();
  const { page } = s;
  await page.goto(`${URL}/_/`);
  await page.getByRole('heading', { name: 'Sign in to Keel' }).waitFor();
  await screenshot(page, 'login');
  await signIn(page);
  await page.getByRole('region', { name: 'Collections' }).getByText(/^\d+$/).waitFor();
  await screenshot(page, 'overview');

  // A collection with four fields and a list rule, the rule checked by the server as typed.
  const name = unique('posts');
  // The editor asks the server to check the rules as they are typed: a half-typed rule (or a
  // field not named yet) answers 400, which the page shows next to the rule.
  s.expect(/\/api\/changes\/classify 400/);
  await navLink(page, 'Collections').click();
  await page.getByRole('link', { name: 'New collection' }).click();
  await page.getByLabel('Name', { exact: true }).first().fill(name);
  const addField = async (fieldName, type, required) => {
    await page.getByRole('button', { name: 'Add field' }).click();
    const row = page.getByRole('group').filter({ has: page.locator('legend', { hasText: /^Field \d+$/ }) }).last();
    await row.getByLabel('Name').fill(fieldName);
    await row.getByLabel('Type').selectOption(type);
    if (required) await row.getByLabel('Required').check();
  };
  await addField('title', 'text', true);
  await addField('cover', 'file', false);
  await addField('published', 'bool', false);
  await addField('meta', 'json', false);
  await page.getByLabel('Lock the list/search rule (superusers only)').uncheck();
  await page.getByLabel('List/search rule', { exact: true }).fill('published = ');
  await page.getByText(/Invalid filter/).waitFor();
  await page.getByLabel('List/search rule', { exact: true }).fill('published = true');
  await page.getByText('Valid.').first().waitFor();
  await page.getByLabel('Lock the view rule (superusers only)').uncheck();
  await screenshot(page, 'collection-form');
  await page.getByRole('button', { name: 'Create collection' }).click();
  await page.getByRole('heading', { name }).waitFor();
  const made = await api('GET', `/api/collections/${name}`);
  assert.equal(made.listRule, 'published = true');
  assert.equal(made.viewRule, '');
  assert.equal(made.createRule, null);
  assert.deepEqual(made.fields.map((f) => f.name).slice(1, 5), ['title', 'cover', 'published', 'meta']);
  assert.equal(made.fields.find((f) => f.name === 'title').required, true);

  // A record with a file, through the form.
  await page.getByRole('link', { name: 'New record' }).click();
  await page.getByLabel('title').fill('First post');
  await page.getByLabel('published').check();
  await page.getByLabel('meta').fill('{"tags": ["a", "b"]}');
  await page.getByLabel('Upload cover').setInputFiles({ name: 'cover.png', mimeType: 'image/png', buffer: PNG });
  await page.getByRole('img', { name: 'Preview of cover.png' }).waitFor();
  await page.getByRole('button', { name: 'Create record' }).click();
  await page.getByRole('cell', { name: 'First post' }).waitFor();
  const [first] = (await api('GET', `/api/collections/${name}/records`)).items;
  assert.equal(first.title, 'First post');
  assert.equal(first.published, true);
  assert.deepEqual(first.meta, { tags: ['a', 'b'] });
  assert.match(first.cover, /^cover_\w+\.png$/);

  // Editing it: the stored file has a thumbnail; the title changes.
  await page.getByRole('cell', { name: 'First post' }).click();
  await page.getByRole('img', { name: first.cover }).waitFor();
  await page.getByLabel('title').fill('First post, edited');
  await screenshot(page, 'record-form');
  await page.getByRole('button', { name: 'Save record' }).click();
  await page.getByRole('cell', { name: 'First post, edited' }).waitFor();

  // Another client writes: the row appears without a reload.
  await waitLive(page);
  await api('POST', `/api/collections/${name}/records`, { title: 'Written elsewhere', published: true });
  await page.getByRole('cell', { name: 'Written elsewhere' }).waitFor();
  await screenshot(page, 'records');

  // Filter, then sort by a column.
  await page.getByLabel('Filter').fill('title ~ "elsewhere"');
  await page.getByRole('button', { name: 'Apply filter' }).click();
  await page.getByRole('cell', { name: 'First post, edited' }).waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'Written elsewhere' }).waitFor();
  await page.getByLabel('Filter').fill('');
  await page.getByRole('button', { name: 'Apply filter' }).click();
  await page.getByRole('button', { name: 'Sort by title' }).click();
  await page.waitForFunction(() => [...document.querySelectorAll('tbody tr')].length === 2);
  const titles = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.children[2].textContent));
  assert.deepEqual(titles, ['First post, edited', 'Written elsewhere']);

  // Delete one from its page, then the rest in bulk.
  await page.getByRole('cell', { name: 'First post, edited' }).click();
  await page.getByRole('button', { name: 'Delete record' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('cell', { name: 'First post, edited' }).waitFor({ state: 'detached' });
  await waitLive(page);
  await api('POST', `/api/collections/${name}/records`, { title: 'Third' });
  await page.getByRole('cell', { name: 'Third' }).waitFor();
  await page.getByLabel('Select all records on this page').check();
  await page.getByRole('button', { name: 'Delete selected (2)' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByText('No records yet.').waitFor();
  assert.equal((await api('GET', `/api/collections/${name}/records`)).items.length, 0);

  // Renaming a field says what it breaks before it is saved.
  await page.getByRole('link', { name: 'Edit collection' }).click();
  const row = page.getByRole('group', { name: 'Field 2' });
  await row.getByLabel('Name').fill('headline');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('dialog').getByText('Field “title” is renamed to “headline”', { exact: false }).waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Save changes' }).click();
  await page.getByText(`Collection ${name} saved.`).waitFor();
  const renamed = await api('GET', `/api/collections/${name}`);
  assert.equal(renamed.fields[1].name, 'headline');
  assert.equal(renamed.fields[1].id, made.fields[1].id);
  await s.done();
});

/** The RFC 6238 code of a base32 secret, `steps` 30-second steps from now. */
function totp(secret, steps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + steps));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

test('a user with TOTP signs in with the second step and sees only what a user may', async () => {
  const email = `${unique('ada')}@example.com`;
  const password = 'a-long-password-1';
  await api('POST', '/api/collections/users/records', { email, password, passwordConfirm: password });
  const { token } = await call('POST', '/api/collections/users/auth-with-password', { identity: email, password });
  const { secret } = await call('POST', '/api/collections/users/totp/setup', undefined, token);
  // Enrolled with the previous step's code (accepted: one step either side), so the sign-in's
  // code of this step is later than the last one used (a code is never accepted twice).
  await call('POST', '/api/collections/users/totp/confirm', { code: totp(secret, -1) }, token);

  const s = await open();
  const { page } = s;
  // The password step answers 401 with the MFA session; the user's cards answer 403.
  s.expect(/auth-with-password 401/);
  s.expect(/ 403$/);
  await page.goto(`${URL}/_/#/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByText('Sign in as a user of another collection').click();
  await page.getByLabel('Auth collection').fill('users');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await screenshot(page, 'login-totp');
  await page.getByLabel('Authentication code').fill(totp(secret));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('navigation', { name: 'Main' }).getByText(email).waitFor();
  await page.getByRole('region', { name: 'Jobs' }).getByText('Your account may not see this.').waitFor();

  // Signing out ends the session in this browser.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to Keel' }).waitFor();
  await page.goto(`${URL}/_/#/collections`);
  await page.getByRole('heading', { name: 'Sign in to Keel' }).waitFor();
  await s.done();
});

test('a view collection lists its rows and shows one read-only', async () => {
  const base = unique('src');
  const view = unique('v');
  await api('POST', '/api/collections', { name: base, type: 'base', fields: [{ name: 'title', type: 'text' }], listRule: '', viewRule: '' });
  await api('POST', `/api/collections/${base}/records`, { title: 'seen through the view' });
  await api('POST', '/api/collections', { name: view, type: 'view', viewQuery: `SELECT id, title FROM ${base}`, listRule: '', viewRule: '' });
  const s = await open();
  const { page } = s;
  await signIn(page);
  await page.goto(`${URL}/_/#/collections/${view}`);
  await page.getByRole('cell', { name: 'seen through the view' }).click();
  await page.getByText('A view\'s rows are read-only.').waitFor();
  assert.equal(await page.getByLabel('title').isDisabled(), true);
  assert.equal(await page.getByRole('button', { name: 'Save record' }).count(), 0);
  await s.done();
});

test('the console works from the keyboard, and in a dark theme', async () => {
  const name = unique('kb');
  await api('POST', '/api/collections', { name, type: 'base', fields: [{ name: 'title', type: 'text' }] });
  await api('POST', `/api/collections/${name}/records`, { title: 'reached by keyboard' });
  const s = await open({ colorScheme: 'dark' });
  const { page } = s;
  await signIn(page);
  await page.getByRole('region', { name: 'Collections' }).getByText(/^\d+$/).waitFor();
  // The skip link comes first in the tab order and moves the focus to the page's content.
  const skip = page.getByRole('link', { name: 'Skip to content' });
  const first = await page.evaluate(() => document.querySelector('a[href], button, input, select, textarea, [tabindex="0"]').textContent);
  assert.equal(first, 'Skip to content');
  await skip.focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  // A collection's row, then a record's row, open with Enter.
  await navLink(page, 'Collections').click();
  await page.getByRole('row', { name: `Collection ${name}` }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name }).waitFor();
  const row = page.getByRole('row').filter({ hasText: 'reached by keyboard' });
  await row.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('button', { name: 'Save record' }).waitFor();
  // The focused control is outlined.
  await page.getByLabel('title').focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  const outline = await page.getByLabel('title').evaluate((el) => getComputedStyle(el).outlineStyle);
  assert.notEqual(outline, 'none');
  // Dark: the page background follows the system's setting.
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(15, 18, 23)');
  await screenshot(page, 'record-form-dark');
  await s.done();
});
