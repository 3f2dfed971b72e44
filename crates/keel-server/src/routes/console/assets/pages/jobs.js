// Background jobs: every queue with its jobs counted by state and a throughput chart
// (`#/jobs`), one queue's jobs by state with its settings and bulk actions (`#/jobs/QUEUE`),
// and one job, followed live while workers report on it (`#/jobs/QUEUE/ID`).
//
// The chart is Keel's own count per minute (`GET /api/queues/{queue}/throughput`), summed
// over the queues and read again as job events arrive.
//
// This module sends each address to its page: jobs_queues.js (every queue, with the chart),
// jobs_queue.js (one queue, with the enqueue dialog) and jobs_job.js (one job); jobs_common.js
// has what they share.

import { queuesPage } from './jobs_queues.js';
import { queuePage } from './jobs_queue.js';
import { jobPage } from './jobs_job.js';

export default async function render(ctx) {
  const { queue, id } = ctx.params;
  if (id) return jobPage(ctx, queue, id);
  if (queue) return queuePage(ctx, queue);
  return queuesPage(ctx);
}
