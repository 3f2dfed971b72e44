// Differential test: the same steps against PocketBase and Keel, responses compared by shape.
//
//   PB_URL=http://127.0.0.1:8090 KEEL_URL=http://127.0.0.1:8091 \
//   KEEL_SUPERUSER_EMAIL=... KEEL_SUPERUSER_PASSWORD=... node tests/sdk/differential.mjs
//
// Both servers must be fresh and share the superuser's credentials. Each step records the HTTP
// status and JSON body on each side; ids, timestamps, tokens and files' random suffixes are
// replaced by placeholders (the same value maps to the same placeholder on its side), then the
// two are compared: status, key sets (recursively), value types, values (after normalisation),
// error `data` field names and codes. Messages are recorded, never compared.
//
// Every difference not matched by differential_allowlist.mjs is printed and makes the exit code 1.
// `--json` prints every difference (allowed ones too) as JSON; `--dump` prints both sides' steps.

import { EventSource } from 'eventsource';
import PocketBase from 'pocketbase';
import { ALLOWLIST } from './differential_allowlist.mjs';

globalThis.EventSource ??= EventSource;

const WAIT_MS = 5_000;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (needs PB_URL, KEEL_URL, KEEL_SUPERUSER_EMAIL, KEEL_SUPERUSER_PASSWORD)`);
  return value.replace(/\/+$/, '');
}

const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

/** One server's run: the steps' recorded responses, by step name, in order. */
class Side {
  constructor(label, url) {
    this.label = label;
    this.url = url;
    this.steps = new Map();
    this.tokens = {};
  }

  /** Sends one request and records `{status, body}` under `name`; returns the parsed body. */
  async call(name, method, path, { body, token, form, raw } = {}) {
    const headers = {};
    if (token) headers.Authorization = this.tokens[token] ?? token;
    let payload;
    if (form) {
      payload = form;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(this.url + path, { method, headers, body: payload });
    const text = await res.text();
    let parsed = null;
    if (raw) {
      parsed = { contentType: (res.headers.get('content-type') ?? '').split(';')[0], length: text.length };
    } else if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = { '<not json>': text.slice(0, 200) };
      }
    }
    if (this.steps.has(name)) throw new Error(`step "${name}" recorded twice`);
    this.steps.set(name, { status: res.status, body: parsed });
    return { status: res.status, body: parsed };
  }

  record(name, value) {
    this.steps.set(name, { status: 0, body: value });
  }
}

function fileForm(fields, files = {}) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  for (const [k, [name, type, bytes]] of Object.entries(files)) form.append(k, new Blob([bytes], { type }), name);
  return form;
}

const autodates = [
  { name: 'created', type: 'autodate', onCreate: true, onUpdate: false },
  { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
];

async function waitFor(check, what) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The scenario. It only uses what a step returned on its own side. */
async function scenario(s, email, password) {
  await s.call('health', 'GET', '/api/health');

  // ---- superuser
  const su = await s.call('superuser auth-with-password', 'POST', '/api/collections/_superusers/auth-with-password', {
    body: { identity: email, password },
  });
  s.tokens.su = su.body?.token;
  await s.call('superuser auth-with-password wrong password', 'POST', '/api/collections/_superusers/auth-with-password', {
    body: { identity: email, password: 'wrong-password' },
  });
  await s.call('settings GET', 'GET', '/api/settings', { token: 'su' });
  await s.call('settings enable batch', 'PATCH', '/api/settings', { token: 'su', body: { batch: { enabled: true, maxRequests: 20 } } });
  await s.call('settings GET anonymous', 'GET', '/api/settings');

  // ---- collections
  const members = await s.call('collection create auth', 'POST', '/api/collections', {
    token: 'su',
    body: {
      name: 'members',
      type: 'auth',
      listRule: '@request.auth.id != ""',
      viewRule: '@request.auth.id != ""',
      createRule: '',
      updateRule: 'id = @request.auth.id',
      deleteRule: null,
      fields: [{ name: 'nick', type: 'text', max: 30 }, ...autodates],
      passwordAuth: { enabled: true, identityFields: ['email'] },
    },
  });
  const membersId = members.body?.id;
  const secrets = await s.call('collection create base (superuser only)', 'POST', '/api/collections', {
    token: 'su',
    body: { name: 'secrets', type: 'base', fields: [{ name: 'code', type: 'text' }, ...autodates] },
  });
  const secretsId = secrets.body?.id;
  const posts = await s.call('collection create base', 'POST', '/api/collections', {
    token: 'su',
    body: {
      name: 'posts',
      type: 'base',
      listRule: '',
      viewRule: '',
      createRule: '',
      updateRule: '',
      deleteRule: '',
      fields: [
        { name: 'title', type: 'text', required: true, min: 3, max: 40, pattern: '^[A-Za-z0-9 ]+$' },
        { name: 'body', type: 'editor' },
        { name: 'count', type: 'number', min: 0, max: 10, onlyInt: true },
        { name: 'contact', type: 'email' },
        { name: 'site', type: 'url' },
        { name: 'status', type: 'select', values: ['draft', 'live'], maxSelect: 1 },
        { name: 'author', type: 'relation', collectionId: membersId, maxSelect: 1 },
        { name: 'secret', type: 'relation', collectionId: secretsId, maxSelect: 1 },
        { name: 'doc', type: 'file', maxSelect: 1, maxSize: 1000, mimeTypes: ['image/png'] },
        { name: 'private', type: 'file', maxSelect: 1, protected: true },
        { name: 'meta', type: 'json', maxSize: 30 },
        { name: 'flag', type: 'bool' },
        ...autodates,
      ],
    },
  });
  await s.call('collection create view', 'POST', '/api/collections', {
    token: 'su',
    body: { name: 'post_titles', type: 'view', listRule: '', viewRule: '', viewQuery: 'SELECT id, title, count FROM posts' },
  });
  await s.call('collection create bad name', 'POST', '/api/collections', {
    token: 'su',
    body: { name: 'bad name!', type: 'base', fields: [] },
  });
  await s.call('collection create duplicate', 'POST', '/api/collections', {
    token: 'su',
    body: { name: 'posts', type: 'base', fields: [] },
  });
  await s.call('collection view', 'GET', '/api/collections/posts', { token: 'su' });
  await s.call('collection view anonymous', 'GET', '/api/collections/posts');
  await s.call('collection view missing', 'GET', '/api/collections/nope', { token: 'su' });

  // ---- auth records
  await s.call('auth-methods', 'GET', '/api/collections/members/auth-methods');
  const alice = await s.call('member create', 'POST', '/api/collections/members/records', {
    body: { email: 'alice@example.com', password: 'alice-password-1', passwordConfirm: 'alice-password-1', nick: 'alice' },
  });
  await s.call('member create mismatched password', 'POST', '/api/collections/members/records', {
    body: { email: 'bob@example.com', password: 'bob-password-1', passwordConfirm: 'nope-nope-nope' },
  });
  await s.call('member create short password bad email', 'POST', '/api/collections/members/records', {
    body: { email: 'not-an-email', password: 'x', passwordConfirm: 'x' },
  });
  const login = await s.call('auth-with-password', 'POST', '/api/collections/members/auth-with-password', {
    body: { identity: 'alice@example.com', password: 'alice-password-1' },
  });
  s.tokens.alice = login.body?.token;
  await s.call('auth-with-password wrong', 'POST', '/api/collections/members/auth-with-password', {
    body: { identity: 'alice@example.com', password: 'wrong-password' },
  });
  await s.call('auth-with-password missing identity', 'POST', '/api/collections/members/auth-with-password', {
    body: { password: 'x' },
  });
  await s.call('auth-refresh', 'POST', '/api/collections/members/auth-refresh', { token: 'alice' });
  await s.call('auth-refresh anonymous', 'POST', '/api/collections/members/auth-refresh');
  await s.call('request-verification', 'POST', '/api/collections/members/request-verification', { body: { email: 'alice@example.com' } });
  await s.call('request-verification unknown', 'POST', '/api/collections/members/request-verification', { body: { email: 'nobody@example.com' } });
  await s.call('request-password-reset', 'POST', '/api/collections/members/request-password-reset', { body: { email: 'alice@example.com' } });
  await s.call('request-password-reset bad email', 'POST', '/api/collections/members/request-password-reset', { body: { email: 'nope' } });
  const aliceId = alice.body?.id;

  // ---- records CRUD and each validator
  const secret = await s.call('secret create', 'POST', '/api/collections/secrets/records', { token: 'su', body: { code: 'xyz' } });
  const valid = { title: 'First post', count: 3, contact: 'a@example.com', site: 'https://example.com', status: 'draft', meta: { a: [1, 2] } };
  const p1 = await s.call('record create', 'POST', '/api/collections/posts/records', {
    token: 'alice',
    body: { ...valid, author: aliceId, secret: secret.body?.id, body: '<p>Hello <b>world</b>, this is a rather long body text for the excerpt modifier to cut.</p>' },
  });
  const p1Id = p1.body?.id;
  for (const [title, count] of [['Second post', 5], ['Third post', 1], ['Fourth post', 9]]) {
    await s.call(`record create ${title}`, 'POST', '/api/collections/posts/records', { body: { title, count, author: aliceId } });
  }
  const invalid = {
    'text required': { count: 1 },
    'text min': { title: 'ab' },
    'text max': { title: 'x'.repeat(41) },
    'text pattern': { title: 'bad!title' },
    'number min': { title: 'Okay', count: -1 },
    'number max': { title: 'Okay', count: 11 },
    'number onlyInt': { title: 'Okay', count: 1.5 },
    email: { title: 'Okay', contact: 'not-an-email' },
    url: { title: 'Okay', site: 'not a url' },
    select: { title: 'Okay', status: 'archived' },
    'relation missing': { title: 'Okay', author: 'aaaaaaaaaaaaaaa' },
    'json maxSize': { title: 'Okay', meta: { long: 'x'.repeat(40) } },
    'unknown field ignored': { title: 'Okay', nosuchfield: 1 },
  };
  let n = 0;
  for (const [what, body] of Object.entries(invalid)) {
    // Unique titles keep every later list's order the same on both sides.
    if (body.title === 'Okay') body.title = `Okay ${++n}`;
    await s.call(`record create invalid: ${what}`, 'POST', '/api/collections/posts/records', { body });
  }
  const big = Buffer.alloc(2000, 1);
  await s.call('record create invalid: file maxSize', 'POST', '/api/collections/posts/records', {
    form: fileForm({ title: 'Okay' }, { doc: ['big.png', 'image/png', Buffer.concat([TINY_PNG, big])] }),
  });
  await s.call('record create invalid: file mimeTypes', 'POST', '/api/collections/posts/records', {
    form: fileForm({ title: 'Okay' }, { doc: ['note.txt', 'text/plain', Buffer.from('hello text')] }),
  });

  await s.call('record view', 'GET', `/api/collections/posts/records/${p1Id}`);
  await s.call('record view missing', 'GET', '/api/collections/posts/records/aaaaaaaaaaaaaaa');
  await s.call('record update', 'PATCH', `/api/collections/posts/records/${p1Id}`, { body: { count: 4, 'count+': 1, flag: true } });
  await s.call('record update invalid', 'PATCH', `/api/collections/posts/records/${p1Id}`, { body: { count: 100 } });

  // ---- list
  const list = (name, query, token) => s.call(name, 'GET', `/api/collections/posts/records?${query}`, { token });
  await list('list default', '');
  await list('list filter sort', 'filter=' + encodeURIComponent('count >= 3') + '&sort=-count,title');
  await list('list page perPage', 'sort=title&page=2&perPage=2');
  await list('list skipTotal', 'sort=title&perPage=2&skipTotal=1');
  await list('list bad filter', 'filter=' + encodeURIComponent('count >>> 3'));
  await list('list unknown field filter', 'filter=' + encodeURIComponent('nosuch = 1'));
  await list('list bad sort', 'sort=nosuch');
  await list('list fields', 'sort=title&fields=id,title,count');
  await list('list fields excerpt', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&fields=id,body:excerpt(20,true)');
  await list('list fields excerpt no ellipsis', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&fields=*,body:excerpt(10)');
  await list('list expand viewable as alice', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&expand=author', 'alice');
  await list('list expand author anonymous (not viewable)', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&expand=author');
  await list('list expand secret (superuser only) as alice', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&expand=secret,author', 'alice');
  await list('list expand as superuser', 'filter=' + encodeURIComponent(`id = "${p1Id}"`) + '&expand=secret,author&fields=id,expand.secret.code,expand.author.email', 'su');
  await s.call('record view expand', 'GET', `/api/collections/posts/records/${p1Id}?expand=author,secret`, { token: 'alice' });
  await s.call('view collection list', 'GET', '/api/collections/post_titles/records?sort=title');
  await s.call('view collection create refused', 'POST', '/api/collections/post_titles/records', { token: 'su', body: { title: 'x' } });
  await s.call('secrets list as alice', 'GET', '/api/collections/secrets/records', { token: 'alice' });
  await s.call('secrets view as alice', 'GET', `/api/collections/secrets/records/${secret.body?.id}`, { token: 'alice' });
  await s.call('members list anonymous', 'GET', '/api/collections/members/records');
  await s.call('members list as alice', 'GET', '/api/collections/members/records', { token: 'alice' });

  // ---- files
  const withFile = await s.call('record create with files', 'POST', '/api/collections/posts/records', {
    form: fileForm({ title: 'With file' }, { doc: ['pic.png', 'image/png', TINY_PNG], private: ['secret.png', 'image/png', TINY_PNG] }),
  });
  const fid = withFile.body?.id;
  const doc = withFile.body?.doc;
  const priv = withFile.body?.private;
  await s.call('file GET', 'GET', `/api/files/posts/${fid}/${doc}`, { raw: true });
  await s.call('file GET missing', 'GET', `/api/files/posts/${fid}/nope.png`);
  await s.call('protected file GET without token', 'GET', `/api/files/posts/${fid}/${priv}`);
  await s.call('file token anonymous', 'POST', '/api/files/token');
  const ft = await s.call('file token', 'POST', '/api/files/token', { token: 'alice' });
  await s.call('protected file GET with token', 'GET', `/api/files/posts/${fid}/${priv}?token=${ft.body?.token}`, { raw: true });
  await s.call('record update remove file', 'PATCH', `/api/collections/posts/records/${fid}`, { body: { 'doc-': [doc] } });

  // ---- batch
  await s.call('batch success', 'POST', '/api/batch', {
    body: {
      requests: [
        { method: 'POST', url: '/api/collections/posts/records', body: { title: 'Batch one' } },
        { method: 'PATCH', url: `/api/collections/posts/records/${p1Id}`, body: { count: 2 } },
      ],
    },
  });
  await s.call('batch failing item', 'POST', '/api/batch', {
    body: {
      requests: [
        { method: 'POST', url: '/api/collections/posts/records', body: { title: 'Batch two' } },
        { method: 'POST', url: '/api/collections/posts/records', body: { count: 1 } },
      ],
    },
  });
  await s.call('batch empty', 'POST', '/api/batch', { body: { requests: [] } });

  // ---- realtime (the SDK over EventSource)
  const pb = new PocketBase(s.url);
  pb.autoCancellation(false);
  const events = [];
  let unsubscribe;
  try {
    unsubscribe = await pb.collection('posts').subscribe('*', (e) => events.push(e));
    s.record('realtime subscribe', { clientId: typeof pb.realtime.clientId });
    const made = await s.call('realtime create', 'POST', '/api/collections/posts/records', { body: { title: 'Live post', count: 1 } });
    const rid = made.body?.id;
    await waitFor(() => events.find((e) => e.action === 'create'), 'create');
    await s.call('realtime update', 'PATCH', `/api/collections/posts/records/${rid}`, { body: { count: 2 } });
    await waitFor(() => events.find((e) => e.action === 'update'), 'update');
    await s.call('realtime delete', 'DELETE', `/api/collections/posts/records/${rid}`);
    await waitFor(() => events.find((e) => e.action === 'delete'), 'delete');
    for (const action of ['create', 'update', 'delete']) {
      s.record(`realtime event ${action}`, events.find((e) => e.action === action) ?? null);
    }
  } catch (err) {
    s.record('realtime subscribe', { error: String(err) });
  } finally {
    if (unsubscribe) await unsubscribe().catch(() => {});
    pb.realtime.unsubscribe().catch(() => {});
  }

  // Last, because PocketBase stores a record here and Keel does not (docs/compat.md).
  await s.call('record create invalid: number not a number', 'POST', '/api/collections/posts/records', {
    body: { title: 'Okay seven', count: 'seven' },
  });

  // ---- delete
  await s.call('record delete', 'DELETE', `/api/collections/posts/records/${p1Id}`);
  await s.call('record delete again', 'DELETE', `/api/collections/posts/records/${p1Id}`);
  await s.call('collection delete referenced', 'DELETE', '/api/collections/members', { token: 'su' });
  await s.call('collection delete view', 'DELETE', '/api/collections/post_titles', { token: 'su' });
}

// ---------------------------------------------------------------- normalisation

const DATE = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const JWT = /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/;
const RECORD_ID = /^[a-z0-9]{15}$/;
const COLLECTION_ID = /^(pbc|_pb_users_auth_|_pbc)_?[\w]*\d+$/;
const FIELD_ID = /^(text|number|bool|email|url|editor|date|autodate|select|file|relation|json|geoPoint|password)\d{5,}$/;
const FILE_NAME = /^(.+)_[a-z0-9]{10}\.(\w+)$/;

class Normaliser {
  constructor() {
    this.map = new Map();
  }

  placeholder(kind, value) {
    const key = `${kind}:${value}`;
    if (!this.map.has(key)) this.map.set(key, `<${kind}${[...this.map.keys()].filter((k) => k.startsWith(kind + ':')).length + 1}>`);
    return this.map.get(key);
  }

  string(s) {
    if (DATE.test(s)) return '<date>';
    if (JWT.test(s)) return '<token>';
    if (RECORD_ID.test(s)) return this.placeholder('id', s);
    if (COLLECTION_ID.test(s) || s === '_pb_users_auth_') return this.placeholder('collection', s);
    if (FIELD_ID.test(s)) return '<fieldId>';
    const file = FILE_NAME.exec(s);
    if (file) return `${file[1]}_<rand>.${file[2]}`;
    // Ids inside URLs, filters, index statements and the like.
    return s
      .replace(/\b[a-z0-9]{15}\b/g, (m) => this.placeholder('id', m))
      .replace(/pbc_\d+/g, (m) => this.placeholder('collection', m))
      .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<token>');
  }

  value(v) {
    if (typeof v === 'string') return this.string(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v && typeof v === 'object') {
      const out = {};
      // A collection field's id is generated differently on each side; only its presence counts.
      if ('hidden' in v && 'system' in v && 'type' in v && typeof v.id === 'string') v = { ...v, id: '<fieldId>' };
      for (const [k, x] of Object.entries(v)) out[this.string(k)] = this.value(x);
      return out;
    }
    return v;
  }
}

// ---------------------------------------------------------------- comparison

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

/** Pushes `{path, kind, pb, keel}` differences between `a` (PocketBase) and `b` (Keel). */
function compare(a, b, path, out) {
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) {
    out.push({ path, kind: 'type', pb: ta, keel: tb, pbValue: a, keelValue: b });
    return;
  }
  if (ta === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const k of ka) if (!(k in b)) out.push({ path: `${path}.${k}`, kind: 'missing key', pb: a[k] });
    for (const k of kb) if (!(k in a)) out.push({ path: `${path}.${k}`, kind: 'extra key', keel: b[k] });
    for (const k of ka) {
      if (!(k in b)) continue;
      // Messages are recorded but never compared.
      if (k === 'message' && typeof a[k] === 'string' && typeof b[k] === 'string') continue;
      compare(a[k], b[k], `${path}.${k}`, out);
    }
    return;
  }
  if (ta === 'array') {
    // Lists of named things (collection fields) are compared by name, their order once.
    const named = (l) => l.length > 0 && l.every((x) => x && typeof x === 'object' && typeof x.name === 'string');
    if (named(a) && named(b)) {
      const na = a.map((x) => x.name);
      const nb = b.map((x) => x.name);
      const byName = (l) => Object.fromEntries(l.map((x) => [x.name, x]));
      if (na.length === nb.length && na.every((n) => nb.includes(n)) && na.join() !== nb.join()) {
        out.push({ path, kind: 'order', pb: na, keel: nb });
      }
      compare(byName(a), byName(b), path, out);
      return;
    }
    if (a.length !== b.length) out.push({ path, kind: 'length', pb: a.length, keel: b.length });
    for (let i = 0; i < Math.min(a.length, b.length); i++) compare(a[i], b[i], `${path}[${i}]`, out);
    return;
  }
  if (a !== b) out.push({ path, kind: 'value', pb: a, keel: b });
}

function allowed(step, diff) {
  return ALLOWLIST.find(
    (rule) =>
      (rule.step === undefined || (rule.step instanceof RegExp ? rule.step.test(step) : rule.step === step)) &&
      (rule.path === undefined || (rule.path instanceof RegExp ? rule.path.test(diff.path) : rule.path === diff.path)) &&
      (rule.kind === undefined || rule.kind === diff.kind),
  );
}

async function main() {
  const email = process.env.KEEL_SUPERUSER_EMAIL;
  const password = process.env.KEEL_SUPERUSER_PASSWORD;
  if (!email || !password) throw new Error('KEEL_SUPERUSER_EMAIL and KEEL_SUPERUSER_PASSWORD must be set');
  const pb = new Side('pocketbase', requireEnv('PB_URL'));
  const keel = new Side('keel', requireEnv('KEEL_URL'));
  await scenario(pb, email, password);
  await scenario(keel, email, password);

  if (process.argv.includes('--dump')) {
    console.log(JSON.stringify({ pocketbase: Object.fromEntries(pb.steps), keel: Object.fromEntries(keel.steps) }, null, 2));
  }

  const na = new Normaliser();
  const nb = new Normaliser();
  const diffs = [];
  for (const [step, ra] of pb.steps) {
    const rb = keel.steps.get(step);
    if (!rb) {
      diffs.push({ step, path: '', kind: 'step missing on keel' });
      continue;
    }
    const out = [];
    if (ra.status !== rb.status) out.push({ path: 'status', kind: 'status', pb: ra.status, keel: rb.status });
    compare(na.value(ra.body), nb.value(rb.body), 'body', out);
    for (const d of out) diffs.push({ step, ...d });
  }

  const unexplained = [];
  let allowedCount = 0;
  for (const d of diffs) {
    const rule = allowed(d.step, d);
    if (rule) {
      d.allowed = rule.reason;
      allowedCount++;
    } else {
      unexplained.push(d);
    }
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(diffs, null, 2));
  const show = (v) => (v === undefined ? '' : JSON.stringify(v)?.slice(0, 160));
  for (const d of unexplained) {
    console.log(`DIFF [${d.step}] ${d.path} ${d.kind}: pocketbase=${show(d.pb)} keel=${show(d.keel)}`);
  }
  console.log(
    `${pb.steps.size} steps compared; ${diffs.length} differences, ${allowedCount} allowed (differential_allowlist.mjs), ${unexplained.length} unexplained`,
  );
  process.exitCode = unexplained.length > 0 ? 1 : 0;
  // Open EventSource handles must not keep the process alive.
  setTimeout(() => process.exit(process.exitCode), 100).unref();
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
