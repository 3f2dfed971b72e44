// Shared by the console's browser tests: a Chromium page that fails the test on any console
// error, uncaught exception or failed request it was not told to expect; sign-in; the API as a
// superuser (for setting up and checking what the console did); screenshots.
//
// The Rust test `crates/keel/tests/console_browser.rs` starts Keel and a superuser, then runs
// `node --test` here with KEEL_URL, KEEL_SUPERUSER_EMAIL and KEEL_SUPERUSER_PASSWORD.

import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const URL = process.env.KEEL_URL || 'http://127.0.0.1:8090';
export const EMAIL = process.env.KEEL_SUPERUSER_EMAIL || 'admin@example.com';
export const PASSWORD = process.env.KEEL_SUPERUSER_PASSWORD || 'a-long-password';
const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = process.env.CONSOLE_SCREENSHOTS || join(HERE, '..', '..', 'target', 'console-screenshots');

let browser = null;
// Registered when the file loads, so it belongs to the whole file, not to the test that first
// opened a page.
after(async () => {
  if (browser) await browser.close();
});
async function theBrowser() {
  if (!browser) {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox'],
    });
  }
  return browser;
}

/**
 * A fresh page (own cookies and storage). Every console error, page exception, failed request
 * or 4xx/5xx answer fails the test at `done()` unless `expect(pattern)` allowed it first.
 */
export async function open(options = {}) {
  const context = await (await theBrowser()).newContext({ viewport: { width: 1360, height: 900 }, colorScheme: options.colorScheme || 'light' });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  const allowed = [];
  const isAllowed = (text) => allowed.some((re) => re.test(text));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // Chromium logs each 4xx/5xx answer as "Failed to load resource: … status of 400": match
    // it as "URL STATUS", like the answer itself.
    const status = /status of (\d{3})/.exec(msg.text());
    const what = status ? `${msg.location().url || ''} ${status[1]}` : `${msg.text()} ${msg.location().url || ''}`;
    if (!isAllowed(what)) problems.push(`console error: ${msg.text()} (${msg.location().url || 'no url'})`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('requestfailed', (req) => {
    const what = `${req.method()} ${req.url()}`;
    const why = req.failure() ? req.failure().errorText : '';
    // A stream or upload the page itself ended (navigating away) is not a failure.
    if (why === 'net::ERR_ABORTED') return;
    if (!isAllowed(what)) problems.push(`request failed: ${what} ${why}`);
  });
  page.on('response', (res) => {
    const what = `${res.request().method()} ${res.url()} ${res.status()}`;
    if (res.status() >= 400 && !isAllowed(what)) problems.push(`answer: ${what}`);
  });
  return {
    page,
    context,
    /** Allows console errors and failed requests matching `re` (a 4xx the test provokes). */
    expect(re) {
      allowed.push(re);
    },
    /** Fails if anything went wrong in the page; closes it. */
    async done() {
      await context.close();
      assert.deepEqual(problems, [], `the page had problems:\n${problems.join('\n')}`);
    },
  };
}

/** The link `name` of the main navigation. */
export const navLink = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

/**
 * Waits until the page's live updates are subscribed (the sidebar says "Live"): a write made
 * after this reaches the page.
 */
export const waitLive = (page) => page.getByRole('navigation', { name: 'Main' }).getByText('Live', { exact: true }).waitFor();

/** Signs in through the sign-in page and waits for the console's navigation. */
export async function signIn(page, { email = EMAIL, password = PASSWORD, collection } = {}) {
  await page.goto(`${URL}/_/#/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  if (collection) {
    await page.getByText('Sign in as a user of another collection').click();
    await page.getByLabel('Auth collection').fill(collection);
  }
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

let superToken = null;
/** Calls Keel's API as the superuser (setup and checks beside the page). */
export async function api(method, path, body) {
  if (!superToken) {
    const out = await call('POST', '/api/collections/_superusers/auth-with-password', { identity: EMAIL, password: PASSWORD });
    superToken = out.token;
  }
  return call(method, path, body, superToken);
}

/** One request; throws with the answer on a non-2xx status. */
export async function call(method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${URL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return json;
}

/** A name no other test uses (tests run side by side on one Keel). */
export const unique = (prefix) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** Saves a screenshot of the page as `NAME.png` (docs/console.md shows them). */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}
