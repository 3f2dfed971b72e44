#!/usr/bin/env bash
# Files benchmark: upload and download throughput of one file through a running `keel serve`,
# on the local disk and on S3 (moto), with the server's peak RSS during each transfer.
# See docs/BENCHMARKS.md ("Files").
#
# usage: bench/files.sh [--size-mib 100] [--providers "local s3"] [--keel PATH]
#
# The peak RSS of a step is the kernel's VmHWM of the keel process, reset (clear_refs 5)
# before the step. Uploads go through records' multipart create (spooled, then streamed into
# the store); downloads through GET /api/files/….
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEL_BIN="$ROOT/target/release/keel"
SIZE_MIB=100
PROVIDERS="local s3"

while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB="${2:?}"; shift 2 ;;
    --providers) PROVIDERS="${2:?}"; shift 2 ;;
    --keel) KEEL_BIN="${2:?}"; shift 2 ;;
    -h | --help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "files.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -x "$KEEL_BIN" ]] || { echo "files.sh: no keel binary at $KEEL_BIN (cargo build --release -p keel)" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL
  for _ in $(seq 1 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "files.sh: $1 did not answer" >&2; exit 1
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

PAYLOAD="$WORK/payload.bin"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$PAYLOAD"

printf '%-8s %-9s %9s %9s %10s %14s\n' provider step MiB seconds MiB/s peak_RSS_MiB
for provider in $PROVIDERS; do
  DATA="$WORK/data-$provider"
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  "$KEEL_BIN" --data-dir "$DATA" superuser upsert bench@example.com benchpassword123 >/dev/null
  KEEL_MAX_BODY_BYTES=$((4 * 1024 * 1024 * 1024)) KEEL_LIMITS__BODY_TIMEOUT_SECS=3600 \
    KEEL_LOG_LEVEL=warn "$KEEL_BIN" --data-dir "$DATA" serve --http "127.0.0.1:$PORT" >"$WORK/keel-$provider.log" 2>&1 &
  KEEL_PID=$!
  PIDS+=("$KEEL_PID")
  wait_http "$BASE/api/health"
  TOKEN=$(curl -sf "$BASE/api/collections/_superusers/auth-with-password" -H 'content-type: application/json' \
    -d '{"identity":"bench@example.com","password":"benchpassword123"}' | json '["token"]')
  auth=(-H "Authorization: $TOKEN")
  curl -sf "${auth[@]}" "$BASE/api/collections" -H 'content-type: application/json' -o /dev/null -d '{
    "name":"blobs","type":"base","listRule":"","viewRule":"","createRule":"",
    "fields":[{"name":"file","type":"file","maxSelect":1,"maxSize":4294967296}]}'
  if [[ $provider == s3 ]]; then
    MOTO_PORT=$(free_port)
    moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
    PIDS+=("$!")
    wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/"
    curl -sf -X PUT "http://127.0.0.1:$MOTO_PORT/bench" -o /dev/null
    curl -sf "${auth[@]}" -X PATCH "$BASE/api/settings" -H 'content-type: application/json' -o /dev/null -d "{
      \"s3\":{\"enabled\":true,\"bucket\":\"bench\",\"region\":\"us-east-1\",\"endpoint\":\"http://127.0.0.1:$MOTO_PORT\",
      \"accessKey\":\"bench\",\"secret\":\"bench\",\"forcePathStyle\":true}}"
  fi
  rss_reset() { echo 5 >"/proc/$KEEL_PID/clear_refs"; }
  rss_peak() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$KEEL_PID/status"; }
  row() { # step seconds
    python3 -c "import sys; s=float(sys.argv[2]); print('%-8s %-9s %9d %9.2f %10.1f %14s' % (sys.argv[1], sys.argv[3], $SIZE_MIB, s, $SIZE_MIB / s, sys.argv[4]))" \
      "$provider" "$2" "$1" "$(rss_peak)"
  }

  printf '%-8s %-9s %9s %9s %10s %14s\n' "$provider" idle - - - "$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$KEEL_PID/status")"
  rss_reset
  OUT=$(curl -sf "${auth[@]}" "$BASE/api/collections/blobs/records" -F "file=@$PAYLOAD;type=application/octet-stream" \
    -w '\n%{time_total}' -o "$WORK/record.json")
  row upload "$OUT"
  ID=$(json '["id"]' <"$WORK/record.json")
  NAME=$(json '["file"]' <"$WORK/record.json")

  rss_reset
  OUT=$(curl -sf "$BASE/api/files/blobs/$ID/$NAME" -o "$WORK/back.bin" -w '%{time_total}')
  row download "$OUT"
  cmp -s "$PAYLOAD" "$WORK/back.bin" || { echo "files.sh: $provider: downloaded bytes differ" >&2; exit 1; }
  rm -f "$WORK/back.bin"
  kill "$KEEL_PID"
  wait "$KEEL_PID" 2>/dev/null || true
done
