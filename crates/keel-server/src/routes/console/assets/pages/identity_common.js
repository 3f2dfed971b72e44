// Identity: helpers the sections share (the address, permissions as labels, the roles).

import { get } from '../api.js';
import { h } from '../ui.js';

/** Replaces the address without re-rendering (the page keeps its state and focus). */
export function setHash(hash) {
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

export function withQuery(base, query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '' && !(k === 'page' && v === 1)) p.set(k, String(v));
  const s = p.toString();
  return s ? `${base}?${s}` : base;
}

/** Permissions as small code labels. */
export function permList(perms) {
  if (!perms || !perms.length) return h('span', { class: 'muted' }, 'none');
  return h('span', null, perms.map((p, i) => [i ? ' ' : null, h('code', null, p)]));
}

/** Loads the roles once per view; a 403 leaves an empty list and the error. */
export async function loadRoles() {
  try {
    return { items: (await get('/api/roles')).items, error: null };
  } catch (err) {
    return { items: [], error: err };
  }
}
