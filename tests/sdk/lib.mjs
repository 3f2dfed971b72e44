// Helpers shared by the SDK scenario: configuration, clients, bounded waits and assertions.

import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import PocketBase, { ClientResponseError } from 'pocketbase';

// Node 20 has no EventSource; the SDK's realtime service needs one.
globalThis.EventSource ??= EventSource;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (the scenario needs KEEL_URL, KEEL_SUPERUSER_EMAIL, KEEL_SUPERUSER_PASSWORD)`);
  }
  return value;
}

export const BASE_URL = requireEnv('KEEL_URL').replace(/\/+$/, '');
export const SUPERUSER_EMAIL = requireEnv('KEEL_SUPERUSER_EMAIL');
export const SUPERUSER_PASSWORD = requireEnv('KEEL_SUPERUSER_PASSWORD');

/** How long any wait for the server (an event, a condition) may take before the step fails. */
export const WAIT_MS = 5_000;

/** A fresh SDK client with its own in-memory auth store. */
export function newClient() {
  const pb = new PocketBase(BASE_URL);
  // The scenario fires parallel requests on purpose; the SDK would otherwise cancel duplicates.
  pb.autoCancellation(false);
  return pb;
}

/** A short random suffix, so the scenario can run twice against the same server. */
export function uid() {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Awaits `promise`, expecting it to reject with a ClientResponseError of `status`.
 * Returns the error so the caller can look at `err.response`.
 */
export async function expectError(promise, status, what = 'request') {
  let result;
  try {
    result = await promise;
  } catch (err) {
    assert.ok(err instanceof ClientResponseError, `${what}: expected a ClientResponseError, got ${err}`);
    assert.equal(err.status, status, `${what}: expected HTTP ${status}, got ${err.status} ${JSON.stringify(err.response)}`);
    assert.equal(typeof err.response, 'object', `${what}: error body should be a JSON object`);
    assert.equal(typeof err.response.message, 'string', `${what}: error body should have a message`);
    assert.equal(typeof err.response.data, 'object', `${what}: error body should have a data object`);
    return err;
  }
  assert.fail(`${what}: expected HTTP ${status}, but it succeeded with ${JSON.stringify(result)}`);
}

/** Polls `check` (sync or async) until it returns a truthy value or WAIT_MS passes. */
export async function waitFor(check, message, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Collects the events a realtime subscription delivers. */
export class EventLog {
  events = [];

  push = (event) => {
    this.events.push(event);
  };

  find(action, id) {
    return this.events.find((e) => e.action === action && e.record?.id === id);
  }

  /** Waits for the `action` event of record `id`, failing after WAIT_MS. */
  waitFor(action, id) {
    return waitFor(() => this.find(action, id), `a realtime "${action}" event for record ${id}`);
  }

  ids() {
    return this.events.map((e) => e.record?.id);
  }
}

/** A valid 1×1 PNG (content sniffing must recognise it as image/png). */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

export function pngBlob() {
  return new Blob([TINY_PNG], { type: 'image/png' });
}

/** Secrets an auth record must never expose, whoever asks. */
export function assertNoSecrets(record, what = 'record') {
  for (const key of ['password', 'passwordHash', 'tokenKey', 'passwordConfirm']) {
    assert.ok(!(key in record), `${what} must not expose "${key}": ${JSON.stringify(record)}`);
  }
}

/** Deletes a collection if it exists (lets the scenario be re-run against a long-lived server). */
export async function dropCollection(pb, name) {
  try {
    await pb.collections.delete(name);
  } catch (err) {
    if (!(err instanceof ClientResponseError) || err.status !== 404) throw err;
  }
}

export { assert, ClientResponseError };
