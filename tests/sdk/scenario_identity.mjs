// Identity through the official JS SDK: one-time codes by email, MFA (password + OTP), an
// OAuth2 sign-in with `authWithOAuth2Code` against a local OpenID Connect provider, and an
// API key used as the SDK's token.
//
// Started by crates/keel/tests/sdk.rs, which also starts a real SMTP server (aiosmtpd, its
// Maildir in KEEL_SMTP_MAILDIR) and the test authorization server (KEEL_OAUTH_URL).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assert, BASE_URL, expectError, newClient, SUPERUSER_EMAIL, SUPERUSER_PASSWORD, uid, waitFor } from './lib.mjs';

const STEP = { timeout: 30_000 };
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (crates/keel/tests/sdk.rs sets it)`);
  return v;
};

const su = newClient();
const user = newClient();
const run = uid();
const email = `otp-${run}@example.com`;
const password = 'identity-password-1';

/** The raw messages in the Maildir sent to `to`, decoded enough to search their text. */
function mailsTo(to) {
  const dir = env('KEEL_SMTP_MAILDIR');
  const out = [];
  for (const sub of ['new', 'cur']) {
    let names = [];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const raw = readFileSync(join(dir, sub, name), 'utf8');
      if (!raw.toLowerCase().includes(to.toLowerCase())) continue;
      // Undo quoted-printable soft breaks and escapes, and decode base64 bodies.
      let text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
      for (const block of raw.match(/(?:^[A-Za-z0-9+/=]{20,}\r?\n)+/gm) ?? []) {
        text += Buffer.from(block.replace(/\s+/g, ''), 'base64').toString('utf8');
      }
      out.push(text);
    }
  }
  return out;
}

/** Codes already handed out, so each step reads the mail its own request caused. */
const seenCodes = new Set();

/**
 * Waits for a mail to `to` holding an 8-digit code not seen before and returns that code.
 * The Maildir lists files in no particular order, so "the newest mail" is the one whose code
 * is new, not the last file read.
 */
async function newOtpCode(to) {
  let fresh;
  await waitFor(() => {
    const codes = mailsTo(to)
      .map((m) => m.match(/\b(\d{8})\b/)?.[1])
      .filter(Boolean);
    fresh = codes.find((c) => !seenCodes.has(c));
    return fresh !== undefined;
  }, `a mail to ${to} with a new 8-digit code`);
  seenCodes.add(fresh);
  return fresh;
}

describe('identity', () => {
  test('a superuser configures SMTP and OTP', STEP, async () => {
    await su.collection('_superusers').authWithPassword(SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
    await su.settings.update({
      meta: { appName: 'Keel SDK', senderName: 'Keel', senderAddress: 'keel@example.com' },
      smtp: { enabled: true, host: env('KEEL_SMTP_HOST'), port: Number(env('KEEL_SMTP_PORT')), tls: false },
    });
    await su.collections.update('users', { otp: { enabled: true, duration: 300, length: 8 } });
    await su.collection('users').create({ email, password, passwordConfirm: password });
    const methods = await user.collection('users').listAuthMethods();
    assert.equal(methods.otp.enabled, true);
  });

  test('requestOTP + authWithOTP; a code works once', STEP, async () => {
    const { otpId } = await user.collection('users').requestOTP(email);
    assert.equal(typeof otpId, 'string');
    const code = await newOtpCode(email);
    const auth = await user.collection('users').authWithOTP(otpId, code);
    assert.equal(auth.record.email, email);
    assert.ok(user.authStore.isValid);
    await expectError(user.collection('users').authWithOTP(otpId, code), 400, 'a replayed OTP');
  });

  test('MFA: the password answers 401 with an mfaId, an OTP finishes the sign-in', STEP, async (t) => {
    await su.collections.update('users', { mfa: { enabled: true, duration: 600, rule: '' } });
    // Whatever happens, leave MFA off for the steps after this one.
    t.after(() => su.collections.update('users', { mfa: { enabled: false } }));
    user.authStore.clear();
    const err = await expectError(user.collection('users').authWithPassword(email, password), 401, 'first factor');
    const mfaId = err.response.mfaId;
    assert.equal(typeof mfaId, 'string', JSON.stringify(err.response));
    assert.ok(!user.authStore.isValid);
    await expectError(user.collection('users').authWithPassword(email, password, { mfaId }), 400, 'same method twice');
    const { otpId } = await user.collection('users').requestOTP(email);
    const code = await newOtpCode(email);
    const auth = await user.collection('users').authWithOTP(otpId, code, { mfaId });
    assert.equal(auth.record.email, email);
    assert.ok(user.authStore.isValid);
  });

  test('OAuth2: authWithOAuth2Code with an OpenID Connect provider', STEP, async () => {
    await su.collections.update('users', {
      oauth2: {
        enabled: true,
        providers: [
          {
            name: 'oidc',
            displayName: 'Test IdP',
            clientId: env('KEEL_OAUTH_CLIENT_ID'),
            clientSecret: env('KEEL_OAUTH_CLIENT_SECRET'),
            extra: { issuer: env('KEEL_OAUTH_URL') },
          },
        ],
      },
    });
    const pb = newClient();
    const methods = await pb.collection('users').listAuthMethods();
    assert.equal(methods.oauth2.enabled, true);
    const provider = methods.oauth2.providers.find((p) => p.name === 'oidc');
    assert.ok(provider, JSON.stringify(methods.oauth2));
    assert.equal(provider.displayName, 'Test IdP');
    assert.ok(provider.state && provider.codeVerifier && provider.codeChallenge);

    // Play the browser: the provider redirects back with a code and our state.
    const redirectURL = `${BASE_URL}/api/oauth2-redirect`;
    const resp = await fetch(provider.authURL + encodeURIComponent(redirectURL), { redirect: 'manual' });
    assert.ok([302, 303].includes(resp.status), `the provider redirects (${resp.status})`);
    const back = new URL(resp.headers.get('location'));
    assert.equal(back.searchParams.get('state'), provider.state);
    const code = back.searchParams.get('code');

    const auth = await pb.collection('users').authWithOAuth2Code('oidc', code, provider.codeVerifier, redirectURL, {
      name: 'From the SDK',
    });
    assert.equal(auth.record.email, env('KEEL_OAUTH_EMAIL'));
    assert.equal(auth.meta.isNew, true);
    assert.ok(pb.authStore.isValid);
    // The same code and verifier cannot be used again.
    await expectError(
      pb.collection('users').authWithOAuth2Code('oidc', code, provider.codeVerifier, redirectURL),
      400,
      'a replayed OAuth2 code'
    );
  });

  test('an API key (service account) works as the SDK token, as far as rules and roles go', STEP, async () => {
    const name = `reports_${run}`;
    await su.collections.create({
      name,
      type: 'base',
      fields: [{ name: 'title', type: 'text' }],
      listRule: '@request.auth.roles ?= "reporter"',
      viewRule: '@request.auth.roles ?= "reporter"',
    });
    await su.collection(name).create({ title: 'q1' });
    await su.send('/api/roles', { method: 'POST', body: { name: `reporter`, permissions: ['cache:read'] } });
    const key = await su.send('/api/apikeys', { method: 'POST', body: { name: 'bi-export', roles: ['reporter'] } });
    assert.ok(key.key.startsWith('keel_'), JSON.stringify(key));

    // The SDK sends whatever token its auth store holds: a key works like a user token.
    const svc = newClient();
    svc.authStore.save(key.key, null);
    const rows = await svc.collection(name).getFullList();
    assert.deepEqual(rows.map((r) => r.title), ['q1']);
    await expectError(svc.collection(name).create({ title: 'no' }), 403, 'a superusers-only create');

    // Once revoked, the key is refused.
    await su.send(`/api/apikeys/${key.id}/revoke`, { method: 'POST' });
    await expectError(svc.collection(name).getFullList(), 401, 'a revoked key');
  });
});
