// A realistic app, driven exactly as a PocketBase user would drive it: through the official JS SDK only.
//
//   KEEL_URL=http://127.0.0.1:8090 KEEL_SUPERUSER_EMAIL=... KEEL_SUPERUSER_PASSWORD=... node --test tests/sdk/scenario.mjs
//
// The steps share state and run in order; each wait on the server is bounded (lib.mjs WAIT_MS).

import { after, before, describe, test } from 'node:test';
import {
  assert,
  assertNoSecrets,
  ClientResponseError,
  dropCollection,
  EventLog,
  expectError,
  newClient,
  pngBlob,
  SUPERUSER_EMAIL,
  SUPERUSER_PASSWORD,
  TINY_PNG,
  uid,
  waitFor,
} from './lib.mjs';
import { commentsCollection, postsCollection } from './schema.mjs';

const STEP = { timeout: 30_000 };
const run = uid();

const su = newClient(); // the superuser (app developer)
const alice = newClient(); // user A, writes posts
const bob = newClient(); // user B, a reader
const users = {}; // { alice: record, bob: record }
const ids = {}; // collection and record ids shared between steps

after(async () => {
  // Close every realtime connection so the test process can exit.
  await Promise.allSettled([su, alice, bob].map((pb) => pb.realtime.unsubscribe()));
});

describe('health', () => {
  test('pb.health.check()', STEP, async () => {
    const health = await newClient().health.check();
    assert.equal(health.code, 200);
    assert.equal(typeof health.message, 'string');
  });
});

describe('superuser and collections', () => {
  before(async () => {
    const auth = await su.collection('_superusers').authWithPassword(SUPERUSER_EMAIL, SUPERUSER_PASSWORD);
    assert.ok(auth.token);
    // A re-run against a long-lived server starts from a clean app.
    await dropCollection(su, 'comments');
    await dropCollection(su, 'posts');
  });

  test('superuser auth', STEP, () => {
    assert.equal(su.authStore.isValid, true);
    assert.equal(su.authStore.isSuperuser, true);
    assert.equal(su.authStore.record.email, SUPERUSER_EMAIL);
    assertNoSecrets(su.authStore.record, 'superuser');
  });

  test('create posts and comments', STEP, async () => {
    const usersCollection = await su.collections.getOne('users');
    assert.equal(usersCollection.type, 'auth');
    ids.users = usersCollection.id;
    // Let signed-in users see each other (emails still follow emailVisibility).
    await su.collections.update('users', { listRule: '@request.auth.id != ""', viewRule: '@request.auth.id != ""' });

    const posts = await su.collections.create(postsCollection(ids.users));
    assert.equal(posts.name, 'posts');
    assert.equal(posts.type, 'base');
    assert.ok(posts.id);
    ids.posts = posts.id;
    const names = posts.fields.map((f) => f.name);
    for (const name of ['id', 'title', 'body', 'views', 'published', 'tags', 'meta', 'author', 'cover']) {
      assert.ok(names.includes(name), `posts should have field ${name}: ${names}`);
    }
    const title = posts.fields.find((f) => f.name === 'title');
    assert.equal(title.required, true);
    assert.equal(title.max, 100);
    assert.equal(posts.createRule, '@request.auth.id != "" && author = @request.auth.id');

    const comments = await su.collections.create(commentsCollection(ids.posts, ids.users));
    ids.comments = comments.id;
    const post = comments.fields.find((f) => f.name === 'post');
    assert.equal(post.cascadeDelete, true);
    assert.equal(post.collectionId, ids.posts);
  });

  test('list and get collections', STEP, async () => {
    const all = await su.collections.getFullList();
    const names = all.map((c) => c.name);
    for (const name of ['users', 'posts', 'comments', '_superusers']) {
      assert.ok(names.includes(name), `collections should include ${name}: ${names}`);
    }
    const byId = await su.collections.getOne(ids.posts);
    assert.equal(byId.name, 'posts');
    const byName = await su.collections.getOne('comments');
    assert.equal(byName.id, ids.comments);
  });

  test('update a collection: add and rename fields, data kept', STEP, async () => {
    const before = await su.collection('posts').create({ title: `schema probe ${run}`, body: 'kept body' });

    const posts = await su.collections.getOne('posts');
    const fields = posts.fields.map((f) => (f.name === 'body' ? { ...f, name: 'content' } : f));
    fields.push({ name: 'summary', type: 'text', max: 200 });
    const updated = await su.collections.update('posts', { fields });
    const names = updated.fields.map((f) => f.name);
    assert.ok(names.includes('content') && names.includes('summary') && !names.includes('body'), `${names}`);

    const after = await su.collection('posts').getOne(before.id);
    assert.equal(after.content, 'kept body');
    assert.equal(after.title, `schema probe ${run}`);
    assert.ok(!('body' in after));
    assert.equal(after.summary, '');
    await su.collection('posts').delete(before.id);
  });
});

describe('users and auth', () => {
  const password = 'correct-horse-battery';

  test('sign up two users', STEP, async () => {
    for (const name of ['alice', 'bob']) {
      const email = `${name}-${run}@example.com`;
      const record = await newClient()
        .collection('users')
        .create({ email, password, passwordConfirm: password, name });
      assert.ok(record.id);
      assert.equal(record.name, name);
      assert.equal(record.collectionName, 'users');
      assertNoSecrets(record, 'created user');
      users[name] = { ...record, email };
    }
  });

  test('authWithPassword and authRefresh', STEP, async () => {
    for (const [name, pb] of [
      ['alice', alice],
      ['bob', bob],
    ]) {
      const auth = await pb.collection('users').authWithPassword(users[name].email, password);
      assert.ok(auth.token);
      assert.equal(auth.record.id, users[name].id);
      assert.equal(auth.record.email, users[name].email, 'a user sees their own email');
      assertNoSecrets(auth.record, 'auth record');
      assert.equal(pb.authStore.isValid, true);
      assert.equal(pb.authStore.isSuperuser, false);
    }
    const refreshed = await alice.collection('users').authRefresh();
    assert.ok(refreshed.token);
    assert.equal(refreshed.record.id, users.alice.id);
    assertNoSecrets(refreshed.record, 'refreshed record');
    assert.equal(alice.authStore.token, refreshed.token);
  });

  test('authMethods', STEP, async () => {
    const methods = await newClient().collection('users').listAuthMethods();
    assert.equal(methods.password.enabled, true);
    assert.ok(methods.password.identityFields.includes('email'), `${methods.password.identityFields}`);
  });

  test('wrong password is a 400', STEP, async () => {
    const pb = newClient();
    await expectError(pb.collection('users').authWithPassword(users.alice.email, 'not-the-password'), 400, 'bad login');
    assert.equal(pb.authStore.isValid, false);
  });

  test('emails follow emailVisibility; secrets never shown', STEP, async () => {
    const seenByBob = await bob.collection('users').getOne(users.alice.id);
    assert.equal(seenByBob.name, 'alice');
    assert.ok(!seenByBob.email, `alice's email must be hidden from bob: ${JSON.stringify(seenByBob)}`);
    assertNoSecrets(seenByBob, 'another user');

    await alice.collection('users').update(users.alice.id, { emailVisibility: true });
    const visible = await bob.collection('users').getOne(users.alice.id);
    assert.equal(visible.email, users.alice.email);

    const list = await su.collection('users').getFullList({ filter: su.filter('email ~ {:run}', { run }) });
    assert.equal(list.length, 2);
    for (const record of list) {
      assert.ok(record.email, 'a superuser sees every email');
      assertNoSecrets(record, 'user listed by a superuser');
    }
  });
});

describe('records CRUD', () => {
  test('alice creates posts (JSON and multipart with a file)', STEP, async () => {
    const posts = alice.collection('posts');
    const created = [];
    for (let i = 1; i <= 5; i++) {
      created.push(
        await posts.create({
          title: `hello ${i}`,
          content: `post number ${i}`,
          views: i * 10,
          published: i % 2 === 1,
          tags: ['a', 'b'],
          meta: { n: i, nested: { ok: true } },
          author: users.alice.id,
        }),
      );
    }
    const first = created[0];
    assert.equal(first.title, 'hello 1');
    assert.equal(first.views, 10);
    assert.equal(first.published, true);
    assert.deepEqual(first.tags, ['a', 'b']);
    assert.deepEqual(first.meta, { n: 1, nested: { ok: true } });
    assert.equal(first.author, users.alice.id);
    assert.equal(first.collectionName, 'posts');
    assert.equal(first.collectionId, ids.posts);
    assert.match(first.id, /^[a-z0-9]{15}$/);
    assert.ok(first.created && first.updated);
    ids.published = created[0].id;
    ids.draft = created[1].id;
    ids.jsonPosts = created.map((r) => r.id);

    const form = new FormData();
    form.append('title', 'with a cover');
    form.append('published', 'true');
    form.append('author', users.alice.id);
    form.append('tags', 'c');
    form.append('cover', pngBlob(), 'cover.png');
    const withFile = await posts.create(form);
    assert.equal(withFile.title, 'with a cover');
    assert.equal(withFile.published, true);
    assert.deepEqual(withFile.tags, ['c']);
    assert.match(withFile.cover, /^cover_\w+\.png$/);
    ids.withFile = withFile;
  });

  test('getList: paging, sort, filter, skipTotal', STEP, async () => {
    const posts = alice.collection('posts');
    const page1 = await posts.getList(1, 2, { sort: '-created' });
    assert.equal(page1.page, 1);
    assert.equal(page1.perPage, 2);
    assert.equal(page1.totalItems, 6);
    assert.equal(page1.totalPages, 3);
    assert.equal(page1.items.length, 2);
    assert.equal(page1.items[0].title, 'with a cover');

    const page3 = await posts.getList(3, 2, { sort: '-created' });
    assert.equal(page3.items.length, 2);
    assert.equal(page3.items[1].id, ids.published);

    const random = await posts.getList(1, 50, { sort: '@random' });
    assert.equal(random.items.length, 6);

    const filtered = await posts.getList(1, 50, {
      filter: alice.filter('title ~ {:q} && views > {:n}', { q: 'hello', n: 25 }),
      sort: 'views',
    });
    assert.deepEqual(
      filtered.items.map((r) => r.views),
      [30, 40, 50],
    );

    const skipped = await posts.getList(1, 2, { skipTotal: true, sort: 'views' });
    assert.equal(skipped.items.length, 2);
    assert.equal(skipped.totalItems, -1);
    assert.equal(skipped.totalPages, -1);

    const full = await posts.getFullList({ sort: 'title', batch: 4 });
    assert.equal(full.length, 6);
  });

  test('getFirstListItem, getOne, fields', STEP, async () => {
    const posts = alice.collection('posts');
    const first = await posts.getFirstListItem(alice.filter('views = {:v}', { v: 30 }));
    assert.equal(first.title, 'hello 3');
    await expectError(posts.getFirstListItem('views = 12345'), 404, 'getFirstListItem without a match');

    const one = await posts.getOne(ids.published);
    assert.equal(one.title, 'hello 1');

    const partial = await posts.getOne(ids.published, { fields: 'id,title' });
    assert.deepEqual(Object.keys(partial).sort(), ['id', 'title']);
    const partialList = await posts.getList(1, 1, { fields: 'id,views' });
    assert.deepEqual(Object.keys(partialList.items[0]).sort(), ['id', 'views']);
  });

  test('update with modifiers', STEP, async () => {
    const posts = alice.collection('posts');
    const updated = await posts.update(ids.published, { 'views+': 1, 'tags+': 'c', 'tags-': 'a' });
    assert.equal(updated.views, 11);
    assert.deepEqual(updated.tags, ['b', 'c']);
    const again = await posts.update(ids.published, { 'views-': 5, title: 'hello 1 (edited)' });
    assert.equal(again.views, 6);
    assert.equal(again.title, 'hello 1 (edited)');
    assert.ok(again.updated >= updated.updated);
  });

  test('bob sees published posts only and cannot write alice\'s', STEP, async () => {
    const posts = bob.collection('posts');
    const list = await posts.getFullList();
    const seen = list.map((r) => r.id);
    assert.ok(seen.includes(ids.published));
    assert.ok(!seen.includes(ids.draft), 'an unpublished post must be filtered out for bob');
    assert.ok(list.every((r) => r.published));
    await expectError(posts.getOne(ids.draft), 404, "bob views alice's draft");
    await expectError(posts.update(ids.draft, { title: 'hijacked' }), 404, "bob updates alice's draft");
    await expectError(posts.delete(ids.draft), 404, "bob deletes alice's draft");
    await expectError(
      posts.create({ title: 'impersonation', author: users.alice.id, published: true }),
      400,
      'bob creates a post as alice',
    );
    const guest = await newClient().collection('posts').getList(1, 50);
    assert.ok(guest.items.every((r) => r.published));
    await expectError(newClient().collection('posts').create({ title: 'anon' }), 400, 'guest creates a post');
  });

  test('delete', STEP, async () => {
    const posts = alice.collection('posts');
    const doomed = ids.jsonPosts[4];
    assert.equal(await posts.delete(doomed), true);
    await expectError(posts.getOne(doomed), 404, 'deleted post');
    await expectError(posts.delete(doomed), 404, 'deleting twice');
  });
});

describe('expand', () => {
  test('nested and back-relation expand', STEP, async () => {
    const comments = bob.collection('comments');
    const c1 = await comments.create({ post: ids.published, message: 'first!', user: users.bob.id });
    await comments.create({ post: ids.published, message: 'second', user: users.bob.id });
    ids.comment = c1.id;

    const expanded = await comments.getOne(c1.id, { expand: 'post.author,user' });
    assert.equal(expanded.expand.post.id, ids.published);
    assert.equal(expanded.expand.post.expand.author.id, users.alice.id);
    assert.equal(expanded.expand.user.id, users.bob.id);
    assertNoSecrets(expanded.expand.user, 'expanded user');

    const list = await comments.getList(1, 10, { expand: 'post.author,user', sort: 'created' });
    assert.equal(list.items.length, 2);
    assert.equal(list.items[1].expand.post.expand.author.name, 'alice');

    const post = await bob.collection('posts').getOne(ids.published, { expand: 'comments_via_post' });
    const back = post.expand.comments_via_post;
    assert.equal(back.length, 2);
    assert.deepEqual(back.map((c) => c.message).sort(), ['first!', 'second']);
  });

  test('cascade delete removes comments with their post', STEP, async () => {
    const post = await alice.collection('posts').create({ title: 'short-lived', published: true, author: users.alice.id });
    const comment = await bob.collection('comments').create({ post: post.id, message: 'bye', user: users.bob.id });
    await alice.collection('posts').delete(post.id);
    await expectError(bob.collection('comments').getOne(comment.id), 404, 'comment of a deleted post');
  });
});

describe('realtime', () => {
  test('bob receives create/update/delete for posts he may see, nothing else', STEP, async () => {
    const log = new EventLog();
    const unsubscribe = await bob.collection('posts').subscribe('*', log.push);
    assert.equal(bob.realtime.isConnected, true);

    const posts = alice.collection('posts');
    const draft = await posts.create({ title: 'secret draft', published: false, author: users.alice.id });
    const visible = await posts.create({ title: 'breaking news', published: true, author: users.alice.id });
    const created = await log.waitFor('create', visible.id);
    assert.equal(created.record.title, 'breaking news');
    assert.equal(created.record.collectionName, 'posts');

    await posts.update(visible.id, { 'views+': 1 });
    const updated = await log.waitFor('update', visible.id);
    assert.equal(updated.record.views, 1);

    await posts.update(draft.id, { title: 'still secret' });
    await posts.delete(visible.id);
    const deleted = await log.waitFor('delete', visible.id);
    assert.equal(deleted.record.id, visible.id);
    // Events for one connection arrive in order: by now any event for the draft would have arrived.
    assert.ok(!log.ids().includes(draft.id), `bob must not hear about alice's draft: ${JSON.stringify(log.events)}`);

    await unsubscribe();
    await posts.delete(draft.id);
  });

  test('subscribe to one record, then unsubscribe()', STEP, async () => {
    const posts = alice.collection('posts');
    const watched = await posts.create({ title: 'watch me', published: true, author: users.alice.id });
    const other = await posts.create({ title: 'ignore me', published: true, author: users.alice.id });

    const log = new EventLog();
    await bob.collection('posts').subscribe(watched.id, log.push);
    await posts.update(other.id, { title: 'ignore me (edited)' });
    await posts.update(watched.id, { title: 'watch me (edited)' });
    const event = await log.waitFor('update', watched.id);
    assert.equal(event.record.title, 'watch me (edited)');
    assert.ok(!log.ids().includes(other.id), 'a record subscription only hears about its record');

    await bob.collection('posts').unsubscribe();
    await waitFor(() => !bob.realtime.isConnected, 'the SDK to close its realtime connection');

    // A control subscriber proves the next event was sent; bob's callback must not see it.
    const control = new EventLog();
    const unsubscribeControl = await alice.collection('posts').subscribe(watched.id, control.push);
    const countBefore = log.events.length;
    await posts.update(watched.id, { title: 'after unsubscribe' });
    await control.waitFor('update', watched.id);
    assert.equal(log.events.length, countBefore, 'no events after unsubscribe()');
    await unsubscribeControl();
  });
});

describe('files', () => {
  test('getURL serves the uploaded bytes', STEP, async () => {
    const record = ids.withFile;
    const url = alice.files.getURL(record, record.cover);
    assert.ok(url.includes(`/api/files/${ids.posts}/${record.id}/${record.cover}`), url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), TINY_PNG);
  });

  test('a protected file needs a file token', STEP, async () => {
    const form = new FormData();
    form.append('post', ids.published);
    form.append('message', 'see attachment');
    form.append('user', users.bob.id);
    form.append('attachment', new Blob(['private notes'], { type: 'text/plain' }), 'notes.txt');
    const comment = await bob.collection('comments').create(form);
    assert.match(comment.attachment, /^notes_\w+\.txt$/);

    const plain = await fetch(bob.files.getURL(comment, comment.attachment));
    assert.equal(plain.status, 404, 'a protected file without a token must not be served');
    await plain.arrayBuffer();

    const token = await bob.files.getToken();
    assert.equal(typeof token, 'string');
    const res = await fetch(bob.files.getURL(comment, comment.attachment, { token }));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'private notes');
  });

  test('deleting the record removes its file', STEP, async () => {
    const record = ids.withFile;
    const url = alice.files.getURL(record, record.cover);
    await alice.collection('posts').delete(record.id);
    const res = await fetch(url);
    assert.equal(res.status, 404);
    await res.arrayBuffer();
  });
});

describe('batch', () => {
  before(async () => {
    const settings = await su.settings.update({ batch: { enabled: true, maxRequests: 50 } });
    assert.equal(settings.batch.enabled, true);
    assert.equal(settings.batch.maxRequests, 50);
  });

  test('a batch of create and update succeeds', STEP, async () => {
    const batch = alice.createBatch();
    batch.collection('posts').create({ title: `batch ${run} 1`, author: users.alice.id, published: true });
    batch.collection('posts').create({ title: `batch ${run} 2`, author: users.alice.id });
    batch.collection('posts').update(ids.published, { 'views+': 100 });
    const results = await batch.send();
    assert.equal(results.length, 3);
    for (const result of results) assert.equal(result.status, 200, JSON.stringify(result));
    assert.equal(results[0].body.title, `batch ${run} 1`);
    assert.equal(results[2].body.views, 106);

    const made = await alice.collection('posts').getFullList({ filter: alice.filter('title ~ {:p}', { p: `batch ${run}` }) });
    assert.equal(made.length, 2);
  });

  test('a failing operation rolls the whole batch back', STEP, async () => {
    const batch = alice.createBatch();
    batch.collection('posts').create({ title: `rollback ${run} 1`, author: users.alice.id });
    batch.collection('posts').update(ids.published, { title: `rollback ${run} edit` });
    batch.collection('posts').create({ author: users.alice.id }); // title is required
    const err = await expectError(batch.send(), 400, 'failing batch');
    assert.ok(err.response.data.requests, `batch errors name the failing request: ${JSON.stringify(err.response)}`);

    const made = await alice.collection('posts').getFullList({ filter: alice.filter('title ~ {:p}', { p: `rollback ${run}` }) });
    assert.equal(made.length, 0, 'nothing from a failed batch may remain');
    const untouched = await alice.collection('posts').getOne(ids.published);
    assert.equal(untouched.title, 'hello 1 (edited)');
  });
});

describe('errors', () => {
  test('bad filter is a 400', STEP, async () => {
    await expectError(alice.collection('posts').getList(1, 10, { filter: 'title ~~ (' }), 400, 'bad filter');
    await expectError(alice.collection('posts').getList(1, 10, { filter: 'nosuchfield = 1' }), 400, 'unknown field');
  });

  test('unknown collection is a 404', STEP, async () => {
    await expectError(alice.collection('nosuchcollection').getList(), 404, 'unknown collection');
    await expectError(su.collections.getOne('nosuchcollection'), 404, 'unknown collection (admin)');
  });

  test('forged or expired tokens are a 401', STEP, async () => {
    const [header, payload] = alice.authStore.token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
    const expired = `${header}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 })}.${alice.authStore.token.split('.')[2]}`;
    const superForged = `${header}.${b64({ ...claims, collectionId: su.authStore.record.collectionId })}.x`;

    for (const [what, token] of [
      ['forged signature', forged],
      ['expired', expired],
      ['garbage', 'not-a-jwt'],
    ]) {
      const pb = newClient();
      pb.authStore.save(token, alice.authStore.record);
      await expectError(pb.collection('users').authRefresh(), 401, `authRefresh with a ${what} token`);
    }
    const pb = newClient();
    pb.authStore.save(superForged, su.authStore.record);
    await expectError(pb.collections.getFullList(), 401, 'admin API with a forged superuser token');
  });

  test('validation errors are a 400 with per-field codes', STEP, async () => {
    const err = await expectError(
      alice.collection('posts').create({ content: 'no title', author: users.alice.id }),
      400,
      'create without a title',
    );
    assert.equal(err.response.data.title.code, 'validation_required');
    assert.equal(typeof err.response.data.title.message, 'string');

    const tooLong = await expectError(
      alice.collection('posts').create({ title: 'x'.repeat(101), author: users.alice.id }),
      400,
      'title over max',
    );
    assert.ok(tooLong.response.data.title.code, JSON.stringify(tooLong.response));

    const badSelect = await expectError(
      alice.collection('posts').create({ title: 'bad tags', tags: ['a', 'z'], author: users.alice.id }),
      400,
      'unknown select value',
    );
    assert.ok(badSelect.response.data.tags.code, JSON.stringify(badSelect.response));

    const notInt = await expectError(
      alice.collection('posts').create({ title: 'fraction', views: 1.5, author: users.alice.id }),
      400,
      'onlyInt number',
    );
    assert.ok(notInt.response.data.views.code, JSON.stringify(notInt.response));
  });

  test('the SDK reports errors as ClientResponseError', STEP, async () => {
    try {
      await alice.collection('posts').getOne('doesnotexist123');
      assert.fail('expected a 404');
    } catch (err) {
      assert.ok(err instanceof ClientResponseError);
      assert.equal(err.status, 404);
      assert.equal(err.response.status, 404);
    }
  });
});
