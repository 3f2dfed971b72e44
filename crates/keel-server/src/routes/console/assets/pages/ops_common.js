// Ops: helpers the sections share (the caller's name, addresses with a query, a card of
// label/value pairs, a text area, vault secrets' names for a datalist).

import { get, session } from '../api.js';
import { h } from '../ui.js';

/** A card of label/value pairs. */
export const kvCard = (...pairs) => h('div', { class: 'card' }, h('dl', { class: 'kv' }, ...pairs));

export const PER_PAGE = 20;

/** The signed-in caller as runs name their launcher (`_superusers/ID`). */
export function me() {
  const s = session.current;
  if (!s) return '';
  return `${s.record.collectionName || s.collection}/${s.record.id}`;
}

export function hashWith(path, query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '' && !(k === 'page' && Number(v) === 1)) p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

export function textarea(props) {
  return h('textarea', { spellcheck: 'false', ...props });
}

/** Vault secrets' names for a datalist (quietly none without vault:read). */
export async function secretNames() {
  try {
    const out = await get('/api/vault/secrets', { perPage: 200 });
    return out.items.map((s) => s.name);
  } catch {
    return [];
  }
}

export function datalist(id, values) {
  return h('datalist', { id }, values.map((v) => h('option', { value: v })));
}
