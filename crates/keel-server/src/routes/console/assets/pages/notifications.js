// Notifications: the history of sent notifications (everyone's with notifications:read, as a
// superuser has; otherwise the caller's own inbox) with each one's deliveries; templates
// (list, create, edit, delete, Preview); topics and rules (list, create, delete); and a
// "Send notification" form. This module holds the tabs and sends each address to its section:
// notifications_history.js, notifications_templates.js and notifications_admin.js (topics,
// rules and the send form); notifications_common.js has what they share.

import { h, mount, button, header, errorBox, tabs, loading } from '../ui.js';
import { history } from './notifications_history.js';
import { templates } from './notifications_templates.js';
import { topics, rules, sendDialog } from './notifications_admin.js';

const SECTIONS = [['history', 'History'], ['templates', 'Templates'], ['topics', 'Topics'], ['rules', 'Rules']];

export default async function render(ctx) {
  const section = ctx.params.section || 'history';
  ctx.title('Notifications');
  const body = h('div', null, loading());
  const reload = () => ctx.go(`#/notifications/${section}`);
  mount(ctx.main,
    header('Notifications', button('Send notification', () => sendDialog().then((out) => out && reload()), { class: 'primary' })),
    tabs(SECTIONS.map(([s, label]) => [`#/notifications/${s}`, label]), `#/notifications/${section}`),
    body);
  const view = { ctx, body, reload };
  try {
    if (section === 'history') await history(view);
    else if (section === 'templates') await templates(view);
    else if (section === 'topics') await topics(view);
    else if (section === 'rules') await rules(view);
    else mount(body, h('p', null, 'There is no such section.'));
  } catch (err) {
    if (ctx.isCurrent()) mount(body, errorBox(err));
  }
}
