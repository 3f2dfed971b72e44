// The jobs benchmark's BullMQ side: the workload of `keel bench jobs`, on BullMQ and Redis.
//
//   node bench/bullmq/bench.mjs [--jobs 20000] [--concurrency 16] [--batch 100]
//                               [--latency-jobs 2000] [--rate 500] [--host 127.0.0.1] [--port 6379]
//
// 1. enqueue: --jobs jobs added with `addBulk` in batches of --batch, one caller;
// 2. process: a Worker with --concurrency and a no-op processor drains them, timed from the
//    worker's creation until its `completed` event has fired for every job;
// 3. latency: --latency-jobs single `add`s at --rate per second while the worker runs, each
//    job's finishedOn − timestamp (milliseconds).
// The queue has a random name and is obliterated at the end. Prints a small table and one
// JSON line in the shape `keel bench jobs` prints.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import { Job, Queue, Worker } from 'bullmq';

const { values: opt } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string', default: '100' },
    'latency-jobs': { type: 'string', default: '2000' },
    rate: { type: 'string', default: '500' },
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
const latencyJobs = positive('latency-jobs');
const rate = positive('rate');
const connection = { host: opt.host, port: positive('port'), maxRetriesPerRequest: null };

/** The nearest-rank percentile q (0–1) of sorted values (as `keel bench jobs` computes it). */
function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

const name = `bench-${randomBytes(6).toString('hex')}`;
const queue = new Queue(name, { connection });
let worker;
try {
  await queue.waitUntilReady();

  // 1. Enqueue throughput.
  let started = performance.now();
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(i + batch, n); j++) {
      jobs.push({ name: 'bench', data: { i: j } });
    }
    await queue.addBulk(jobs);
  }
  const enqueueSecs = (performance.now() - started) / 1000;

  // 2. Processing throughput.
  let completed = 0;
  let target = n;
  let reached;
  let done = new Promise((resolve) => (reached = resolve));
  started = performance.now();
  worker = new Worker(name, async () => null, { connection, concurrency });
  worker.on('completed', () => {
    completed += 1;
    if (completed >= target) reached();
  });
  worker.on('error', (e) => console.error(`bench.mjs: worker error: ${e.message}`));
  await done;
  const processSecs = (performance.now() - started) / 1000;

  // 3. End-to-end latency, single adds at a steady rate while the worker runs.
  target = n + latencyJobs;
  done = completed >= target ? Promise.resolve() : new Promise((resolve) => (reached = resolve));
  const period = 1000 / rate;
  const ids = [];
  started = performance.now();
  for (let j = 0; j < latencyJobs; j++) {
    const wait = started + j * period - performance.now();
    if (wait > 0) await sleep(wait);
    const job = await queue.add('bench-latency', { j });
    ids.push(job.id);
  }
  const latencySecs = (performance.now() - started) / 1000;
  await done;
  const latencies = [];
  for (const id of ids) {
    const job = await Job.fromId(queue, id);
    if (!job || !job.finishedOn) throw new Error(`job ${id} did not finish`);
    latencies.push(job.finishedOn - job.timestamp);
  }
  latencies.sort((a, b) => a - b);

  const p50 = percentile(latencies, 0.5);
  const p99 = percentile(latencies, 0.99);
  const max = latencies[latencies.length - 1] ?? 0;
  const mean = latencies.reduce((a, b) => a + b, 0) / Math.max(latencies.length, 1);
  const enqueuePerSec = n / enqueueSecs;
  const processPerSec = n / processSecs;
  const achievedRate = latencyJobs / latencySecs;
  const cores = os.availableParallelism();
  const fmt = (x) => Math.round(x).toString().padStart(9);
  console.log(
    `bullmq bench: redis ${opt.host}:${connection.port}, ${n} jobs, batches of ${batch}, concurrency ${concurrency}, ${cores} cores`,
  );
  console.log(`  enqueue   ${fmt(enqueuePerSec)} jobs/s   ${n} jobs in batches of ${batch} in ${enqueueSecs.toFixed(2)} s`);
  console.log(
    `  process   ${fmt(processPerSec)} jobs/s   ${n} jobs by a no-op worker of concurrency ${concurrency} in ${processSecs.toFixed(2)} s`,
  );
  console.log(
    `  latency   p50 ${p50} ms, p99 ${p99} ms, max ${max} ms, mean ${mean.toFixed(1)} ms   ${latencies.length} single adds at ${Math.round(achievedRate)}/s`,
  );
  console.log(
    JSON.stringify({
      bench: 'jobs',
      system: 'bullmq',
      store: 'redis',
      jobs: n,
      batch,
      concurrency,
      cores,
      enqueuePerSec: Math.round(enqueuePerSec),
      enqueueSecs,
      processPerSec: Math.round(processPerSec),
      processSecs,
      latencyJobs: latencies.length,
      latencyRate: Math.round(achievedRate),
      latencyP50Ms: p50,
      latencyP99Ms: p99,
      latencyMaxMs: max,
      latencyMeanMs: Math.round(mean * 10) / 10,
    }),
  );
} finally {
  if (worker) await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
}
