// The JS SDK's list options carry `search` (docs/search.md): run by crates/keel/tests/search_http.rs
// against a Keel whose `posts` collection is searchable and holds its four posts.
//
//   KEEL_URL=http://127.0.0.1:8090 node tests/sdk/search.mjs

import assert from 'node:assert/strict';
import PocketBase from 'pocketbase';

const pb = new PocketBase(process.env.KEEL_URL);

// Ranked by relevance: the title match (weight 3) before the body one (weight 1).
const page = await pb.collection('posts').getList(1, 20, { search: 'quick fox', fields: 'title,search.highlights' });
assert.deepEqual(page.items.map((r) => r.title), ['The quick brown fox', 'Gardening notes']);
assert.equal(page.totalItems, 2);
assert.equal(page.items[0].search.highlights.title, 'The <mark>quick</mark> brown <mark>fox</mark>');

// With a filter, through getFullList too.
const published = await pb.collection('posts').getFullList({ search: 'fox', filter: 'status = "published"', fields: 'title' });
assert.deepEqual(published.map((r) => r.title).sort(), ['Running tips', 'The quick brown fox']);

console.log('search through the JS SDK: ok');
