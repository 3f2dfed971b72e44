// Settings, the form sections: the application (`meta`, request-log retention), mail (SMTP,
// a test email), files (S3, a connection test) and limits (rate-limit rules, batch, client
// IPs).

import { post } from '../api.js';
import { h, mount, field, input, select, button, formDialog, uid } from '../ui.js';
import { settingsForm, fieldset, s3Fields, testS3 } from './settings_common.js';

export function application(ctx, body, s) {
  const meta = s.meta || {};
  const logs = s.logs || {};
  const accent = input({ type: 'color', name: 'meta.accentColor', value: meta.accentColor || '#1055c9', style: 'width: 5rem; height: 2.4rem; padding: .15rem' });
  mount(body, settingsForm((f) => [
    fieldset('Application',
      h('div', { class: 'grid2' },
        f.text('meta.appName', 'Application name', meta.appName, { hint: 'Shown in emails and in the default backup names.' }),
        f.text('meta.appURL', 'Application URL', meta.appURL, { props: { type: 'url' }, hint: 'The public address; links in emails point here.' })),
      h('div', { class: 'grid2' },
        f.add('meta.accentColor', 'Accent colour', accent, () => accent.value),
        f.check('meta.hideControls', 'Hide collection create and edit controls', meta.hideControls, { hint: 'PocketBase\'s switch for production dashboards.' }))),
    fieldset('Request logs',
      h('div', { class: 'grid2' },
        f.number('logs.maxDays', 'Days to keep request logs', logs.maxDays, { props: { min: 0 }, hint: '0 turns request logging off and deletes every stored row.' }),
        f.choice('logs.minLevel', 'Keep', [[0, 'Every request'], [8, 'Failures only (status 400 and above)']], logs.minLevel, { numeric: true })),
      f.check('logs.logIP', 'Store client IP addresses', logs.logIP),
      f.check('logs.logAuthId', 'Store the caller\'s record or key id', logs.logAuthId)),
  ]));
}

export function mail(ctx, body, s) {
  const meta = s.meta || {};
  const smtp = s.smtp || {};
  const out = h('div', { class: 'grow' });
  const test = button('Send test email', () => sendTestEmail(out));
  mount(body,
    settingsForm((f) => [
      fieldset('Sender',
        h('div', { class: 'grid2' },
          f.text('meta.senderName', 'Sender name', meta.senderName),
          f.text('meta.senderAddress', 'Sender address', meta.senderAddress, { props: { type: 'email' } }))),
      fieldset('SMTP server',
        f.check('smtp.enabled', 'Send email through this SMTP server', smtp.enabled, { hint: 'An email provider configured in keel.toml ([[notify.providers]]) takes precedence.' }),
        h('div', { class: 'grid2' },
          f.text('smtp.host', 'SMTP host', smtp.host),
          f.number('smtp.port', 'SMTP port', smtp.port, { props: { min: 1, max: 65535 } }),
          f.text('smtp.username', 'SMTP username', smtp.username, { hint: 'No authentication when empty.' }),
          f.secret('smtp.password', 'SMTP password'),
          f.choice('smtp.authMethod', 'Authentication method', [['', 'PLAIN (default)'], ['PLAIN', 'PLAIN'], ['LOGIN', 'LOGIN']], smtp.authMethod || ''),
          f.text('smtp.localName', 'Local name (EHLO)', smtp.localName, { hint: 'Empty: localhost.' })),
        f.check('smtp.tls', 'Implicit TLS (port 465)', smtp.tls, { hint: 'Off: plain SMTP upgraded with STARTTLS when the server offers it.' }),
        f.textarea('smtp.caCert', 'CA certificate (PEM)', smtp.caCert, { hint: 'Only for a server whose certificate is signed by a private CA.' })),
    ], { extra: [test] }),
    h('div', { class: 'toolbar', style: 'margin-top: .75rem' }, out),
    h('p', { class: 'small muted' }, 'The test email goes through the saved settings: save your changes first.'));
}

async function sendTestEmail(out) {
  const email = input({ type: 'email', name: 'email', required: true, autocomplete: 'email' });
  const template = select({ name: 'template' }, [
    ['verification', 'Verification'], ['password-reset', 'Password reset'], ['email-change', 'Email change'],
    ['otp', 'One-time code'], ['login-alert', 'New sign-in alert'],
  ], 'verification');
  const collection = input({ name: 'collection', placeholder: '_superusers', autocomplete: 'off' });
  const sent = await formDialog('Send a test email', () => h('div', null,
    field('Email address', email, { hint: 'Where to send it.' }),
    field('Template', template),
    field('Auth collection', collection, { hint: 'Whose template to use; _superusers when empty.' })), async () => {
    await post('/api/settings/test/email', { email: email.value.trim(), template: template.value, collection: collection.value.trim() || undefined });
    return email.value.trim();
  }, 'Send');
  if (sent) mount(out, h('p', { class: 'notice', role: 'status' }, `A test email was sent to ${sent}.`));
}

export function files(ctx, body, s) {
  const out = h('div');
  mount(body,
    settingsForm((f) => [
      fieldset('File storage on S3',
        h('p', { class: 'small muted', style: 'margin-top: 0' }, 'Off: files uploaded to records are kept in the data dir (storage/). Switching does not move existing files.'),
        s3Fields(f, 's3', s.s3)),
    ], { extra: [testS3('storage', out)] }),
    h('p', { class: 'small muted' }, 'The test uses the saved settings: save your changes first.'),
    out);
}

export function limits(ctx, body, s) {
  const rl = s.rateLimits || {};
  const batch = s.batch || {};
  const proxy = s.trustedProxy || {};
  mount(body, settingsForm((f) => {
    const rules = rulesEditor(rl.rules || []);
    f.custom('rateLimits.rules', rules);
    return [
      fieldset('Rate limits',
        f.check('rateLimits.enabled', 'Enable rate limits', rl.enabled),
        h('p', { class: 'small muted' }, 'A label is collection:action or *:action (list, view, create, update, delete, auth), METHOD /path, or a /path prefix; the most specific matching rule applies. Past the limit a client gets 429.'),
        rules.el,
        f.list('rateLimits.excludedIPs', 'Excluded IPs', rl.excludedIPs, { hint: 'Never limited; separate with commas.' })),
      fieldset('Batch requests (/api/batch)',
        f.check('batch.enabled', 'Enable batch requests', batch.enabled),
        h('div', { class: 'grid2' },
          f.number('batch.maxRequests', 'Most requests in one batch', batch.maxRequests, { props: { min: 1 } }),
          f.number('batch.timeout', 'Timeout (seconds)', batch.timeout, { props: { min: 1 } }),
          f.number('batch.maxBodySize', 'Largest body (bytes)', batch.maxBodySize, { props: { min: 0 }, hint: '0: the server\'s max_body_bytes.' }))),
      fieldset('Client IP addresses',
        f.list('trustedProxy.headers', 'Trusted proxy headers', proxy.headers, { hint: 'e.g. X-Forwarded-For; set it only behind a proxy, or clients could choose their own address.' }),
        f.check('trustedProxy.useLeftmostIP', 'Use the leftmost IP of the header', proxy.useLeftmostIP),
        f.list('superuserIPs', 'Superuser IPs', s.superuserIPs, { hint: 'IPs or CIDR subnets superusers may act from; empty: anywhere. A wrong value locks you out.' })),
    ];
  }));
}

/** The rate-limit rules, one editable row each. */
function rulesEditor(initial) {
  const rows = [];
  const list = h('div');
  const el = h('div', null, list, button('Add rule', () => {
    add({ label: '', maxRequests: 60, duration: 60, audience: '' });
    rows[rows.length - 1].label.focus();
  }));
  const slot = () => h('small', { id: uid('err'), style: 'color: var(--danger)', hidden: true });

  function add(rule) {
    const row = {
      label: input({ name: 'label', value: rule.label, autocomplete: 'off' }),
      maxRequests: input({ type: 'number', name: 'maxRequests', value: rule.maxRequests, min: 1 }),
      duration: input({ type: 'number', name: 'duration', value: rule.duration, min: 1 }),
      audience: select({ name: 'audience' }, [['', 'Everyone'], ['@guest', 'Guests'], ['@auth', 'Signed in']], rule.audience),
      slots: { label: slot(), maxRequests: slot(), duration: slot(), audience: slot() },
    };
    rows.push(row);
    draw();
  }

  function draw() {
    mount(list, rows.map((row, i) => {
      const cell = (name, label) => {
        const f = field(label, row[name]);
        f.append(row.slots[name]);
        return f;
      };
      return h('div', { role: 'group', 'aria-label': `Rule ${i + 1}`, style: 'display: grid; grid-template-columns: 2fr 1fr 1fr 1fr auto; gap: .5rem; align-items: end; border-bottom: 1px solid var(--line); margin-bottom: .5rem' },
        cell('label', 'Label'),
        cell('maxRequests', 'Max requests'),
        cell('duration', 'Per seconds'),
        cell('audience', 'Audience'),
        h('div', { class: 'field' }, button('Remove', () => {
          rows.splice(i, 1);
          draw();
        }, { 'aria-label': `Remove rule ${i + 1}` })));
    }));
    if (!rows.length) list.append(h('p', { class: 'empty' }, 'No rule: nothing is limited.'));
  }

  initial.forEach(add);
  if (!initial.length) draw();
  return {
    el,
    value: () => rows.map((r) => ({
      label: r.label.value.trim(),
      maxRequests: Number(r.maxRequests.value) || 0,
      duration: Number(r.duration.value) || 0,
      audience: r.audience.value,
    })),
    slots: () => rows.flatMap((r) => Object.keys(r.slots).map((k) => ({ control: r[k], slot: r.slots[k] }))),
    errorSlot(key) {
      const m = key.match(/^rateLimits\.rules\.(\d+)\.(\w+)$/);
      const row = m && rows[Number(m[1])];
      return row && row.slots[m[2]] ? { control: row[m[2]], slot: row.slots[m[2]] } : null;
    },
  };
}
