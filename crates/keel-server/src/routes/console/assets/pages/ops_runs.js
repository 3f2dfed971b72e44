// Ops, runs: the list (filtered by state and runbook, paged, kept current while runs go on) and
// a run's live page (state, steps per target, the log tail over realtime, cancel, rerun,
// approve/reject).

import { get, post, seg, quote } from '../api.js';
import {
  h, mount, field, input, select, button, table, pager, toast, errorBox, failed, dialog,
  confirm, time, badge, short, loading,
} from '../ui.js';
import { subscribe, onStatus } from '../realtime.js';
import { PER_PAGE, me, hashWith } from './ops_common.js';
import { approvalsView, decide } from './ops_approvals.js';

const STATES = ['queued', 'running', 'awaiting_approval', 'cancelling', 'succeeded', 'failed', 'cancelled', 'interrupted'];
const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);
const RERUNNABLE = new Set(['failed', 'cancelled', 'interrupted']);
const LOG_PAGE = 500;

const stateBadge = (state) => badge(String(state || 'unknown').replace(/_/g, ' '), state);

function duration(from, to) {
  if (!from) return '';
  const a = new Date(String(from).replace(' ', 'T')).getTime();
  const b = to ? new Date(String(to).replace(' ', 'T')).getTime() : Date.now();
  if (Number.isNaN(a) || Number.isNaN(b)) return '';
  const s = Math.max(0, Math.round((b - a) / 100) / 10);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export async function runsList(view) {
  const { ctx } = view;
  const q = { state: ctx.query.state || '', runbook: ctx.query.runbook || '', page: Number(ctx.query.page) || 1 };
  const stateSel = select({ name: 'state' }, [['', 'Any state'], ...STATES.map((s) => [s, s.replace(/_/g, ' ')])], q.state);
  const runbookIn = input({ name: 'runbook', value: q.runbook, placeholder: 'runbook name' });
  const apply = (e) => {
    e.preventDefault();
    ctx.go(hashWith('#/ops/runs', { state: stateSel.value, runbook: runbookIn.value.trim() }));
  };
  stateSel.addEventListener('change', apply);
  const filters = h('form', { class: 'toolbar', role: 'search', onsubmit: apply },
    field('State', stateSel),
    field('Runbook', runbookIn, { class: 'grow' }),
    h('button', { type: 'submit' }, 'Filter'));
  const results = h('div', null, loading());
  view.show('Ops', [button('Refresh', () => load()), h('a', { class: 'button primary', href: '#/ops/runbooks' }, 'Run a runbook')],
    filters, results);
  ctx.title('Runs · Ops');

  let timer = null;
  ctx.cleanup(() => clearTimeout(timer));
  async function load() {
    clearTimeout(timer);
    const filter = [q.state && `state = ${quote(q.state)}`, q.runbook && `runbookName = ${quote(q.runbook)}`].filter(Boolean).join(' && ');
    try {
      const out = await get('/api/ops/runs', { page: q.page, perPage: PER_PAGE, filter });
      if (!ctx.isCurrent()) return;
      mount(results, runsTable(ctx, out.items, 'No runs match.'),
        pager({ page: q.page, perPage: PER_PAGE, count: out.items.length, total: out.totalItems ?? -1, onPage: (p) => ctx.go(hashWith('#/ops/runs', { ...q, page: p })) }));
      // While runs on this page are still going, keep their states current.
      if (out.items.some((r) => !ENDED.has(r.state))) timer = setTimeout(load, 5000);
    } catch (err) {
      if (ctx.isCurrent()) mount(results, errorBox(err));
    }
  }
  await load();
}

export function runsTable(ctx, runs, empty) {
  return table({
    caption: 'Runs',
    rows: runs,
    empty,
    onOpen: (r) => ctx.go(`#/ops/runs/${seg(r.id)}`),
    rowLabel: (r) => `Run ${r.id} of ${r.runbookName}, ${r.state}`,
    columns: [
      { label: 'Run', render: (r) => h('a', { href: `#/ops/runs/${seg(r.id)}`, class: 'mono' }, r.id) },
      { label: 'Runbook', render: (r) => r.runbookName },
      { label: 'Version', class: 'num', render: (r) => String(r.version) },
      { label: 'State', render: (r) => stateBadge(r.state) },
      { label: 'Started by', render: (r) => h('span', { class: 'small' }, r.startedBy || '—') },
      { label: 'Created', render: (r) => time(r.created) },
      { label: 'Duration', class: 'num', render: (r) => duration(r.startedAt, r.endedAt) },
    ],
  });
}

export async function runPage(view, id) {
  const { ctx } = view;
  let run = await get(`/api/ops/runs/${seg(id)}`);
  if (!ctx.isCurrent()) return;
  ctx.title(`Run ${run.runbookName} · Ops`);

  const stateEl = h('span', { role: 'status', 'aria-label': 'Run state', 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions' });
  const info = h('div', { class: 'card' });
  const stepsBox = h('div');
  const approvalsBox = h('div');
  const logErr = h('div');
  const tail = logTail();
  view.show(`Run of ${run.runbookName}`, [stateEl, actions],
    info,
    h('h2', null, 'Steps'), stepsBox,
    approvalsBox,
    h('div', { class: 'toolbar', style: 'margin-top:1.5rem' }, h('h2', { class: 'grow', style: 'margin:0' }, 'Log'), tail.followField),
    logErr, tail.el);

  /** Reads the log from the cursor on until it has all of it so far. */
  async function catchUp() {
    for (;;) {
      const out = await get(`/api/ops/runs/${seg(id)}/log`, { after: tail.shown(), limit: LOG_PAGE });
      if (!ctx.isCurrent()) return;
      out.items.forEach(tail.append);
      if (out.items.length < LOG_PAGE) break;
    }
    if (ENDED.has(run.state)) tail.ended();
    tail.scroll();
  }

  // Work on the log and the run one piece at a time, in the order it came.
  let chain = Promise.resolve();
  const serial = (fn) => {
    chain = chain.then(fn).then(() => mount(logErr), (err) => {
      if (ctx.isCurrent()) mount(logErr, errorBox(err));
    });
    return chain;
  };

  async function refresh() {
    const next = await get(`/api/ops/runs/${seg(id)}`);
    if (!ctx.isCurrent()) return;
    run = next;
    paint();
  }
  let stepsTimer = null;
  const refreshSoon = () => {
    if (stepsTimer || !ctx.isCurrent()) return;
    stepsTimer = setTimeout(() => {
      stepsTimer = null;
      serial(refresh);
    }, 1000);
  };
  ctx.cleanup(() => clearTimeout(stepsTimer));

  function onMessage(msg) {
    if (msg.type === 'log' && msg.entry) {
      serial(async () => {
        const e = msg.entry;
        if (e.seq <= tail.shown()) return;
        if (e.seq === tail.shown() + 1) {
          tail.append(e);
          tail.scroll();
        } else {
          await catchUp();
        }
      });
      refreshSoon();
    } else if (msg.type === 'state') {
      run.state = msg.state;
      paintState();
      serial(async () => {
        await refresh();
        if (ENDED.has(run.state)) await catchUp();
      });
    }
  }
  ctx.cleanup(subscribe(`ops/runs/${id}`, onMessage));

  // A slow poll besides the live stream, in case a message was missed while reconnecting.
  let live = false;
  ctx.cleanup(onStatus((state) => {
    live = state === 'live';
  }));
  let poll = null;
  const schedulePoll = () => {
    clearTimeout(poll);
    if (ENDED.has(run.state) || !ctx.isCurrent()) return;
    poll = setTimeout(() => serial(async () => {
      await catchUp();
      await refresh();
    }).then(schedulePoll), live ? 10000 : 3000);
  };
  ctx.cleanup(() => clearTimeout(poll));

  function paintState() {
    mount(stateEl, stateBadge(run.state));
    mount(actions, ...runActions());
  }

  function runActions() {
    const out = [];
    if (run.state === 'awaiting_approval') {
      const mine = run.startedBy === me();
      out.push(button('Approve', () => decide(run, true, refreshNow), { class: 'primary', disabled: mine, title: mine ? 'You launched this run: someone else must approve it.' : null }));
      out.push(button('Reject', () => decide(run, false, refreshNow), { class: 'danger', disabled: mine }));
    }
    if (!ENDED.has(run.state) && run.state !== 'cancelling') out.push(button('Cancel run', cancelRun, { class: 'danger' }));
    if (RERUNNABLE.has(run.state)) out.push(button('Rerun', rerun, { title: 'A new run of the same version and parameters, keeping the steps that succeeded.' }));
    return out;
  }
  const refreshNow = () => serial(refresh);

  async function cancelRun() {
    if (!(await confirm('Cancel this run?', 'Its running commands are stopped (TERM, then KILL) and the run ends cancelled.', 'Cancel run'))) return;
    try {
      run = await post(`/api/ops/runs/${seg(id)}/cancel`);
      toast('Cancelling the run.');
      paint();
      refreshNow();
    } catch (err) {
      failed(err);
    }
  }

  async function rerun() {
    try {
      const next = await post(`/api/ops/runs/${seg(id)}/rerun`);
      toast('A new run started from the failed step.');
      ctx.go(`#/ops/runs/${seg(next.id)}`);
    } catch (err) {
      failed(err);
    }
  }

  function paint() {
    paintState();
    mount(info, h('dl', { class: 'kv' },
      h('dt', null, 'Run'), h('dd', { class: 'mono' }, run.id),
      h('dt', null, 'Runbook'), h('dd', null, h('a', { href: `#/ops/runbooks/${seg(run.runbook)}` }, run.runbookName), ` · version ${run.version}`),
      h('dt', null, 'Parameters'), h('dd', { class: 'mono' }, short(run.params || {}, 400)),
      h('dt', null, 'Started by'), h('dd', null, run.startedBy || '—'),
      h('dt', null, 'Created'), h('dd', null, time(run.created)),
      h('dt', null, 'Started'), h('dd', null, time(run.startedAt)),
      h('dt', null, 'Ended'), h('dd', null, time(run.endedAt), run.endedAt && run.startedAt ? ` (after ${duration(run.startedAt, run.endedAt)})` : ''),
      run.rerunOf ? [h('dt', null, 'Rerun of'), h('dd', null, h('a', { href: `#/ops/runs/${seg(run.rerunOf)}`, class: 'mono' }, run.rerunOf))] : null,
      run.parent ? [h('dt', null, 'Called by'), h('dd', null, h('a', { href: `#/ops/runs/${seg(run.parent)}`, class: 'mono' }, run.parent))] : null,
      run.error ? [h('dt', null, 'Error'), h('dd', { class: 'error' }, run.error)] : null));
    mount(stepsBox, stepsTable(run.steps || []));
    mount(approvalsBox, approvalsView(run));
    schedulePoll();
  }

  paint();
  await serial(catchUp);
}

/**
 * The log view: entries appended once each in seq order (`[step@target]` before each line,
 * stderr in `.stderr`, Keel's own lines in `.meta`), and "Follow" keeping the end in view.
 */
function logTail() {
  const el = h('div', { class: 'log', role: 'log', 'aria-label': 'Run log', tabindex: '0' });
  const follow = h('input', { type: 'checkbox', name: 'follow', checked: true });
  const placeholder = h('span', { class: 'meta' }, 'Waiting for output…\n');
  el.append(placeholder);
  let shown = 0;
  let lastKey = null;
  let atLineStart = true;
  const scroll = () => {
    if (follow.checked) el.scrollTop = el.scrollHeight;
  };
  follow.addEventListener('change', scroll);
  // Scrolling up (wheel or keys) stops following; ticking Follow again goes back to the end.
  el.addEventListener('wheel', (e) => {
    if (e.deltaY < 0) follow.checked = false;
  }, { passive: true });
  el.addEventListener('keydown', (e) => {
    if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) follow.checked = false;
  });
  function append(e) {
    if (e.seq <= shown) return;
    shown = e.seq;
    placeholder.remove();
    const key = `${e.step}@${e.target}`;
    if (key !== lastKey && !atLineStart) {
      el.append('\n');
      atLineStart = true;
    }
    lastKey = key;
    const prefix = e.target ? `[${e.step}@${e.target}] ` : `[${e.step}] `;
    const cls = e.stream === 'stderr' ? 'stderr' : (e.stream === 'keel' ? 'meta' : null);
    for (const line of String(e.text).split(/(?<=\n)/)) {
      if (!line) continue;
      if (atLineStart) el.append(h('span', { class: 'meta' }, prefix));
      el.append(h('span', { class: cls }, line));
      atLineStart = line.endsWith('\n');
    }
  }
  return {
    el,
    followField: field('Follow', follow, { hint: 'Keep the newest output in view.' }),
    append,
    scroll,
    shown: () => shown,
    ended() {
      if (!shown) placeholder.textContent = 'No output.\n';
    },
  };
}

function stepsTable(steps) {
  const items = steps.some((s) => s.item);
  return table({
    caption: 'Steps on each target',
    rows: steps,
    empty: 'No step has started yet.',
    onOpen: stepDialog,
    rowLabel: (s) => `Step ${s.id}${s.target ? ` on ${s.target}` : ''}, ${s.state}`,
    columns: [
      { label: 'Step', render: (s) => h('span', { class: 'mono' }, s.id) },
      { label: 'Target', render: (s) => s.target || h('span', { class: 'muted', title: 'No target: the Keel host, or a step that runs on none' }, '—') },
      items ? { label: 'Item', class: 'num', render: (s) => String(s.item) } : null,
      { label: 'State', render: (s) => stateBadge(s.state) },
      { label: 'Exit code', class: 'num', render: (s) => (s.exitCode === null || s.exitCode === undefined || s.exitCode === '' ? '—' : String(s.exitCode)) },
      { label: 'Attempts', class: 'num', render: (s) => String(s.attempts ?? 0) },
      { label: 'Started', render: (s) => time(s.startedAt) },
      { label: 'Ended', render: (s) => time(s.endedAt) },
      { label: 'Duration', class: 'num', render: (s) => duration(s.startedAt, s.endedAt) },
      { label: 'Error', render: (s) => (s.error ? h('span', { class: 'cell', title: s.error }, s.error) : '') },
    ].filter(Boolean),
  });
}

function stepDialog(s) {
  dialog(`Step ${s.id}${s.target ? ` on ${s.target}` : ''}`, (close) => h('div', null,
    h('dl', { class: 'kv' },
      h('dt', null, 'State'), h('dd', null, stateBadge(s.state)),
      h('dt', null, 'Exit code'), h('dd', null, s.exitCode === null || s.exitCode === undefined ? '—' : String(s.exitCode)),
      h('dt', null, 'Attempts'), h('dd', null, String(s.attempts ?? 0)),
      s.error ? [h('dt', null, 'Error'), h('dd', null, s.error)] : null),
    h('h3', null, 'Outputs'), h('pre', null, JSON.stringify(s.outputs || {}, null, 2)),
    h('h3', null, 'Standard output (last 64 KiB)'), h('pre', null, s.stdout || '(none)'),
    h('h3', null, 'Standard error (last 64 KiB)'), h('pre', null, s.stderr || '(none)'),
    h('div', { class: 'actions end' }, button('Close', () => close()))));
}
