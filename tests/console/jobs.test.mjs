// The console's jobs and schedules pages: a job enqueued through the console form, worked by
// a "remote worker" (the superuser over the API) while its page follows progress and
// completion live; a dead job retried from its page and with "Retry all dead"; a queue paused,
// resumed and given a concurrency; the overview's live throughput; a schedule created from
// the console, its next fire times, "Trigger now", pause, edit and delete.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, signIn, api, unique, screenshot, URL } from './lib.mjs';

const COMPLETED = /: (\d+) completed/;
const completedIn = (label) => Number(COMPLETED.exec(label)[1]);
const realtimePost = (page) => page.waitForResponse((r) => r.url().endsWith('/api/realtime') && r.request().method() === 'POST' && r.ok());

/** Waits until the job page's state (a live status region) reads `state`. */
async function jobState(page, state) {
  await page.getByRole('status', { name: 'Job state' }).getByText(state, { exact: true }).waitFor();
}

/** A job of `queue` (claimed first: give it the highest `priority` there) made dead by a worker failing it with `retry: false`. */
async function deadJob(queue, name, priority) {
  const job = await api('POST', `/api/queues/${queue}/jobs`, { name, maxAttempts: 1, priority });
  const [claimed] = (await api('POST', `/api/queues/${queue}/claim`, { worker: 'console-test' })).items;
  assert.equal(claimed.id, job.id);
  const dead = await api('POST', `/api/jobs/${job.id}/fail`, { lease: claimed.lease, error: `${name} exploded`, retry: false });
  assert.equal(dead.state, 'dead');
  return job.id;
}

test('jobs: enqueue, follow a remote worker live, retry dead jobs, pause and resume', async () => {
  const { page, done } = await open();
  await signIn(page);
  const queue = unique('console_q');

  // Enqueue through the console form on a queue that does not exist yet.
  await page.goto(`${URL}/_/#/jobs/${queue}`);
  await page.getByRole('heading', { name: `Queue ${queue}` }).waitFor();
  await page.getByText(`No job in ${queue} yet.`).waitFor();
  await page.getByRole('button', { name: 'Enqueue job' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Job name').fill('resize-image');
  await dlg.getByLabel('Payload (JSON)').fill('{"width": 640}');
  await dlg.getByLabel('Priority').fill('7');
  const subscribed = realtimePost(page);
  await dlg.getByRole('button', { name: 'Enqueue', exact: true }).click();
  await page.waitForURL(new RegExp(`#/jobs/${queue}/[a-z0-9]+$`));
  const id = page.url().split('/').pop();
  await subscribed;
  await jobState(page, 'waiting');
  const enqueued = await api('GET', `/api/jobs/${id}`);
  assert.deepEqual([enqueued.name, enqueued.payload, enqueued.priority], ['resize-image', { width: 640 }, 7]);
  await page.evaluate(() => {
    window.notReloaded = true;
  });

  // A remote worker claims it, reports progress, completes it: the page follows live.
  const [claimed] = (await api('POST', `/api/queues/${queue}/claim`, { worker: 'remote-1' })).items;
  assert.equal(claimed.id, id);
  await jobState(page, 'active');
  await api('POST', `/api/jobs/${id}/progress`, { lease: claimed.lease, percent: 50, message: 'half way' });
  const bar = page.getByRole('progressbar', { name: 'Progress' });
  await page.waitForFunction((el) => el.getAttribute('aria-valuenow') === '50', await bar.elementHandle());
  await page.getByText('50% — half way').waitFor();
  await page.getByText('remote-1').waitFor();
  await api('POST', `/api/jobs/${id}/complete`, { lease: claimed.lease, result: { thumbnail: 'small.png' } });
  await jobState(page, 'completed');
  await page.getByLabel('Result').getByText('small.png').waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was reloaded');
  await screenshot(page, 'jobs-job');

  // A dead job, retried from its page.
  const deadId = await deadJob(queue, 'flaky', 8);
  await page.goto(`${URL}/_/#/jobs/${queue}/${deadId}`);
  await jobState(page, 'dead');
  await page.getByText('flaky exploded').waitFor();
  await page.getByRole('button', { name: 'Retry' }).click();
  await jobState(page, 'waiting');
  assert.equal((await api('GET', `/api/jobs/${deadId}`)).state, 'waiting');

  // Another dead one, retried with "Retry all dead" from the queue's dead jobs.
  const deadId2 = await deadJob(queue, 'brittle', 9);
  await page.goto(`${URL}/_/#/jobs/${queue}?state=dead`);
  await page.getByRole('row', { name: new RegExp(`Job ${deadId2} brittle, dead`) }).waitFor();
  await page.getByRole('button', { name: 'Retry all dead' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Retry all' }).click();
  await page.getByText('1 dead job retried.').waitFor();
  await page.getByText(`No dead job in ${queue}.`).waitFor();
  assert.equal((await api('GET', `/api/jobs/${deadId2}`)).state, 'waiting');

  // Search by the start of a job's name (any state), then clear the search.
  await page.getByLabel('State').selectOption('');
  await page.getByLabel('Search').fill('BRIT');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByRole('row', { name: new RegExp(`Job ${deadId2} brittle`) }).waitFor();
  await page.getByRole('row', { name: new RegExp(`Job ${deadId} flaky`) }).waitFor({ state: 'detached' });
  await page.getByLabel('Search').fill('nothing-like-it');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByText(`No job in ${queue} has a name starting with “nothing-like-it”.`).waitFor();
  await page.getByLabel('Search').fill('');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByRole('row', { name: new RegExp(`Job ${deadId} flaky`) }).waitFor();

  // Pause and resume the queue; set its concurrency.
  await page.getByRole('button', { name: 'Pause queue' }).click();
  await page.getByRole('button', { name: 'Resume queue' }).waitFor();
  assert.equal((await api('GET', `/api/queues/${queue}`)).settings.paused, true);
  await page.getByRole('button', { name: 'Resume queue' }).click();
  await page.getByRole('button', { name: 'Pause queue' }).waitFor();
  assert.equal((await api('GET', `/api/queues/${queue}`)).settings.paused, false);
  await page.getByLabel('Concurrency').fill('3');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Queue settings saved.').waitFor();
  assert.equal((await api('GET', `/api/queues/${queue}`)).settings.concurrency, 3);

  // The overview: the queue's counts, refreshed live, and the throughput of completed jobs.
  const overviewLive = realtimePost(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  const row = page.getByRole('row', { name: `Queue ${queue}` });
  await row.waitFor();
  await overviewLive;
  // The cells: queue, status, then the counts (waiting first); the rows are redrawn live.
  const waitingCell = row.getByRole('cell').nth(2);
  assert.equal(await waitingCell.textContent(), '2');
  const more = await api('POST', `/api/queues/${queue}/jobs`, { name: 'one-more' });
  await waitingCell.getByText('3', { exact: true }).waitFor();
  const chart = page.getByRole('img', { name: /^Jobs per minute over the last hour/ });
  const before = completedIn(await chart.getAttribute('aria-label'));
  const [work] = (await api('POST', `/api/queues/${queue}/claim`, { worker: 'remote-2' })).items;
  await api('POST', `/api/jobs/${work.id}/complete`, { lease: work.lease });
  await page.waitForFunction(([n, source]) => {
    const el = document.querySelector('svg[role=img][aria-label^="Jobs per minute"]');
    return el && Number(new RegExp(source).exec(el.getAttribute('aria-label'))[1]) > n;
  }, [before, COMPLETED.source]);
  assert.ok(more.id);
  await screenshot(page, 'jobs-queues');

  await done();
});

test('schedules: create from the console, next fire times, trigger, pause, edit, delete', async () => {
  const { page, done } = await open();
  await signIn(page);
  const name = unique('console_sched');
  const queue = unique('console_sq');

  await page.goto(`${URL}/_/#/schedules`);
  await page.getByRole('heading', { name: 'Schedules' }).waitFor();
  await page.getByRole('button', { name: 'New schedule' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByLabel('Name', { exact: true }).fill(name);
  await dlg.getByLabel('Cron').fill('*/5 * * * *');
  await dlg.getByLabel('Timezone').fill('Europe/Paris');
  await dlg.getByLabel('Queue').fill(queue);
  await dlg.getByLabel('Job name').fill('report');
  await dlg.getByLabel('Payload (JSON)').fill('{"kind": "nightly"}');
  await dlg.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: `Schedule ${name}` }).waitFor();
  const created = await api('GET', `/api/schedules/${name}?next=10`);
  assert.deepEqual(created.schedule, { cron: '*/5 * * * *', timezone: 'Europe/Paris' });
  assert.deepEqual([created.queue, created.job.name, created.job.payload], [queue, 'report', { kind: 'nightly' }]);
  assert.ok(page.url().endsWith(`#/schedules/${created.id}`));

  // The next 10 fire times, as the API computes them.
  const next = page.getByRole('list', { name: 'Next fire times' });
  await next.waitFor();
  const times = await next.locator('time').evaluateAll((els) => els.map((e) => e.getAttribute('datetime')));
  assert.deepEqual(times, created.upcoming);
  assert.equal(times.length, 10);

  // Trigger now: a run in the history, linking to its job.
  await page.getByText('No run yet.').waitFor();
  await page.getByRole('button', { name: 'Trigger now' }).click();
  await page.getByText(new RegExp(`Job [a-z0-9]+ enqueued into ${queue}`)).waitFor();
  const [run] = (await api('GET', `/api/schedules/${name}/runs?limit=20`)).items;
  assert.equal(run.outcome, 'triggered');
  const link = page.getByRole('link', { name: run.jobId });
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `#/jobs/${queue}/${run.jobId}`);
  await screenshot(page, 'schedules');

  // Pause and resume.
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
  assert.equal((await api('GET', `/api/schedules/${name}`)).paused, true);
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await page.getByRole('button', { name: 'Pause', exact: true }).waitFor();
  assert.equal((await api('GET', `/api/schedules/${name}`)).paused, false);

  // Edit the timetable.
  await page.getByRole('button', { name: 'Edit' }).click();
  await page.getByRole('dialog').getByLabel('Cron').fill('0 9 * * 1-5');
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await page.getByText(`Schedule ${name} saved.`).waitFor();
  const edited = await api('GET', `/api/schedules/${name}`);
  assert.deepEqual([edited.schedule.cron, edited.job.payload], ['0 9 * * 1-5', { kind: 'nightly' }]);
  await page.getByRole('list', { name: 'Next fire times' }).waitFor();

  // The run's job opens from the history.
  await link.click();
  await jobState(page, 'waiting');
  await page.goBack();
  await page.getByRole('heading', { name: `Schedule ${name}` }).waitFor();

  // The list shows it; delete it (after a confirmation).
  await page.getByRole('link', { name: 'Schedules' }).first().click();
  await page.getByRole('row', { name: `Schedule ${name}` }).click();
  await page.getByRole('heading', { name: `Schedule ${name}` }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete schedule' }).click();
  await page.getByRole('heading', { name: 'Schedules' }).waitFor();
  await assert.rejects(api('GET', `/api/schedules/${name}`), /404/);

  await done();
});
