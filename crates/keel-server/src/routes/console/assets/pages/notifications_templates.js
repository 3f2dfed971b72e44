// Notifications, templates: the list, creating and editing one (with Preview of the edited
// source), previewing a stored one with data, deleting one.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, select, button, table, toast, errorBox, failed, dialog, confirm, time, parseJson,
} from '../ui.js';
import { CHANNELS } from './notifications_common.js';

// ---------------------------------------------------------------------------------------------
// Templates

export async function templates({ ctx, body, reload }) {
  ctx.title('Templates · Notifications');
  const out = await get('/api/notifications/templates');
  if (!ctx.isCurrent()) return;
  const items = [...out.items].sort((a, b) => a.name.localeCompare(b.name) || a.locale.localeCompare(b.locale) || a.channel.localeCompare(b.channel));
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow', style: 'margin:0' }, 'Minijinja templates ({{ name }}, {% if %}, filters); sends pick the locale and channel variant. auth.* templates replace the sign-in emails.'),
      button('New template', () => templateDialog(null).then((t) => t && reload()))),
    table({
      caption: 'Templates',
      rows: items,
      empty: 'No template yet.',
      onOpen: (t) => templateDialog(t).then((v) => v && reload()),
      rowLabel: (t) => `Template ${t.name} ${t.locale || 'default locale'} ${t.channel || 'any channel'}`,
      columns: [
        { label: 'Name', render: (t) => h('span', { class: 'mono' }, t.name) },
        { label: 'Locale', render: (t) => t.locale || h('span', { class: 'muted' }, 'default') },
        { label: 'Channel', render: (t) => t.channel || h('span', { class: 'muted' }, 'any') },
        { label: 'Subject', render: (t) => h('span', { class: 'cell' }, t.subject || '') },
        { label: 'Updated', render: (t) => time(t.updated) },
        {
          label: 'Actions',
          render: (t) => h('div', { class: 'actions' },
            button('Preview', () => storedPreview(t), { 'aria-label': `Preview ${t.name}` }),
            button('Delete', () => removeTemplate(t, reload), { class: 'danger', 'aria-label': `Delete ${t.name}` })),
        },
      ],
    }));
}

function previewOut(out) {
  return h('section', { class: 'card', 'aria-label': 'Preview' },
    h('h3', { style: 'margin-top:0' }, 'Preview'),
    h('dl', { class: 'kv' },
      h('dt', null, 'Subject'), h('dd', null, out.subject || ''),
      h('dt', null, 'Text'), h('dd', null, h('pre', { style: 'margin:0' }, out.text || '')),
      out.html ? [h('dt', null, 'HTML'), h('dd', null, h('pre', { style: 'margin:0' }, out.html))] : null));
}

/** Creates (t = null) or edits a template, with Preview; resolves with the saved template. */
function templateDialog(t) {
  const v = t || {};
  const f = {
    name: input({ name: 'name', required: true, value: v.name || '', placeholder: 'welcome' }),
    locale: input({ name: 'locale', value: v.locale || '', placeholder: 'de, de-AT (empty: default)' }),
    channel: select({ name: 'channel' }, [['', 'Any channel'], ...CHANNELS], v.channel || ''),
    subject: input({ name: 'subject', value: v.subject || '' }),
    text: h('textarea', { name: 'text', rows: 5, value: v.text || '' }),
    html: h('textarea', { name: 'html', rows: 4, value: v.html || '' }),
    data: h('textarea', { name: 'data', rows: 3, spellcheck: 'false', value: '{}' }),
  };
  return dialog(t ? `Edit ${t.name}` : 'New template', (close) => {
    const err = h('div');
    const preview = h('div', { role: 'status', 'aria-live': 'polite' });
    const form = h('form', { class: 'stack' },
      h('div', { class: 'grid2' }, field('Name', f.name), field('Locale', f.locale)),
      field('Channel', f.channel),
      field('Subject', f.subject),
      field('Text', f.text),
      field('HTML', f.html, { hint: 'Optional; values are HTML-escaped here only.' }),
      field('Preview data (JSON)', f.data, { hint: 'The values the template renders with, for Preview.' }),
      preview, err,
      h('div', { class: 'actions end' },
        button('Preview', async () => {
          mount(err);
          try {
            const out = await post('/api/notifications/templates/preview', {
              source: { subject: f.subject.value, text: f.text.value, html: f.html.value },
              data: parseJson(f.data.value, 'Preview data', {}),
            });
            mount(preview, previewOut(out));
          } catch (ex) {
            mount(preview);
            mount(err, errorBox(ex));
          }
        }),
        button('Cancel', () => close()),
        h('button', { type: 'submit', class: 'primary' }, t ? 'Save' : 'Create')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { name: f.name.value.trim(), locale: f.locale.value.trim(), channel: f.channel.value, subject: f.subject.value, text: f.text.value, html: f.html.value };
      try {
        const saved = t ? await patch(`/api/notifications/templates/${seg(t.id)}`, body) : await post('/api/notifications/templates', body);
        toast(t ? 'Template saved.' : 'Template created.');
        close(saved);
      } catch (ex) {
        mount(err, errorBox(ex));
      }
    });
    return form;
  });
}

/** Previews a stored template (its locale fallback included) with data. */
function storedPreview(t) {
  const locale = input({ name: 'locale', value: t.locale || '' });
  const data = h('textarea', { name: 'data', rows: 4, spellcheck: 'false', value: '{}' });
  return dialog(`Preview ${t.name}`, (close) => {
    const out = h('div', { role: 'status', 'aria-live': 'polite' });
    const form = h('form', { class: 'stack' },
      field('Locale', locale, { hint: 'A send in de-AT uses de-AT, else de, else the default.' }),
      field('Data (JSON)', data),
      out,
      h('div', { class: 'actions end' }, button('Close', () => close()), h('button', { type: 'submit', class: 'primary' }, 'Preview')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const res = await post('/api/notifications/templates/preview', { template: t.name, locale: locale.value.trim(), data: parseJson(data.value, 'Data', {}) });
        mount(out, previewOut(res));
      } catch (ex) {
        mount(out, errorBox(ex));
      }
    });
    return form;
  });
}

async function removeTemplate(t, after) {
  if (!(await confirm(`Delete ${t.name}?`, `The ${t.locale || 'default'} ${t.channel || 'any-channel'} variant is deleted; sends naming it fall back to another variant or fail.`))) return;
  try {
    await del(`/api/notifications/templates/${seg(t.id)}`);
    toast('Template deleted.');
    after();
  } catch (err) {
    failed(err);
  }
}
