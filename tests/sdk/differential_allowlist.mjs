// Deliberate differences between Keel and PocketBase 0.40.6 that differential.mjs accepts.
//
// Each rule matches differences by `step` (string or RegExp), `path` (string or RegExp, e.g.
// "body.data.title.code") and `kind` ("status", "missing key", "extra key", "type", "value",
// "length"); every field left out matches anything. Every rule has a `reason`, and every rule
// is described in docs/compat.md. "not yet: …" marks a gap to close, not a design decision.

const SETTINGS = /^settings (GET|enable batch)$/;

export const ALLOWLIST = [
  // ---- deliberate
  {
    step: /^list (bad filter|unknown field filter|bad sort)$/,
    path: /^body\.data\.(filter|sort)$/,
    kind: 'extra key',
    reason: 'Keel names the invalid filter/sort and where it fails in data; PocketBase sends an empty data object',
  },
  {
    step: 'record create invalid: number not a number',
    reason: 'Keel refuses a non-numeric string for a number field (validation_invalid_number); PocketBase silently stores 0',
  },
  { step: SETTINGS, path: 'body.meta.appName', kind: 'value', reason: 'default application name: "Keel" instead of "Acme"' },
  { step: SETTINGS, path: 'body.meta.appURL', kind: 'value', reason: "default application URL follows Keel's default listen address" },
  { step: SETTINGS, path: 'body.logs.maxDays', kind: 'value', reason: 'Keel keeps request logs 7 days by default (PocketBase 5)' },
  { step: SETTINGS, path: /^body\.smtp\.(password|caCert)$/, kind: 'extra key', reason: 'Keel extensions: a write-only password shown as "" and a custom CA for the SMTP server' },
  { step: SETTINGS, path: /^body\.changes$/, kind: 'extra key', reason: 'Keel extension: whether collection changes need a review, and its quorums (docs/governance.md)' },
  { step: SETTINGS, path: /^body\.(s3|backups\.s3)\.secret$/, kind: 'extra key', reason: 'Keel shows the write-only S3 secrets as "" (like smtp.password), so a settings form can send them back blank to keep them' },
  { step: /^collection (view|create)/, path: /^body\.fields\.\w+\.encrypted$/, kind: 'extra key', reason: "Keel extension: fields encrypted at rest with the vault's key" },
  { step: /^auth-methods$/, path: 'body.ldap', kind: 'extra key', reason: 'Keel extension: sign-in against an LDAP directory' },
  { step: 'realtime subscribe', path: 'body.clientId', kind: 'value', reason: 'both are opaque strings (the type is compared)' },
  { step: 'collection create auth', path: 'body.ldap', kind: 'extra key', reason: "Keel extension: an auth collection's LDAP sign-in options" },
];
