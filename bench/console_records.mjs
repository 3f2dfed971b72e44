// The console on a big collection: how long Chromium takes to show the records page of a
// collection of N records (default 100,000), the next page, and a filter's result.
//
//   cd tests/console && npm ci && cd ../..
//   KEEL_URL=http://127.0.0.1:8090 KEEL_SUPERUSER_EMAIL=… KEEL_SUPERUSER_PASSWORD=… \
//     node bench/console_records.mjs [records] [rounds]
//
// Seeds `bench_console` through the API (50 creates at a time) until it holds the records,
// then prints each round's three times in milliseconds and their medians.

import { open, signIn, api, URL } from '../tests/console/lib.mjs';

const N = Number(process.argv[2] || 100_000);
const ROUNDS = Number(process.argv[3] || 5);
const NAME = 'bench_console';

try {
  await api('GET', `/api/collections/${NAME}`);
} catch {
  await api('POST', '/api/collections', { name: NAME, type: 'base', fields: [{ name: 'title', type: 'text' }, { name: 'n', type: 'number' }] });
}
let have = (await api('GET', `/api/collections/${NAME}/records?perPage=1&fields=id`)).totalItems;
while (have < N) {
  const batch = Array.from({ length: Math.min(50, N - have) }, (_, i) => have + i);
  await Promise.all(batch.map((n) => api('POST', `/api/collections/${NAME}/records`, { title: `title ${n}`, n })));
  have += batch.length;
}

const s = await open();
const { page } = s;
await signIn(page);
const rounds = [];
for (let i = 0; i < ROUNDS; i++) {
  await page.goto(`${URL}/_/#/`);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  const t0 = Date.now();
  await page.goto(`${URL}/_/#/collections/${NAME}`);
  await page.getByRole('cell', { name: `title ${N - 1}`, exact: true }).waitFor();
  const t1 = Date.now();
  await page.getByRole('button', { name: 'Next page' }).click();
  await page.getByRole('cell', { name: `title ${N - 21}`, exact: true }).waitFor();
  const t2 = Date.now();
  await page.getByLabel('Filter').fill(`n = ${Math.floor(N / 2)}`);
  await page.getByRole('button', { name: 'Apply filter' }).click();
  await page.getByRole('cell', { name: `title ${Math.floor(N / 2)}`, exact: true }).waitFor();
  rounds.push({ open: t1 - t0, next: t2 - t1, filter: Date.now() - t2 });
}
await s.done();
const median = (k) => rounds.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
console.log(JSON.stringify(rounds));
console.log(`records ${N}: open ${median('open')} ms, next page ${median('next')} ms, filter ${median('filter')} ms (medians of ${ROUNDS})`);
process.exit(0);
