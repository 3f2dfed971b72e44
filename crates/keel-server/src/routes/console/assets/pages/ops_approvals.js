// Ops, approvals: the runs waiting for a decision, a run's decisions, and the Approve/Reject
// dialog (with a comment).

import { get, post, seg } from '../api.js';
import { h, mount, field, button, table, pager, toast, errorBox, formDialog, time, badge, short, loading } from '../ui.js';
import { PER_PAGE, me, hashWith, textarea } from './ops_common.js';

export async function approvalsList(view) {
  const { ctx } = view;
  ctx.title('Approvals · Ops');
  const page = Number(ctx.query.page) || 1;
  const results = h('div', null, loading());
  view.show('Ops', [button('Refresh', () => load())],
    h('p', { class: 'muted' }, 'Runs waiting for a decision. Anyone holding ops:approve except who launched a run may approve or reject it.'),
    results);
  // New runs come to wait here while the tab is open: look again every 10 s.
  let timer = null;
  ctx.cleanup(() => clearTimeout(timer));
  async function load() {
    clearTimeout(timer);
    try {
      const out = await get('/api/ops/runs', { page, perPage: PER_PAGE, filter: "state = 'awaiting_approval'" });
      if (!ctx.isCurrent()) return;
      const mine = me();
      mount(results, table({
        caption: 'Runs awaiting approval',
        rows: out.items,
        empty: 'No run is waiting for an approval.',
        onOpen: (r) => ctx.go(`#/ops/runs/${seg(r.id)}`),
        rowLabel: (r) => `Run ${r.id} of ${r.runbookName}`,
        columns: [
          { label: 'Run', render: (r) => h('a', { href: `#/ops/runs/${seg(r.id)}`, class: 'mono' }, r.id) },
          { label: 'Runbook', render: (r) => r.runbookName },
          { label: 'Parameters', render: (r) => h('span', { class: 'cell mono' }, short(r.params || {}, 60)) },
          { label: 'Started by', render: (r) => r.startedBy },
          { label: 'Started', render: (r) => time(r.startedAt || r.created) },
          {
            label: 'Decide',
            render: (r) => (r.startedBy === mine
              ? h('span', { class: 'muted small' }, 'You launched it')
              : h('div', { class: 'actions' },
                button('Approve', () => decide(r, true, load), { 'aria-label': `Approve run ${r.id}` }),
                button('Reject', () => decide(r, false, load), { class: 'danger', 'aria-label': `Reject run ${r.id}` }))),
          },
        ],
      }), pager({ page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => ctx.go(hashWith('#/ops/approvals', { page: p })) }));
      if (ctx.isCurrent()) timer = setTimeout(load, 10000);
    } catch (err) {
      if (ctx.isCurrent()) mount(results, errorBox(err));
    }
  }
  await load();
}

export function approvalsView(run) {
  const votes = run.approvals || [];
  if (!votes.length && run.state !== 'awaiting_approval') return null;
  return h('section', null,
    h('h2', null, 'Approvals'),
    run.state === 'awaiting_approval'
      ? h('p', { class: 'notice' }, run.startedBy === me()
        ? 'This run waits for an approval. You launched it, so someone else holding ops:approve must decide.'
        : 'This run waits for an approval: approve or reject it with a comment.')
      : null,
    table({
      caption: 'Decisions',
      rows: votes,
      empty: 'No decision yet.',
      columns: [
        { label: 'Step', render: (v) => v.step },
        { label: 'Who', render: (v) => v.user },
        { label: 'Decision', render: (v) => badge(v.decision === 'approve' ? 'approved' : 'rejected', v.decision === 'approve' ? 'ok' : 'rejected') },
        { label: 'Comment', render: (v) => v.comment || '' },
        { label: 'When', render: (v) => time(v.at) },
      ],
    }));
}

/** Approves or rejects `run` with a comment, then calls `after`. */
export function decide(run, approve, after) {
  const comment = textarea({ name: 'comment', rows: 3 });
  return formDialog(approve ? `Approve the run of ${run.runbookName}` : `Reject the run of ${run.runbookName}`,
    () => [field('Comment', comment, { hint: approve ? 'Optional: why it may go on.' : 'Why it must not go on.' })],
    async () => {
      const out = await post(`/api/ops/runs/${seg(run.id)}/${approve ? 'approve' : 'reject'}`, { comment: comment.value });
      toast(approve ? 'Approved.' : 'Rejected.');
      return out;
    },
    approve ? 'Approve' : 'Reject').then((out) => {
    if (out) after(out);
  });
}
