// The console's shell: the hash router, the layout (navigation, who is signed in, the live
// indicator) and the session's life (refresh on start, sign-out, expiry).

import { session, post, whenSessionExpires, seg } from './api.js';
import { h, mount, button, toast, errorBox } from './ui.js';
import * as realtime from './realtime.js';

/**
 * Routes: a pattern of `#/…` with `:params`, the page module, and whether it needs a session.
 * Each module's default export is `render(ctx)`; ctx = {main, params, query, cleanup(fn),
 * go(hash), title(text)}.
 */
const ROUTES = [
  ['/login', 'login', false],
  ['/auth/:action/:token', 'auth_links', false],
  ['/install/:token', 'install', false],
  ['/', 'dashboard', true],
  ['/collections', 'collections', true],
  ['/collections/new', 'collection_form', true],
  ['/collections/:name/edit', 'collection_form', true],
  ['/collections/:name', 'records', true],
  ['/collections/:name/records/new', 'record_form', true],
  ['/collections/:name/records/:id', 'record_form', true],
  ['/jobs', 'jobs', true],
  ['/jobs/:queue', 'jobs', true],
  ['/jobs/:queue/:id', 'jobs', true],
  ['/schedules', 'schedules', true],
  ['/schedules/:id', 'schedules', true],
  ['/ops', 'ops', true],
  ['/ops/:section', 'ops', true],
  ['/ops/:section/:id', 'ops', true],
  ['/identity', 'identity', true],
  ['/identity/:section', 'identity', true],
  ['/identity/:section/:id', 'identity', true],
  ['/logs', 'logs', true],
  ['/logs/:id', 'logs', true],
  ['/webhooks', 'webhooks', true],
  ['/webhooks/:id', 'webhooks', true],
  ['/notifications', 'notifications', true],
  ['/notifications/:section', 'notifications', true],
  ['/vault', 'vault', true],
  ['/vault/:id', 'vault', true],
  ['/settings', 'settings', true],
  ['/settings/:section', 'settings', true],
];

const NAV = [
  ['#/', 'Overview'],
  ['#/collections', 'Collections'],
  ['#/jobs', 'Jobs'],
  ['#/schedules', 'Schedules'],
  ['#/ops', 'Ops'],
  ['#/webhooks', 'Webhooks'],
  ['#/notifications', 'Notifications'],
  ['#/vault', 'Vault'],
  ['#/identity', 'Identity'],
  ['#/logs', 'Logs'],
  ['#/settings', 'Settings'],
];

const root = document.getElementById('app');
let cleanups = [];
let renderSeq = 0;

function match(path) {
  for (const [pattern, page, auth] of ROUTES) {
    const want = pattern.split('/');
    const got = path.split('/');
    if (want.length !== got.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < want.length; i++) {
      if (want[i].startsWith(':')) {
        if (!got[i]) {
          ok = false;
          break;
        }
        params[want[i].slice(1)] = decodeURIComponent(got[i]);
      } else if (want[i] !== got[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return { page, auth, params };
  }
  return null;
}

/** Navigates to `hash` (`#/jobs`). */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++renderSeq;
  // Where the focus was when navigation began: moved to the new page's content afterwards,
  // unless the user has moved it meanwhile.
  const focusedAtStart = document.activeElement;
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // A page's cleanup failing must not stop the next page.
    }
  }
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, search] = raw.split('?');
  const found = match(path);
  if (!found) {
    layout().main.replaceChildren(h('h1', null, 'Not found'), h('p', null, 'This page does not exist. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  if (found.auth && !session.current) {
    sessionStorage.setItem('keel_console_after_login', location.hash);
    location.replace('#/login');
    return;
  }
  const main = found.auth ? layout().main : bare();
  const ctx = {
    main,
    params: found.params,
    query: Object.fromEntries(new URLSearchParams(search || '')),
    cleanup: (fn) => cleanups.push(fn),
    go,
    title: (t) => {
      document.title = t ? `${t} · Keel` : 'Keel';
    },
    isCurrent: () => seq === renderSeq,
  };
  ctx.title('');
  try {
    const module = await import(`./pages/${found.page}.js`);
    if (seq !== renderSeq) return;
    mount(main);
    await module.default(ctx);
  } catch (err) {
    if (seq === renderSeq) mount(main, errorBox(err));
  }
  if (seq === renderSeq && found.auth) {
    highlightNav();
    const focus = document.activeElement;
    if (focus === document.body || (focus === focusedAtStart && !main.contains(focus))) main.focus({ preventScroll: true });
  }
}

let shell = null;
/** The signed-in layout (kept between pages). */
function layout() {
  if (shell && root.contains(shell.el)) return shell;
  const live = h('span', { class: 'live', role: 'status', 'aria-label': 'Live updates' });
  const who = session.current ? (session.current.record.email || session.current.record.username || session.current.record.id) : '';
  const nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' },
    h('a', { class: 'brand', href: '#/' }, h('img', { src: '/_/favicon.svg', alt: '', width: 22, height: 22 }), 'Keel'),
    h('ul', null, NAV.map(([href, label]) => h('li', null, h('a', { href }, label)))),
    h('div', { class: 'me' },
      h('div', { class: 'muted small' }, session.isSuperuser ? 'Superuser' : (session.current ? session.current.collection : '')),
      h('div', { class: 'who', title: who }, who),
      button('Sign out', signOut, { class: 'link' }),
      live));
  const main = h('main', { id: 'main', tabindex: '-1' });
  const el = h('div', { class: 'layout' }, h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'), nav, main);
  mount(root, el);
  realtime.onStatus((state) => {
    live.textContent = { idle: '', connecting: 'Connecting…', live: 'Live', offline: 'Offline, reconnecting…' }[state];
    live.className = `live ${state === 'live' ? 'on' : 'off'}`;
    live.hidden = state === 'idle';
  });
  shell = { el, main };
  return shell;
}

function bare() {
  shell = null;
  const main = h('main', { class: 'bare', id: 'main', tabindex: '-1' });
  mount(root, main);
  return main;
}

function highlightNav() {
  const hash = location.hash || '#/';
  for (const a of root.querySelectorAll('.sidebar ul a')) {
    const href = a.getAttribute('href');
    const current = href === '#/' ? hash === '#/' || hash === '#' : hash === href || hash.startsWith(`${href}/`) || hash.startsWith(`${href}?`);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Ends the session here and on the server where it can (the token is revoked when allowed). */
export function signOut() {
  realtime.close();
  session.set(null);
  shell = null;
  location.hash = '#/login';
}

/** Renews the token while the console stays open, so a working session does not lapse. */
async function refresh() {
  const s = session.current;
  if (!s) return;
  try {
    const out = await post(`/api/collections/${seg(s.collection)}/auth-refresh`, undefined, { noExpiry: true });
    session.set({ token: out.token, record: out.record, collection: s.collection });
  } catch (err) {
    if (err.status === 401 || err.status === 403 || err.status === 404) expire();
  }
}

function expire() {
  if (!session.current) return;
  realtime.close();
  session.set(null);
  shell = null;
  toast('Your session ended. Sign in again.', 'error');
  sessionStorage.setItem('keel_console_after_login', location.hash);
  location.hash = '#/login';
}

whenSessionExpires(expire);
window.addEventListener('hashchange', route);
if (session.current && session.secondsLeft() <= 0) session.set(null);
if (session.current) refresh();
setInterval(() => {
  if (session.current && session.secondsLeft() < 600) refresh();
}, 60_000);
route();
