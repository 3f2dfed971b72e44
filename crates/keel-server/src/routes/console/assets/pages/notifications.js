// Notifications: the history of sent notifications (everyone's with notifications:read, as a
// superuser has; otherwise the caller's own inbox) with each one's deliveries; templates
// (list, create, edit, delete, Preview); topics and rules (list, create, delete); and a
// "Send notification" form.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, select, button, header, table, pager, toast, errorBox, failed,
  dialog, confirm, formDialog, time, badge, short, tabs, loading,
} from '../ui.js';

const SECTIONS = [['history', 'History'], ['templates', 'Templates'], ['topics', 'Topics'], ['rules', 'Rules']];
const CHANNELS = ['inapp', 'email', 'sms', 'chat', 'push'];
const PER_PAGE = 20;

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

const csv = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

function parseJson(text, what) {
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch (ex) {
    throw new Error(`${what}: not valid JSON (${ex.message}).`);
  }
}

function channelBoxes(chosen) {
  const boxes = CHANNELS.map((c) => h('input', { type: 'checkbox', name: 'channel', value: c, checked: chosen.includes(c) }));
  return {
    node: h('fieldset', null, h('legend', null, 'Channels'), h('div', { class: 'actions' }, boxes.map((b) => field(b.value, b)))),
    values: () => boxes.filter((b) => b.checked).map((b) => b.value),
  };
}

function recipient(n) {
  let addr = n.address;
  if (typeof addr === 'string' && addr.startsWith('{')) {
    try {
      addr = JSON.parse(addr);
    } catch {
      // shown as it is
    }
  }
  if (addr && typeof addr === 'object') return `${addr.address || addr.token || ''} (${addr.kind || 'address'})`;
  if (addr) return String(addr);
  if (n.recordRef) return `${n.collectionRef}/${n.recordRef}`;
  return n.topic ? `topic ${n.topic}` : '—';
}

// ---------------------------------------------------------------------------------------------
// History

async function history({ ctx, body }) {
  ctx.title('History · Notifications');
  const page = Number(ctx.query.page) || 1;
  const filterIn = input({ name: 'filter', value: ctx.query.filter || '', placeholder: "subject ~ 'deploy' && status = 'sent'" });
  const form = h('form', { class: 'toolbar', role: 'search' }, field('Filter', filterIn, { class: 'grow' }), h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = filterIn.value.trim();
    ctx.go(f ? `#/notifications/history?filter=${encodeURIComponent(f)}` : '#/notifications/history');
  });
  const results = h('div', null, loading());
  mount(body,
    h('p', { class: 'muted' }, 'Every notification sent, one per recipient, newest first: everyone\'s when you hold notifications:read (superusers do), otherwise your own inbox. Open one to see its deliveries.'),
    form, results);
  try {
    const out = await get('/api/notifications', { page, perPage: PER_PAGE, sort: '-created', skipTotal: 1, filter: ctx.query.filter });
    if (!ctx.isCurrent()) return;
    mount(results, table({
      caption: 'Notifications',
      rows: out.items,
      empty: 'No notification matches.',
      onOpen: notificationDialog,
      rowLabel: (n) => `Notification ${n.subject || n.id} to ${recipient(n)}`,
      columns: [
        { label: 'Sent', render: (n) => time(n.created) },
        { label: 'To', render: (n) => h('span', { class: 'cell' }, recipient(n)) },
        { label: 'Subject', render: (n) => h('span', { class: 'cell' }, n.subject || short(n.body, 60)) },
        { label: 'Channels', render: (n) => (n.channels || []).join(', ') },
        { label: 'Status', render: (n) => badge(n.status || 'unknown') },
        { label: 'Read', render: (n) => (n.readAt ? time(n.readAt) : h('span', { class: 'muted' }, 'no')) },
        { label: 'Flags', render: (n) => [n.critical ? badge('critical', 'warn') : null, n.ackRequired ? badge(n.ackedAt ? 'acked' : 'ack required', n.ackedAt ? 'ok' : 'warn') : null] },
      ],
    }), pager({
      page, perPage: PER_PAGE, count: out.items.length, total: -1,
      onPage: (p) => ctx.go(`#/notifications/history?page=${p}${ctx.query.filter ? `&filter=${encodeURIComponent(ctx.query.filter)}` : ''}`),
    }));
  } catch (err) {
    if (ctx.isCurrent()) mount(results, errorBox(err));
  }
}

function notificationDialog(n) {
  const deliveries = h('div', null, loading());
  dialog(n.subject || 'Notification', (close) => h('div', null,
    h('dl', { class: 'kv' },
      h('dt', null, 'To'), h('dd', null, recipient(n)),
      h('dt', null, 'Sent'), h('dd', null, time(n.created)),
      n.topic ? [h('dt', null, 'Topic'), h('dd', null, n.topic)] : null,
      n.template ? [h('dt', null, 'Template'), h('dd', null, n.template)] : null,
      h('dt', null, 'Status'), h('dd', null, badge(n.status || 'unknown')),
      h('dt', null, 'Read'), h('dd', null, time(n.readAt)),
      n.ackRequired ? [h('dt', null, 'Acknowledged'), h('dd', null, time(n.ackedAt))] : null),
    h('h3', null, 'Body'), h('pre', null, n.body || ''),
    Object.keys(n.data || {}).length ? [h('h3', null, 'Data'), h('pre', null, JSON.stringify(n.data, null, 2))] : null,
    h('h3', null, 'Deliveries'), deliveries,
    h('div', { class: 'actions end' }, button('Close', () => close()))));
  get(`/api/notifications/${seg(n.id)}/deliveries`).then((out) => {
    mount(deliveries, table({
      caption: 'Deliveries',
      rows: out.items,
      empty: 'No delivery (in-app only, or none due yet).',
      columns: [
        { label: 'Channel', render: (d) => d.channel },
        { label: 'Status', render: (d) => badge(d.status) },
        { label: 'Provider', render: (d) => d.provider || '—' },
        { label: 'Attempts', class: 'num', render: (d) => String(d.attempts ?? 0) },
        { label: 'Due', render: (d) => time(d.dueAt) },
        { label: 'Updated', render: (d) => time(d.updated) },
        { label: 'Error', render: (d) => d.error || '' },
      ],
    }));
  }, (err) => mount(deliveries, errorBox(err)));
}

// ---------------------------------------------------------------------------------------------
// Templates

async function templates({ ctx, body, reload }) {
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
              data: parseJson(f.data.value, 'Preview data'),
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
        const res = await post('/api/notifications/templates/preview', { template: t.name, locale: locale.value.trim(), data: parseJson(data.value, 'Data') });
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

// ---------------------------------------------------------------------------------------------
// Topics

async function topics({ ctx, body, reload }) {
  ctx.title('Topics · Notifications');
  const out = await get('/api/notifications/topics');
  if (!ctx.isCurrent()) return;
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow', style: 'margin:0' }, 'A send or a rule to topic:NAME reaches every subscriber; a digest topic collects messages into one per window.'),
      button('New topic', () => topicDialog().then((t) => t && reload()))),
    table({
      caption: 'Topics',
      rows: [...out.items].sort((a, b) => a.name.localeCompare(b.name)),
      empty: 'No topic yet.',
      columns: [
        { label: 'Name', render: (t) => h('span', { class: 'mono' }, t.name) },
        { label: 'Description', render: (t) => t.description || '' },
        { label: 'Digest', render: (t) => (t.digestSecs ? `every ${t.digestSecs} s` : h('span', { class: 'muted' }, 'no')) },
        { label: 'Created', render: (t) => time(t.created) },
        { label: '', render: (t) => button('Delete', () => removeTopic(t, reload), { class: 'danger', 'aria-label': `Delete topic ${t.name}` }) },
      ],
    }));
}

function topicDialog() {
  const name = input({ name: 'name', required: true });
  const description = input({ name: 'description' });
  const digest = input({ type: 'number', name: 'digestSecs', min: 0, value: '0' });
  return formDialog('New topic', () => [
    field('Name', name),
    field('Description', description),
    field('Digest window (seconds)', digest, { hint: '0 sends each message at once.' }),
  ], async () => {
    const t = await post('/api/notifications/topics', { name: name.value.trim(), description: description.value, digestSecs: Number(digest.value) || 0 });
    toast(`Topic ${t.name} created.`);
    return t;
  }, 'Create');
}

async function removeTopic(t, after) {
  if (!(await confirm(`Delete topic ${t.name}?`, 'Its subscriptions go with it.'))) return;
  try {
    await del(`/api/notifications/topics/${seg(t.name)}`);
    toast('Topic deleted.');
    after();
  } catch (err) {
    failed(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Rules

async function rules({ ctx, body, reload }) {
  ctx.title('Rules · Notifications');
  const out = await get('/api/notifications/rules');
  if (!ctx.isCurrent()) return;
  mount(body,
    h('div', { class: 'toolbar' },
      h('p', { class: 'muted grow', style: 'margin:0' }, 'A rule turns an event (a record change, a job or run ending, …) into a notification.'),
      button('New rule', () => ruleDialog().then((r) => r && reload()))),
    table({
      caption: 'Rules',
      rows: out.items,
      empty: 'No rule yet.',
      columns: [
        { label: 'Event', render: (r) => h('span', { class: 'mono' }, r.event) },
        { label: 'Collection', render: (r) => r.collection || '' },
        { label: 'Filter', render: (r) => h('span', { class: 'cell mono' }, r.filter || '') },
        { label: 'Message', render: (r) => h('span', { class: 'cell' }, r.template ? `template ${r.template}` : r.subject || short(r.body, 50)) },
        { label: 'Recipients', render: (r) => (r.recipients || []).join(', ') },
        { label: 'Channels', render: (r) => (r.channels || []).join(', ') || 'default' },
        { label: 'Active', render: (r) => badge(r.active ? 'active' : 'off', r.active ? 'ok' : 'cancelled') },
        {
          label: 'Actions',
          render: (r) => h('div', { class: 'actions' },
            button(r.active ? 'Disable' : 'Enable', () => toggleRule(r, reload), { 'aria-label': `${r.active ? 'Disable' : 'Enable'} rule ${r.event}` }),
            button('Delete', () => removeRule(r, reload), { class: 'danger', 'aria-label': `Delete rule ${r.event}` })),
        },
      ],
    }));
}

function ruleDialog() {
  const f = {
    event: input({ name: 'event', required: true, list: 'notify-events', placeholder: 'record.created' }),
    collection: input({ name: 'collection' }),
    filter: input({ name: 'filter', placeholder: 'priority = "high"' }),
    template: input({ name: 'template' }),
    subject: input({ name: 'subject', placeholder: 'New ticket: {{ record.title }}' }),
    body: h('textarea', { name: 'body', rows: 3 }),
    recipients: input({ name: 'recipients', required: true, placeholder: '@record.owner, USER_ID, topic:oncall' }),
    ack: h('input', { type: 'checkbox', name: 'ackRequired' }),
    critical: h('input', { type: 'checkbox', name: 'critical' }),
  };
  const channels = channelBoxes(['inapp']);
  const events = ['record.created', 'record.updated', 'record.deleted', 'job.completed', 'job.failed', 'job.dead', 'schedule.missed',
    'run.started', 'run.awaiting_approval', 'run.succeeded', 'run.failed', 'run.cancelled', 'run.interrupted', 'webhook.disabled'];
  return formDialog('New rule', () => [
    field('Event', f.event), h('datalist', { id: 'notify-events' }, events.map((e) => h('option', { value: e }))),
    h('div', { class: 'grid2' }, field('Collection', f.collection, { hint: 'For record events.' }), field('Filter', f.filter)),
    field('Template', f.template, { hint: 'A stored template\'s name, or give a subject and body.' }),
    field('Subject', f.subject),
    field('Body', f.body, { hint: 'Rendered with {event, record}.' }),
    field('Recipients', f.recipients, { hint: 'Comma-separated: user ids, @record.<field>, topic:<name>.' }),
    channels.node,
    h('div', { class: 'actions' }, field('Acknowledgement required', f.ack), field('Critical', f.critical)),
  ], async () => {
    const body = {
      event: f.event.value.trim(), collection: f.collection.value.trim(), filter: f.filter.value,
      recipients: csv(f.recipients.value), channels: channels.values(), ackRequired: f.ack.checked, critical: f.critical.checked,
    };
    if (f.template.value.trim()) body.template = f.template.value.trim();
    else Object.assign(body, { subject: f.subject.value, body: f.body.value });
    const r = await post('/api/notifications/rules', body);
    toast('Rule created.');
    return r;
  }, 'Create');
}

async function toggleRule(r, after) {
  try {
    await patch(`/api/notifications/rules/${seg(r.id)}`, { active: !r.active });
    toast(r.active ? 'Rule disabled.' : 'Rule enabled.');
    after();
  } catch (err) {
    failed(err);
  }
}

async function removeRule(r, after) {
  if (!(await confirm('Delete this rule?', `Events ${r.event} stop notifying through it.`))) return;
  try {
    await del(`/api/notifications/rules/${seg(r.id)}`);
    toast('Rule deleted.');
    after();
  } catch (err) {
    failed(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Send

function sendDialog() {
  const f = {
    users: input({ name: 'users', placeholder: 'RECORD_ID, …' }),
    collection: input({ name: 'collection', value: 'users' }),
    emails: input({ name: 'emails', placeholder: 'ann@example.com, …' }),
    phones: input({ name: 'phones', placeholder: '+14155550100, …' }),
    topic: input({ name: 'topic' }),
    template: input({ name: 'template' }),
    locale: input({ name: 'locale' }),
    subject: input({ name: 'subject' }),
    body: h('textarea', { name: 'body', rows: 4 }),
    data: h('textarea', { name: 'data', rows: 3, spellcheck: 'false', value: '{}' }),
    critical: h('input', { type: 'checkbox', name: 'critical' }),
  };
  const channels = channelBoxes([]);
  const note = h('p', { class: 'muted small' }, 'With no channel ticked: in-app for users and topics, email for addresses, SMS for phones.');
  return formDialog('Send notification', () => [
    h('fieldset', null, h('legend', null, 'To'),
      h('div', { class: 'grid2' }, field('User ids', f.users, { hint: 'Comma-separated.' }), field('Of collection', f.collection)),
      h('div', { class: 'grid2' }, field('Email addresses', f.emails), field('Phone numbers', f.phones, { hint: 'E.164.' })),
      field('Topic', f.topic, { hint: 'Every subscriber.' })),
    h('div', { class: 'grid2' }, field('Template', f.template, { hint: 'Or a subject and body below.' }), field('Locale', f.locale)),
    field('Subject', f.subject),
    field('Body', f.body),
    field('Data (JSON)', f.data, { hint: 'Values for {{ … }} in the subject, body or template.' }),
    channels.node, note,
    field('Critical (bypass quiet hours and digests)', f.critical),
  ], async () => {
    const to = {};
    if (csv(f.users.value).length) Object.assign(to, { users: csv(f.users.value), collection: f.collection.value.trim() || 'users' });
    if (csv(f.emails.value).length) to.emails = csv(f.emails.value);
    if (csv(f.phones.value).length) to.phones = csv(f.phones.value);
    if (f.topic.value.trim()) to.topic = f.topic.value.trim();
    const body = { to, data: parseJson(f.data.value, 'Data'), critical: f.critical.checked };
    if (f.template.value.trim()) Object.assign(body, { template: f.template.value.trim(), locale: f.locale.value.trim() || undefined });
    else Object.assign(body, { subject: f.subject.value, body: f.body.value });
    if (channels.values().length) body.channels = channels.values();
    const out = await post('/api/notifications/send', body);
    toast(`Sent to ${out.recipients.length} recipient${out.recipients.length === 1 ? '' : 's'}.`);
    return out;
  }, 'Send');
}
