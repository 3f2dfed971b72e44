#!/usr/bin/env bash
# Writes crates/keel/hot-symbols.txt: the functions a server runs, from its start through the
# records workloads, hottest first. The release build of `keel` hands the file to the linker
# (crates/keel/build.rs, lld's --symbol-ordering-file), which puts those functions next to each
# other at the start of the code. The kernel maps an executable's pages around every page a
# process touches, so code that runs, spread over the whole 50 MB of text, kept most of the
# text resident; laid out together it takes a few MB. See docs/BENCHMARKS.md ("The
# executable's half of the RSS").
#
# usage: bench/hot-symbols.sh [--keel PATH] [--out DIR] [--requests 300]
# PATH is a release build (default target/release/keel). Runs `keel serve` under valgrind's
# callgrind from its first instruction to its shutdown while seeding it and sending each records
# workload (health, view, a signed-in view, list, create) on one connection and, with wrk
# installed, for 3 s with 32 connections; then reads every function of the executable that ran
# from the dump (callgrind's own entries, `(below main)` and bare addresses, left out).
# Symbol names carry a hash of the crate and its dependencies' versions and features: regenerate
# the file after a toolchain or dependency update (names that no longer exist are skipped by the
# linker), from a build of `cargo build --release -p keel` (the build `cargo run --release` makes;
# `.ci/run` checks that a workspace build gives the binary's crates the same features).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEL_BIN="$ROOT/target/release/keel"
OUT=""
REQUESTS=300
while (($#)); do
  case "$1" in
    --keel) KEEL_BIN="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --requests) REQUESTS="${2:?}"; shift 2 ;;
    *) echo "hot-symbols.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
KEEL_BIN=$(realpath "$KEEL_BIN")
NAME=hot-symbols.sh
# shellcheck source=bench/valgrind-server.sh
source "$ROOT/bench/valgrind-server.sh"

drive() { # drive WORKLOAD N [signed-in]: N requests on one keep-alive connection
  python3 - "$PORT" "$1" "$2" "$OUT/ids.txt" "${3:-}" "$OUT/token.txt" <<'PY'
import http.client, sys
port, workload, n, ids_file, signed_in, token_file = sys.argv[1:7]
ids = [l.strip() for l in open(ids_file) if l.strip()]
headers = {"Authorization": open(token_file).read().strip()} if signed_in else {}
conn = http.client.HTTPConnection("127.0.0.1", int(port))
for i in range(int(n)):
    body = None
    if workload == "health":
        method, path = "GET", "/api/health"
    elif workload == "view":
        method, path = "GET", "/api/collections/items/records/" + ids[i % len(ids)]
    elif workload == "list":
        x = (i * 7919) % 9950
        method, path = "GET", ("/api/collections/items/records?filter=%28n%3E%3D" + str(x)
                               + "%26%26n%3C" + str(x + 50) + "%29&perPage=20&skipTotal=1")
    else:
        method, path = "POST", "/api/collections/items/records"
        body = b'{"title":"created by wrk","n":123,"flag":true}'
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{workload} request {i}: status {r.status}")
PY
}

"$KEEL_BIN" --data-dir "$DATA" superuser upsert "$EMAIL" "$PASSWORD" >"$OUT/upsert.log" 2>&1
DUMP="$OUT/callgrind.out"
valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no \
  --callgrind-out-file="$DUMP" "$KEEL_BIN" --data-dir "$DATA" \
  serve --http "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
PID=$!
wait_up
# Seeding runs under callgrind as well: bench/records.sh's server creates the collection and
# its records, and signs in, before the workloads.
python3 "$ROOT/bench/seed.py" --url "$URL" --email "$EMAIL" --password "$PASSWORD" --count 10000 \
  --ids 1000 --ids-out "$OUT/ids.txt" --token-out "$OUT/token.txt" --request-logs on >&2
callgrind_control -d "$PID" >/dev/null 2>&1 # start and seeding: $DUMP.1; the workloads: $DUMP
drive health "$REQUESTS"
drive view "$REQUESTS"
drive view "$REQUESTS" signed-in
drive list "$REQUESTS"
drive create "$REQUESTS"
# The same workloads with bench/records.sh's concurrency, for the code only contention runs
# (work stealing, parking, connection accept bursts).
if command -v wrk >/dev/null; then
  WRK=(wrk -t2 -c32 -d3s --timeout 10s)
  "${WRK[@]}" "$URL/api/health" >/dev/null
  "${WRK[@]}" -s "$ROOT/bench/wrk/view.lua" "$URL" -- "$OUT/ids.txt" >/dev/null
  "${WRK[@]}" -s "$ROOT/bench/wrk/view.lua" "$URL" -- "$OUT/ids.txt" "$OUT/token.txt" >/dev/null
  "${WRK[@]}" -s "$ROOT/bench/wrk/list.lua" "$URL" >/dev/null
  "${WRK[@]}" -s "$ROOT/bench/wrk/create.lua" "$URL" >/dev/null
fi
sleep 3 # the request-log writer's batch (250 ms, slower under valgrind) runs before shutdown
kill -TERM "$PID"; wait "$PID" || true

# Self cost of each function of the executable (callgrind's uncompressed format: `ob=` and
# `fn=` name the current object and function; a `calls=` line's next line is the call's
# inclusive cost, not the caller's own). The workloads' functions come first, hottest first,
# then those only the start and seeding ran.
python3 - "$DUMP" "$DUMP.1" "$KEEL_BIN" "$ROOT/crates/keel/hot-symbols.txt" <<'PY'
import collections, sys
workloads, start, binary, out = sys.argv[1:5]

def self_costs(dump):
    cost = collections.Counter()
    ob = fn = None
    skip_next = False
    for line in open(dump, errors="replace"):
        line = line.rstrip("\n")
        if skip_next:
            skip_next = False
            continue
        if line.startswith("ob="):
            ob = line[3:]
        elif line.startswith("fn="):
            # callgrind marks a function's recursion levels and cycles as `name'2`
            fn = line[3:].split("'")[0]
        elif line.startswith("calls="):
            skip_next = True
        elif line[:1].isdigit() and fn is not None and ob == binary:
            parts = line.split()
            if len(parts) >= 2:
                cost[fn] += int(parts[1])
    return cost

names = []
for cost in (self_costs(workloads), self_costs(start)):
    names += [n for n, c in cost.most_common() if c > 0 and not n.startswith(("0x", "("))]
names = list(dict.fromkeys(names))
with open(out, "w") as f:
    for n in names:
        f.write(n + "\n")
print(f"hot-symbols.sh: {len(names)} functions written to {out}")
PY
