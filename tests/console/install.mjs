// Run by crates/keel/tests/console_browser.rs against a Keel with no superuser: the one-time
// link it printed (KEEL_INSTALL_URL) makes the first superuser in the browser, which lands on
// the overview signed in; the link then no longer works.

import assert from 'node:assert/strict';
import { open, URL } from './lib.mjs';

const link = process.env.KEEL_INSTALL_URL;
assert.ok(link && link.includes('/_/#/install/'), `no install link: ${link}`);
const s = await open();
const { page } = s;
await page.goto(link);
await page.getByRole('heading', { name: 'Welcome to Keel' }).waitFor();
await page.getByLabel('Email').fill('first@example.com');
await page.getByLabel('Password', { exact: true }).fill('a-long-password');
await page.getByLabel('Repeat the password').fill('a-long-password');
await page.getByRole('button', { name: 'Create superuser and sign in' }).click();
await page.getByRole('navigation', { name: 'Main' }).getByText('first@example.com').waitFor();
await page.getByRole('heading', { name: 'Overview' }).waitFor();

// Used once: the same link now says so.
const again = await open();
again.expect(/\/api\/install 403/);
await again.page.goto(link);
await again.page.getByLabel('Email').fill('second@example.com');
await again.page.getByLabel('Password', { exact: true }).fill('a-long-password');
await again.page.getByLabel('Repeat the password').fill('a-long-password');
await again.page.getByRole('button', { name: 'Create superuser and sign in' }).click();
await again.page.getByText('This install link is not valid').waitFor();
await again.done();
await s.done();
console.log(`DONE ${URL}`);
process.exit(0);
