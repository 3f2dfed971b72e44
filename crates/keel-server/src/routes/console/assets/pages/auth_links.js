// The pages the default auth emails link to (`#/auth/<action>/<token>`, PocketBase's links):
// confirm an email address, choose a new password, confirm an email change. Each posts the
// token to its collection's API; the collection comes from the token's own claims.

import { post, seg, tokenClaims } from '../api.js';
import { h, field, input, mount, errorBox } from '../ui.js';

const ACTIONS = ['confirm-verification', 'confirm-password-reset', 'confirm-email-change'];

export default async function render(ctx) {
  const { action, token } = ctx.params;
  const claims = tokenClaims(token);
  if (!ACTIONS.includes(action) || !claims || !claims.collectionId) {
    ctx.title('Invalid link');
    mount(ctx.main, h('h1', null, 'Invalid link'), h('p', null, 'This link is incomplete or damaged. Ask for a new email.'));
    return;
  }
  const path = `/api/collections/${seg(claims.collectionId)}/${action}`;
  const status = h('div', { role: 'status' });
  if (action === 'confirm-verification') {
    ctx.title('Verify email');
    mount(ctx.main, h('h1', null, 'Verifying your email…'), status);
    try {
      await post(path, { token }, { anonymous: true });
      mount(ctx.main, h('h1', null, 'Email verified'), h('p', { class: 'ok' }, 'Your email address is verified. You can close this page.'));
    } catch (err) {
      mount(ctx.main, h('h1', null, 'Verification failed'), errorBox(err));
    }
    return;
  }
  const reset = action === 'confirm-password-reset';
  ctx.title(reset ? 'New password' : 'Confirm email change');
  const password = input({ type: 'password', name: 'password', autocomplete: reset ? 'new-password' : 'current-password', required: true });
  const again = input({ type: 'password', name: 'passwordConfirm', autocomplete: 'new-password', required: true });
  const form = h('form', { class: 'stack' },
    field(reset ? 'New password' : 'Your password', password),
    reset ? field('Repeat the new password', again) : null,
    status,
    h('button', { type: 'submit', class: 'primary' }, reset ? 'Save' : 'Confirm'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { token, password: password.value };
    if (reset) body.passwordConfirm = again.value;
    try {
      await post(path, body, { anonymous: true });
      mount(ctx.main, h('h1', null, reset ? 'Password changed' : 'Email changed'),
        h('p', null, `Your ${reset ? 'password' : 'email address'} is changed. Sign in with the new one.`));
    } catch (err) {
      mount(status, errorBox(err));
    }
  });
  mount(ctx.main, h('h1', null, reset ? 'Choose a new password' : 'Confirm your new email'), form);
  password.focus();
}
