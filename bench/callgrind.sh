#!/usr/bin/env bash
# Instructions per request of one records workload, counted by valgrind's callgrind: a number
# that does not drift with the machine's speed (unlike req/s), for paired comparisons such as
# request logs on and off. See docs/BENCHMARKS.md ("Request logs on and off").
#
# usage: bench/callgrind.sh [--keel PATH] [--request-logs on|off] [--workload view|list|health]
#                           [--requests 2000] [--out DIR] [--browser-headers] [--signed-in]
# Seeds a fresh data dir (bench/seed.py), starts `keel serve` under callgrind, sends 300
# unmeasured requests, zeroes the counters, sends --requests requests one after another on one
# keep-alive connection, waits for the request-log writer's batch (250 ms; 3 s under
# valgrind), dumps, and prints `instructions_per_request`. The dump stays in --out for
# `callgrind_annotate`. --browser-headers sends the eleven headers a browser's fetch sends
# (user agent, accepts, origin, referer, sec-fetch-*, …) instead of Python's two. --signed-in
# sends a `users` record's auth token with each request (the user is made while seeding).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEL_BIN="$ROOT/target/release/keel"
LOGS=on
WORKLOAD=view
REQUESTS=2000
OUT=""
HEADERS=plain
SIGNED_IN=no
while (($#)); do
  case "$1" in
    --keel) KEEL_BIN="${2:?}"; shift 2 ;;
    --request-logs) LOGS="${2:?}"; shift 2 ;;
    --workload) WORKLOAD="${2:?}"; shift 2 ;;
    --requests) REQUESTS="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --browser-headers) HEADERS=browser; shift ;;
    --signed-in) SIGNED_IN=yes; shift ;;
    *) echo "callgrind.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ "$LOGS" == on || "$LOGS" == off ]] || { echo "callgrind.sh: --request-logs takes on or off" >&2; exit 2; }
[[ "$WORKLOAD" == view || "$WORKLOAD" == list || "$WORKLOAD" == health ]] ||
  { echo "callgrind.sh: --workload takes view, list or health" >&2; exit 2; }
NAME=callgrind.sh
# shellcheck source=bench/valgrind-server.sh
source "$ROOT/bench/valgrind-server.sh"

drive() { # drive N: N requests of the workload on one keep-alive connection
  python3 - "$PORT" "$1" "$OUT/ids.txt" "$WORKLOAD" "$HEADERS" "$SIGNED_IN" "$OUT/token.txt" <<'PY'
import http.client, sys
port, n, ids_file, workload = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ids = [l.strip() for l in open(ids_file) if l.strip()]
headers = {}
if sys.argv[5] == "browser":
    # What a browser's fetch() from a web app on another origin sends (no cookies).
    headers = {
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Accept": "*/*",
        "Accept-Language": "en-US,en;q=0.9",
        "Origin": "http://localhost:5173",
        "Referer": "http://localhost:5173/",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-site",
        "Sec-Ch-Ua": '"Chromium";v="131", "Not_A Brand";v="24"',
        "Sec-Ch-Ua-Mobile": "?0",
        "Sec-Ch-Ua-Platform": '"Linux"',
    }
if sys.argv[6] == "yes":
    headers["Authorization"] = open(sys.argv[7]).read().strip()
conn = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    if workload == "view":
        conn.request("GET", "/api/collections/items/records/" + ids[i % len(ids)], headers=headers)
    elif workload == "health":
        # what every request costs before a route's own work (no database, no rule)
        conn.request("GET", "/api/health", headers=headers)
    else:
        # the wrk list workload's request (bench/wrk/list.lua): 50 matches, a page of 20
        x = (i * 7919) % 9950
        conn.request("GET", "/api/collections/items/records?filter=%28n%3E%3D" + str(x)
                     + "%26%26n%3C" + str(x + 50) + "%29&perPage=20&skipTotal=1", headers=headers)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"request {i}: status {r.status}")
PY
}

"$KEEL_BIN" --data-dir "$DATA" superuser upsert "$EMAIL" "$PASSWORD" >"$OUT/upsert.log" 2>&1
"$KEEL_BIN" --data-dir "$DATA" serve --http "127.0.0.1:$PORT" >"$OUT/seed-serve.log" 2>&1 &
PID=$!
wait_up
# --signed-in: a regular user's auth token, signed in while seeding (not under valgrind:
# hashing the password would swamp the count).
TOKEN=()
[[ "$SIGNED_IN" == yes ]] && TOKEN=(--token-out "$OUT/token.txt")
python3 "$ROOT/bench/seed.py" --url "$URL" --email "$EMAIL" --password "$PASSWORD" --count 10000 \
  --ids 1000 --ids-out "$OUT/ids.txt" --request-logs "$LOGS" "${TOKEN[@]}" >&2
kill "$PID"; wait "$PID" || true

valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$KEEL_BIN" --data-dir "$DATA" \
  serve --http "127.0.0.1:$PORT" >"$OUT/serve.log" 2>&1 &
PID=$!
wait_up
drive 300
sleep 3 # the request-log writer stores the warm-up's rows (a 250 ms batch, slower under valgrind)
callgrind_control -z "$PID" >/dev/null
drive "$REQUESTS"
sleep 3 # and the measured requests' rows, so their inserts are counted
callgrind_control -d "$PID" >/dev/null
kill "$PID"; wait "$PID" || true
total=$(callgrind_annotate "$OUT/callgrind.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "request_logs $LOGS"
echo "workload $WORKLOAD"
echo "requests $REQUESTS"
echo "instructions_per_request $((total / REQUESTS))"
echo "dump $OUT/callgrind.out.1"
