// The jobs benchmark's BullMQ side: the phases of `keel bench jobs`, on BullMQ and Redis.
//
//   node bench/bullmq/bench.mjs [--jobs 10000] [--concurrency 50] [--batch 100]
//                               [--host 127.0.0.1] [--port 6379]
//
// 1. enqueue_single_per_s: --jobs jobs added with `add`, one per call, by --concurrency
//    concurrent callers;
// 2. processed_per_s: a Worker with --concurrency and a no-op processor drains them, timed
//    from the worker's creation until its `completed` event has fired for every job;
// 3. enqueue_bulk_per_s: --jobs jobs added with `addBulk` in batches of --batch, one caller.
// Completed jobs are kept (as Keel's store keeps them). The queue has a random name and is
// obliterated at the end. Prints the figures one per line, as `keel bench jobs` does.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parseArgs } from 'node:util';

import { Queue, Worker } from 'bullmq';

const { values: opt } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '50' },
    batch: { type: 'string', default: '100' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '6379' },
  },
});

function positive(name) {
  const n = Number(opt[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench.mjs: --${name} needs a positive integer, got '${opt[name]}'`);
    process.exit(2);
  }
  return n;
}

const n = positive('jobs');
const concurrency = positive('concurrency');
const batch = positive('batch');
const connection = { host: opt.host, port: positive('port'), maxRetriesPerRequest: null };

const name = `bench-${randomBytes(6).toString('hex')}`;
const queue = new Queue(name, { connection });
let worker;
try {
  await queue.waitUntilReady();

  // 1. Single adds from `concurrency` callers.
  let next = 0;
  let started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        await queue.add('bench', { i });
      }
    }),
  );
  const enqueueSingleSecs = (performance.now() - started) / 1000;

  // 2. Processing.
  let completed = 0;
  let reached;
  const done = new Promise((resolve) => (reached = resolve));
  started = performance.now();
  worker = new Worker(name, async () => null, { connection, concurrency });
  worker.on('completed', () => {
    completed += 1;
    if (completed === n) reached();
  });
  worker.on('error', (e) => console.error(`bench.mjs: worker error: ${e.message}`));
  await done;
  const processedSecs = (performance.now() - started) / 1000;
  await worker.close();
  worker = undefined;

  // 3. Bulk adds from one caller.
  started = performance.now();
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(i + batch, n); j++) {
      jobs.push({ name: 'bench', data: { i: j } });
    }
    await queue.addBulk(jobs);
  }
  const enqueueBulkSecs = (performance.now() - started) / 1000;

  const rate = (secs) => Math.round(n / secs);
  console.error(
    `bullmq bench: redis ${opt.host}:${connection.port}, ${n} no-op jobs, concurrency ${concurrency}, batches of ${batch}, ${os.availableParallelism()} cores`,
  );
  console.log(`enqueue_single_per_s ${rate(enqueueSingleSecs)}`);
  console.log(`enqueue_bulk_per_s ${rate(enqueueBulkSecs)}`);
  console.log(`processed_per_s ${rate(processedSecs)}`);
} finally {
  if (worker) await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
}
