// Run by crates/keel/tests/console_browser.rs, which restarts Keel in the middle: a records
// page that was live goes offline with the server and comes back live by itself, and a record
// written after the restart appears without a reload.
//
// Protocol: prints READY once the page is live, then waits for a line on stdin (Keel has been
// restarted on the same address), then finishes.

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { open, signIn, api, unique, waitLive, URL } from './lib.mjs';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const s = await open();
const { page } = s;
// While Keel is down the stream's reconnection attempts fail: expected.
s.expect(/\/api\/realtime/);
await signIn(page);
const name = unique('live');
await api('POST', '/api/collections', { name, type: 'base', fields: [{ name: 'title', type: 'text' }] });
await page.goto(`${URL}/_/#/collections/${name}`);
await waitLive(page);
// Notes whether the live indicator ever says the connection was lost.
await page.evaluate(() => {
  const badge = document.querySelector('[aria-label="Live updates"]');
  new MutationObserver(() => {
    if (badge.textContent.startsWith('Offline')) window.sawOffline = true;
  }).observe(badge, { childList: true, characterData: true, subtree: true });
});
console.log('READY');
const next = await lines.next();
assert.equal(next.done, false, 'stdin closed before Keel was restarted');
await page.waitForFunction(() => window.sawOffline === true);
await waitLive(page);
await api('POST', `/api/collections/${name}/records`, { title: 'after the restart' });
await page.getByRole('cell', { name: 'after the restart' }).waitFor();
await s.done();
console.log('DONE');
process.exit(0);
