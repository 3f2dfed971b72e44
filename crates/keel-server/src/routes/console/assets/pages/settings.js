// The Settings page (superusers): the application (`meta`, request-log retention), mail
// (SMTP, a test email), files (S3, a connection test), limits (rate-limit rules, batch,
// client IPs) and backups (list, create, download, upload, restore, delete, the schedule).
// Each section saves only its own part of the settings with `PATCH /api/settings`; the API's
// field errors are shown next to their fields. Secrets are write-only: never shown, and a
// blank secret field keeps the stored one. This module holds the tabs and sends each address
// to its section: settings_forms.js (application, mail, files, limits) and
// settings_backups.js; settings_common.js has the settings form they share.

import { get } from '../api.js';
import { h, mount, header, errorBox, tabs, loading } from '../ui.js';
import { application, mail, files, limits } from './settings_forms.js';
import { backups } from './settings_backups.js';

const SECTIONS = [
  ['application', 'Application'],
  ['mail', 'Mail'],
  ['files', 'Files'],
  ['limits', 'Limits'],
  ['backups', 'Backups'],
];

export default async function render(ctx) {
  const section = ctx.params.section || 'application';
  ctx.title('Settings');
  const body = h('div', null, loading());
  mount(ctx.main,
    header('Settings'),
    tabs(SECTIONS.map(([s, label]) => [`#/settings/${s}`, label]), `#/settings/${section}`),
    body);
  const views = { application, mail, files, limits, backups };
  if (!views[section]) {
    mount(body, h('p', null, 'This section does not exist. ', h('a', { href: '#/settings' }, 'Go to the application settings.')));
    return;
  }
  try {
    const settings = await get('/api/settings');
    if (!ctx.isCurrent()) return;
    await views[section](ctx, body, settings);
  } catch (err) {
    if (ctx.isCurrent()) mount(body, errorBox(err));
  }
}
