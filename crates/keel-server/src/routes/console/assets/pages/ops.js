// Ops: runs (list, a run's live page: state, steps per target, the log tail, cancel, rerun,
// approve/reject), runbooks (list, view with steps and versions, edit as JSON, import YAML,
// export, the Run form generated from the parameters' JSON Schema), targets (list, create,
// edit, test, delete) and the approvals waiting for a decision. This module holds the tabs and
// sends each address to its section: ops_runs.js, ops_runbooks.js (with ops_run_form.js),
// ops_targets.js and ops_approvals.js; ops_common.js has what they share.

import { h, mount, header, errorBox, tabs, loading } from '../ui.js';
import { runsList, runPage } from './ops_runs.js';
import { runbooksList, runbookPage, runbookEditor } from './ops_runbooks.js';
import { targetsList, targetPage } from './ops_targets.js';
import { approvalsList } from './ops_approvals.js';

const SECTIONS = [['runs', 'Runs'], ['runbooks', 'Runbooks'], ['targets', 'Targets'], ['approvals', 'Approvals']];

export default async function render(ctx) {
  const section = ctx.params.section || 'runs';
  const id = ctx.params.id;
  ctx.title('Ops');
  if (!SECTIONS.some(([s]) => s === section)) {
    mount(ctx.main, header('Ops'), nav(section), h('p', null, 'There is no such section. ', h('a', { href: '#/ops' }, 'See the runs.')));
    return;
  }
  const content = h('div');
  mount(ctx.main, content);
  const view = {
    ctx,
    content,
    /** Fills the page: its heading (with actions), the section tabs, then the body. */
    show(title, actions, ...body) {
      mount(content, header(title, ...(actions || [])), nav(section), ...body);
    },
  };
  content.append(nav(section), loading());
  try {
    if (section === 'runs' && id) await runPage(view, id);
    else if (section === 'runs') await runsList(view);
    else if (section === 'runbooks' && id === 'new') runbookEditor(view, null);
    else if (section === 'runbooks' && id) await runbookPage(view, id);
    else if (section === 'runbooks') await runbooksList(view);
    else if (section === 'targets' && id) await targetPage(view, id);
    else if (section === 'targets') await targetsList(view);
    else await approvalsList(view);
  } catch (err) {
    if (ctx.isCurrent()) mount(content, header('Ops'), nav(section), errorBox(err));
  }
}

function nav(section) {
  return tabs(SECTIONS.map(([s, label]) => [`#/ops/${s}`, label]), `#/ops/${section}`);
}
