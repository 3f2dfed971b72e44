// Notifications, administration: topics (list, create, delete), rules (list, create, enable or
// disable, delete) and the "Send notification" form.

import { get, post, patch, del, seg } from '../api.js';
import {
  h, mount, field, input, button, table, toast, failed, confirm, formDialog, time, badge, short, parseJson,
} from '../ui.js';
import { csv, channelBoxes } from './notifications_common.js';

// ---------------------------------------------------------------------------------------------
// Topics

export async function topics({ ctx, body, reload }) {
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

export async function rules({ ctx, body, reload }) {
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

export function sendDialog() {
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
    const body = { to, data: parseJson(f.data.value, 'Data', {}), critical: f.critical.checked };
    if (f.template.value.trim()) Object.assign(body, { template: f.template.value.trim(), locale: f.locale.value.trim() || undefined });
    else Object.assign(body, { subject: f.subject.value, body: f.body.value });
    if (channels.values().length) body.channels = channels.values();
    const out = await post('/api/notifications/send', body);
    toast(`Sent to ${out.recipients.length} recipient${out.recipients.length === 1 ? '' : 's'}.`);
    return out;
  }, 'Send');
}
