// The Ops, Vault, Webhooks and Notifications pages: a runbook launched from its Run form and
// followed live to `succeeded`; a vault secret created in the console whose value shows only
// after Reveal; a webhook endpoint with its deliveries; a template previewed and a
// notification sent. Keel runs with KEEL_OPS__SHELL_EXEC=true (shell.exec steps allowed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { URL, open, signIn, api, unique, screenshot } from './lib.mjs';

test('a runbook runs from its form and its log is followed live', async () => {
  const { page, done } = await open();
  await signIn(page);
  const name = unique('greet');
  const who = unique('tester');
  await api('POST', '/api/ops/runbooks', {
    name,
    description: 'Says hello a few times',
    parameters: { type: 'object', required: ['who'], properties: { who: { type: 'string', description: 'Whom to greet' } } },
    // shell.exec runs on the Keel host itself: no target.
    steps: [{ id: 'hello', type: 'shell.exec', command: 'for i in 1 2 3; do echo "hello {{ who }} $i"; sleep 0.3; done' }],
  });

  await page.goto(`${URL}/_/#/ops/runbooks`);
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, exact: true }).waitFor();
  await page.getByRole('cell', { name: 'shell.exec', exact: true }).waitFor();
  await page.getByLabel('who').fill(who);
  await page.getByRole('button', { name: 'Run', exact: true }).click();

  await page.waitForURL(/#\/ops\/runs\/[a-z0-9]+$/);
  const log = page.getByRole('log', { name: 'Run log' });
  for (const i of [1, 2, 3]) await log.getByText(`hello ${who} ${i}`).waitFor();
  await page.getByRole('status', { name: 'Run state' }).filter({ hasText: 'succeeded' }).waitFor();
  // Each line once, in order, even when pages of the log and live messages overlap.
  const text = await log.textContent();
  assert.deepEqual(text.match(new RegExp(`hello ${who} \\d`, 'g')), [1, 2, 3].map((i) => `hello ${who} ${i}`));
  await page.getByRole('cell', { name: 'succeeded' }).first().waitFor();
  await screenshot(page, 'ops-run');

  // The run is in the list, and the runbooks list shows the runbook.
  await page.getByRole('link', { name: 'Runs', exact: true }).click();
  await page.getByRole('row', { name: new RegExp(`of ${name}, succeeded`) }).waitFor();
  await page.getByRole('link', { name: 'Runbooks', exact: true }).click();
  await page.getByRole('link', { name, exact: true }).waitFor();
  await screenshot(page, 'ops-runbooks');
  await done();
});

test('a vault secret shows its value only after Reveal', async () => {
  const { page, done } = await open();
  await signIn(page);
  const name = unique('api-token');
  const value = unique('s3cret-value');
  await page.goto(`${URL}/_/#/vault`);
  await page.getByRole('button', { name: 'New secret' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Type').selectOption('token');
  await page.getByLabel('Data (JSON)').fill(JSON.stringify({ token: value }));
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name, exact: true }).waitFor();

  const inPage = () => page.evaluate((v) => document.documentElement.outerHTML.includes(v)
    || [...document.querySelectorAll('input, textarea')].some((e) => e.value.includes(v)), value);
  assert.equal(await inPage(), false, 'the value is not in the page before Reveal');

  await page.getByRole('button', { name: 'Reveal' }).click();
  await page.getByText(value).waitFor();
  await screenshot(page, 'vault');
  await page.getByRole('button', { name: 'Hide' }).click();
  await page.getByText(value).waitFor({ state: 'detached' });
  assert.equal(await inPage(), false, 'the value is gone once hidden');

  await page.getByRole('link', { name: '← Vault' }).click();
  await page.getByRole('link', { name, exact: true }).waitFor();
  await done();
});

test('a webhook endpoint is created, tested, and shows its deliveries', async () => {
  const { page, done } = await open();
  await signIn(page);
  // `.invalid` never resolves (RFC 6761) yet passes the outbound guard: deliveries fail fast.
  const url = `https://hooks.invalid/${unique('keel')}`;
  await page.goto(`${URL}/_/#/webhooks`);
  await page.getByRole('button', { name: 'New endpoint' }).click();
  await page.getByLabel('URL', { exact: true }).fill(url);
  await page.getByLabel('run.failed', { exact: true }).check();
  await page.getByLabel('Description').fill('console test');
  await page.getByRole('button', { name: 'Create' }).click();

  const secret = page.getByRole('textbox', { name: 'Signing secret' });
  await secret.waitFor();
  assert.match(await secret.inputValue(), /^whsec_/);
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('heading', { name: 'Endpoint' }).waitFor();
  await page.getByText(url).waitFor();

  await page.getByRole('button', { name: 'Send test' }).click();
  await page.getByRole('row', { name: /webhook\.test, failed/ }).first().waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: /^Redeliver webhook\.test/ }).first().waitFor();
  await screenshot(page, 'webhooks');

  await page.getByRole('button', { name: 'Disable' }).click();
  await page.getByRole('button', { name: 'Enable' }).waitFor();
  await page.getByRole('link', { name: '← Webhooks' }).click();
  await page.getByRole('link', { name: url }).waitFor();
  await done();
});

test('a notification template previews, and a notification is sent and listed', async () => {
  const { page, done } = await open();
  await signIn(page);
  const tpl = unique('hello');
  await page.goto(`${URL}/_/#/notifications/templates`);
  await page.getByRole('button', { name: 'New template' }).click();
  await page.getByLabel('Name').fill(tpl);
  await page.getByLabel('Subject').fill('Hi {{ name }}');
  await page.getByLabel('Text', { exact: true }).fill('Welcome, {{ name }}!');
  await page.getByLabel('Preview data (JSON)').fill('{"name": "Ann"}');
  await page.getByRole('button', { name: 'Preview', exact: true }).click();
  await page.getByText('Welcome, Ann!').waitFor();
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('cell', { name: tpl, exact: true }).waitFor();

  const subject = unique('Deploy');
  await page.getByRole('link', { name: 'History' }).click();
  await page.getByRole('button', { name: 'Send notification' }).click();
  await page.getByLabel('Email addresses').fill('ann@example.com');
  await page.getByLabel('Subject').fill(subject);
  await page.getByLabel('Body').fill('It is live.');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByRole('row', { name: new RegExp(subject) }).click();
  await page.getByRole('dialog').getByRole('cell', { name: 'email', exact: true }).waitFor();
  await done();
});
