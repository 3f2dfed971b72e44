// Sign-in: password (or a code by email), then the second step when the account has TOTP or
// the collection asks for MFA. Superusers by default; any auth collection's users (whose
// roles decide what they may do) by naming the collection.

import { post, session, seg, ApiError } from '../api.js';
import { h, field, input, button, mount, errorBox } from '../ui.js';

export default function render(ctx) {
  ctx.title('Sign in');
  if (session.current) {
    ctx.go('#/');
    return;
  }
  const state = { collection: localStorage.getItem('keel_console_collection') || '_superusers' };
  first();

  function done(out) {
    localStorage.setItem('keel_console_collection', state.collection);
    session.set({ token: out.token, record: out.record, collection: state.collection });
    const after = sessionStorage.getItem('keel_console_after_login');
    sessionStorage.removeItem('keel_console_after_login');
    location.hash = after && !after.startsWith('#/login') ? after : '#/';
  }

  function first() {
    const email = input({ type: 'email', name: 'email', autocomplete: 'username', required: true });
    const password = input({ type: 'password', name: 'password', autocomplete: 'current-password', required: true });
    const collection = input({ name: 'collection', value: state.collection, required: true });
    const err = h('div');
    const form = h('form', { class: 'stack' },
      field('Email', email),
      field('Password', password),
      h('details', null, h('summary', null, 'Sign in as a user of another collection'),
        field('Auth collection', collection, { hint: '_superusers for superusers; users (or another auth collection) for accounts whose roles grant permissions.' })),
      err,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      h('p', { class: 'small' }, button('Email me a sign-in code instead', () => otpFirst(email.value), { class: 'link' })));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      state.collection = collection.value.trim() || '_superusers';
      state.email = email.value.trim();
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        done(await post(`/api/collections/${seg(state.collection)}/auth-with-password`, { identity: state.email, password: password.value }, { anonymous: true }));
      } catch (ex) {
        if (ex instanceof ApiError && ex.body.mfaId) second(ex.body.mfaId);
        else mount(err, errorBox(ex));
      } finally {
        btn.disabled = false;
      }
    });
    mount(ctx.main,
      h('h1', null, 'Sign in to Keel'),
      form,
      h('p', { class: 'muted small' }, 'First start? Open the one-time link Keel printed when it started (while no superuser exists), or create one on the server with ',
        h('code', null, 'keel superuser upsert EMAIL PASSWORD'), '.'));
    email.focus();
  }

  async function otpFirst(emailValue) {
    const err = h('div');
    const email = input({ type: 'email', name: 'email', value: emailValue, autocomplete: 'username', required: true });
    const form = h('form', { class: 'stack' }, field('Email', email), err, h('button', { type: 'submit', class: 'primary' }, 'Send the code'),
      h('p', null, button('Back to password sign-in', first, { class: 'link' })));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      state.email = email.value.trim();
      try {
        const out = await post(`/api/collections/${seg(state.collection)}/request-otp`, { email: state.email }, { anonymous: true });
        codeStep(out.otpId, null);
      } catch (ex) {
        mount(err, errorBox(ex));
      }
    });
    mount(ctx.main, h('h1', null, 'Sign in with a code'), form);
    email.focus();
  }

  function codeStep(otpId, mfaId) {
    const code = input({ name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
    const err = h('div');
    const form = h('form', { class: 'stack' }, h('p', null, `We sent a code to ${state.email}.`), field('Code from the email', code), err,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const body = { otpId, password: code.value.trim() };
        if (mfaId) body.mfaId = mfaId;
        done(await post(`/api/collections/${seg(state.collection)}/auth-with-otp`, body, { anonymous: true }));
      } catch (ex) {
        if (ex instanceof ApiError && ex.body.mfaId && !mfaId) second(ex.body.mfaId);
        else mount(err, errorBox(ex));
      }
    });
    mount(ctx.main, h('h1', null, 'Enter the code'), form);
    code.focus();
  }

  function second(mfaId) {
    const code = input({ name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
    const err = h('div');
    const recovery = input({ name: 'recovery', autocomplete: 'off' });
    const form = h('form', { class: 'stack' },
      h('p', null, 'This account needs a second step. Enter the code from your authenticator app.'),
      field('Authentication code', code),
      h('details', null, h('summary', null, 'Use a recovery code'), field('Recovery code', recovery)),
      err,
      h('button', { type: 'submit', class: 'primary' }, 'Verify'),
      h('p', { class: 'small' }, button('Email me a code instead', async () => {
        try {
          const out = await post(`/api/collections/${seg(state.collection)}/request-otp`, { email: state.email }, { anonymous: true });
          codeStep(out.otpId, mfaId);
        } catch (ex) {
          mount(err, errorBox(ex));
        }
      }, { class: 'link' })));
    code.required = true;
    recovery.addEventListener('input', () => {
      code.required = !recovery.value;
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = recovery.value.trim() ? { mfaId, recoveryCode: recovery.value.trim() } : { mfaId, code: code.value.trim() };
      try {
        done(await post(`/api/collections/${seg(state.collection)}/auth-with-totp`, body, { anonymous: true }));
      } catch (ex) {
        mount(err, errorBox(ex));
      }
    });
    mount(ctx.main, h('h1', null, 'Two-step verification'), form);
    code.focus();
  }
}
