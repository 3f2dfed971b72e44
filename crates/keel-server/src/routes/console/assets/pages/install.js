// The first superuser, from the one-time link `keel serve` prints while none exists
// (`#/install/TOKEN`): an email and a password, then signed in.

import { post, session } from '../api.js';
import { h, mount, field, input, errorBox } from '../ui.js';

export default function render(ctx) {
  ctx.title('Create the first superuser');
  const email = input({ type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = input({ type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const again = input({ type: 'password', name: 'passwordConfirm', autocomplete: 'new-password', required: true });
  const status = h('div');
  const form = h('form', { class: 'stack' },
    field('Email', email),
    field('Password', password, { hint: 'At least 8 characters.' }),
    field('Repeat the password', again),
    status,
    h('button', { type: 'submit', class: 'primary' }, 'Create superuser and sign in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      await post('/api/install', { token: ctx.params.token, email: email.value.trim(), password: password.value, passwordConfirm: again.value }, { anonymous: true });
      const out = await post('/api/collections/_superusers/auth-with-password', { identity: email.value.trim(), password: password.value }, { anonymous: true });
      session.set({ token: out.token, record: out.record, collection: '_superusers' });
      localStorage.setItem('keel_console_collection', '_superusers');
      location.hash = '#/';
    } catch (err) {
      mount(status, errorBox(err));
    } finally {
      btn.disabled = false;
    }
  });
  mount(ctx.main,
    h('h1', null, 'Welcome to Keel'),
    h('p', null, 'Create the first superuser: it can do everything, including making other accounts. This link works once.'),
    form);
  email.focus();
}
