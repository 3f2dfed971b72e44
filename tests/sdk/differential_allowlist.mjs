// Deliberate differences between Keel and PocketBase 0.40.6 that differential.mjs accepts.
//
// Each rule matches differences by `step` (string or RegExp), `path` (string or RegExp, e.g.
// "body.data.title.code") and `kind` ("status", "missing key", "extra key", "type", "value",
// "length"); every field left out matches anything. Every rule has a `reason`, and every rule
// is described in docs/compat.md. "not yet: …" marks a gap to close, not a design decision.

export const ALLOWLIST = [];
