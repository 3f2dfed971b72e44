// The Identity page: who holds which roles (records of auth collections), the roles and
// their permissions and members, API keys for service accounts (secrets shown once), and
// the audit trail (filtered, paged, each entry expandable). This module holds the tabs and
// sends each address to its section: identity_users.js, identity_roles.js,
// identity_apikeys.js and identity_audit.js; identity_common.js has what they share.

import { h, mount, errorBox, tabs, loading } from '../ui.js';
import { users } from './identity_users.js';
import { roles } from './identity_roles.js';
import { apikeys } from './identity_apikeys.js';
import { audit } from './identity_audit.js';

const SECTIONS = [
  ['users', 'Users'],
  ['roles', 'Roles'],
  ['apikeys', 'API keys'],
  ['audit', 'Audit trail'],
];

export default async function render(ctx) {
  const section = ctx.params.section || 'roles';
  ctx.title('Identity');
  const body = h('div', null, loading());
  mount(ctx.main,
    h('header', { class: 'page-head' }, h('h1', null, 'Identity')),
    tabs(SECTIONS.map(([s, label]) => [`#/identity/${s}`, label]), `#/identity/${section}`),
    body);
  const views = { users, roles, apikeys, audit };
  if (!views[section]) {
    mount(body, h('p', null, 'This section does not exist. ', h('a', { href: '#/identity' }, 'Go to the roles.')));
    return;
  }
  try {
    await views[section](ctx, body, ctx.params.id);
  } catch (err) {
    if (ctx.isCurrent()) mount(body, errorBox(err));
  }
}
