#!/usr/bin/env python3
"""Prepare a freshly started Keel or PocketBase server for bench/records.sh.

Python 3 standard library only. Steps, identical for both servers:
  1. log in as the superuser (POST /api/collections/_superusers/auth-with-password);
  2. create the base collection `items` (title text, n number, flag bool) with public
     list/view/create rules and the index `CREATE INDEX idx_items_n ON items (n)`; with
     --searchable (Keel only) also the option `"search": {"fields": {"title": 1}}`, so every
     record write updates its full-text index (docs/search.md);
  3. seed COUNT records: n = 0..COUNT-1, title = "item <n>", flag = (n % 2 == 0).
     Uses /api/batch (1000 creates per batch) when `PATCH /api/settings` can enable it,
     otherwise concurrent single creates over keep-alive connections;
  4. check the data (totalItems, an indexed filter) and write ~IDS ids, spread evenly over
     the seeded records, one per line, for the view-one workload;
  5. with --token-out: create a regular user in the default `users` auth collection, sign
     in as it (POST /api/collections/users/auth-with-password) and write its auth token,
     for the view-signed-in workload.

Prints one line `SEED method=... records=... seconds=...` on success; exits non-zero with
a message on any failure.
"""

import argparse
import concurrent.futures
import http.client
import json
import sys
import threading
import time
import urllib.parse

BATCH_SIZE = 1000


class Client:
    """A tiny keep-alive JSON client for one host:port (one instance per thread)."""

    def __init__(self, host, port, token=None, timeout=30):
        self.host, self.port, self.token, self.timeout = host, port, token, timeout
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = self.token
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # A server may close an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return resp.status, payload


def die(msg):
    print(f"seed: {msg}", file=sys.stderr)
    sys.exit(1)


def expect(status, payload, what, ok=(200,)):
    if status not in ok:
        die(f"{what} failed: HTTP {status}: {json.dumps(payload)[:500]}")
    return payload


def record(i):
    return {"title": f"item {i}", "n": i, "flag": i % 2 == 0}


def seed_batch(client, count):
    ids = [None] * count
    for start in range(0, count, BATCH_SIZE):
        stop = min(start + BATCH_SIZE, count)
        reqs = [
            {"method": "POST", "url": "/api/collections/items/records", "body": record(i)}
            for i in range(start, stop)
        ]
        status, payload = client.request("POST", "/api/batch", {"requests": reqs})
        expect(status, payload, f"batch {start}..{stop}")
        if not isinstance(payload, list) or len(payload) != stop - start:
            die(f"batch {start}..{stop}: unexpected answer {json.dumps(payload)[:300]}")
        for i, item in zip(range(start, stop), payload):
            if item.get("status") not in (200, 201):
                die(f"batch item {i}: {json.dumps(item)[:300]}")
            ids[i] = item["body"]["id"]
    return ids


def seed_single(host, port, count, workers):
    local = threading.local()

    def create(i):
        if not hasattr(local, "client"):
            local.client = Client(host, port)  # guests may create: no token needed
        status, payload = local.client.request("POST", "/api/collections/items/records", record(i))
        expect(status, payload, f"create record {i}")
        return payload["id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(create, range(count), chunksize=50))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL, e.g. http://127.0.0.1:8090")
    ap.add_argument("--email", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--ids", type=int, default=1000, help="how many ids to write")
    ap.add_argument("--ids-out", required=True)
    ap.add_argument("--token-out", help="write a signed-in regular user's auth token here")
    ap.add_argument("--workers", type=int, default=8, help="threads for single creates")
    ap.add_argument("--method", choices=["auto", "batch", "single"], default="auto")
    ap.add_argument(
        "--searchable",
        action="store_true",
        help='make items searchable: "search": {"fields": {"title": 1}} (Keel only)',
    )
    ap.add_argument(
        "--request-logs",
        choices=["on", "off"],
        default="on",
        help="off: settings.logs.maxDays = 0 (no request logged); on: the server's default",
    )
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        die("refusing a non-loopback URL")
    host, port = url.hostname, url.port

    client = Client(host, port)
    status, payload = client.request(
        "POST",
        "/api/collections/_superusers/auth-with-password",
        {"identity": args.email, "password": args.password},
    )
    client.token = expect(status, payload, "superuser login")["token"]

    collection = {
        "name": "items",
        "type": "base",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "n", "type": "number"},
            {"name": "flag", "type": "bool"},
        ],
        "listRule": "",
        "viewRule": "",
        "createRule": "",
        "indexes": ["CREATE INDEX idx_items_n ON items (n)"],
    }
    if args.searchable:
        collection["search"] = {"fields": {"title": 1}}
    status, payload = client.request("POST", "/api/collections", collection)
    created = expect(status, payload, "create collection items")
    if args.searchable and not isinstance(created.get("search"), dict):
        die(f"the server ignored the search option: {json.dumps(created)[:300]}")

    if args.request_logs == "off":
        status, payload = client.request("PATCH", "/api/settings", {"logs": {"maxDays": 0}})
        expect(status, payload, "turn request logs off")

    method = args.method
    if method in ("auto", "batch"):
        status, payload = client.request(
            "PATCH", "/api/settings", {"batch": {"enabled": True, "maxRequests": BATCH_SIZE}}
        )
        enabled = (
            status == 200
            and isinstance(payload, dict)
            and isinstance(payload.get("batch"), dict)
            and payload["batch"].get("enabled") is True
        )
        if not enabled:
            if method == "batch":
                expect(status, payload, "enable batch API")
                die("batch API could not be enabled")
            method = "single"
        else:
            method = "batch"

    t0 = time.monotonic()
    if method == "batch":
        ids = seed_batch(client, args.count)
    else:
        ids = seed_single(host, port, args.count, args.workers)
    seconds = time.monotonic() - t0

    # Check: every record is there, and the indexed filter finds the expected ones.
    status, payload = client.request("GET", "/api/collections/items/records?perPage=1")
    total = expect(status, payload, "count records").get("totalItems")
    if total != args.count:
        die(f"expected {args.count} records, the server reports {total}")
    q = urllib.parse.quote("(n>=100&&n<150)", safe="")
    status, payload = client.request(
        "GET", f"/api/collections/items/records?filter={q}&perPage=100&skipTotal=1"
    )
    got = len(expect(status, payload, "filter check").get("items", []))
    if got != 50:
        die(f"filter (n>=100&&n<150) returned {got} records, expected 50")
    if args.searchable:
        # Every seeded title is "item <n>": the word "item" finds them all.
        status, payload = client.request("GET", "/api/collections/items/records?search=item&perPage=1")
        found = expect(status, payload, "search check").get("totalItems")
        if found != min(args.count, 10000):
            die(f"search=item found {found} records, expected {min(args.count, 10000)} (the search cap is 10,000)")

    step = max(1, len(ids) // max(1, args.ids))
    chosen = ids[::step][: args.ids]
    with open(args.ids_out, "w", encoding="ascii") as fh:
        fh.write("\n".join(chosen) + "\n")
    if args.token_out:
        user = {"email": "reader@bench.local", "password": args.password, "passwordConfirm": args.password}
        status, payload = client.request("POST", "/api/collections/users/records", user)
        expect(status, payload, "create a users record")
        status, payload = Client(host, port).request(
            "POST",
            "/api/collections/users/auth-with-password",
            {"identity": user["email"], "password": args.password},
        )
        with open(args.token_out, "w", encoding="ascii") as fh:
            fh.write(expect(status, payload, "users login")["token"] + "\n")
    searchable = " searchable=title" if args.searchable else ""
    print(f"SEED method={method} records={args.count} seconds={seconds:.2f} ids={len(chosen)}{searchable}")


if __name__ == "__main__":
    main()
