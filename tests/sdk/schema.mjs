// The collections the scenario's app uses, as a PocketBase user would define them.

const OWNER = 'author = @request.auth.id';

/** `posts`: every common field type, owner-only writes, published-or-own reads. */
export function postsCollection(usersId) {
  return {
    name: 'posts',
    type: 'base',
    fields: [
      { name: 'title', type: 'text', required: true, max: 100 },
      { name: 'body', type: 'text' },
      { name: 'views', type: 'number', onlyInt: true },
      { name: 'published', type: 'bool' },
      { name: 'tags', type: 'select', maxSelect: 3, values: ['a', 'b', 'c'] },
      { name: 'meta', type: 'json' },
      { name: 'author', type: 'relation', collectionId: usersId, maxSelect: 1 },
      { name: 'cover', type: 'file', maxSelect: 1, maxSize: 1024 * 1024, mimeTypes: ['image/png'] },
      { name: 'created', type: 'autodate', onCreate: true },
      { name: 'updated', type: 'autodate', onCreate: true, onUpdate: true },
    ],
    listRule: `published = true || ${OWNER}`,
    viewRule: `published = true || ${OWNER}`,
    createRule: `@request.auth.id != "" && ${OWNER}`,
    updateRule: OWNER,
    deleteRule: OWNER,
  };
}

/** `comments`: belongs to a post (cascade delete) and a user; a protected attachment. */
export function commentsCollection(postsId, usersId) {
  return {
    name: 'comments',
    type: 'base',
    fields: [
      { name: 'post', type: 'relation', collectionId: postsId, maxSelect: 1, cascadeDelete: true },
      { name: 'message', type: 'text' },
      { name: 'user', type: 'relation', collectionId: usersId, maxSelect: 1 },
      { name: 'attachment', type: 'file', maxSelect: 1, maxSize: 1024 * 1024, protected: true },
      { name: 'created', type: 'autodate', onCreate: true },
    ],
    listRule: '@request.auth.id != ""',
    viewRule: '@request.auth.id != ""',
    createRule: '@request.auth.id != "" && user = @request.auth.id',
    updateRule: 'user = @request.auth.id',
    deleteRule: 'user = @request.auth.id',
  };
}
