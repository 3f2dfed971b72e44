#!/usr/bin/env bash
# Jobs benchmark: `keel bench jobs` on each engine and BullMQ on the same local Redis, same
# no-op jobs, interleaved run by run, medians side by side. See docs/BENCHMARKS.md ("Jobs").
#
# usage: bench/jobs.sh [--jobs 10000] [--concurrency 50] [--runs 3]
#                      [--engines "embedded postgres redis nats"] [--no-build] [--no-bullmq]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEL_BIN="$ROOT/target/release/keel"
JOBS=10000
CONCURRENCY=50
RUNS=3
ENGINES="embedded postgres redis nats"
# A database of its own, so the runs never touch the test suites' tables.
POSTGRES_URL="${KEEL_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/keel_bench}"
REDIS_URL=redis://127.0.0.1:6379
NATS_URL=nats://127.0.0.1:4222
BUILD=1
BULLMQ=1

usage() {
  cat <<'EOF'
usage: bench/jobs.sh [options]

Runs `keel bench jobs --engine E` for each engine, and BullMQ (bench/bullmq/bench.mjs) on the
Redis at 127.0.0.1:6379, one after the other, --runs times round, and prints the median of
each figure (enqueue_single_per_s, enqueue_bulk_per_s, processed_per_s) side by side.

options:
  --jobs N           no-op jobs per phase (default 10000)
  --concurrency C    concurrent enqueuers and workers (default 50)
  --runs R           rounds (default 3)
  --engines "E …"    Keel engines (default "embedded postgres redis nats")
  --no-build         use target/release/keel as it is
  --no-bullmq        Keel only
  -h, --help         this text

needs: cargo, PostgreSQL, Redis, NATS with JetStream, node ≥ 20 with npm, python3.
Raw output goes to bench-out/jobs-<date>-<time>/.
EOF
}

die() {
  echo "jobs.sh: $*" >&2
  exit 2
}

positive_int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }

while (($#)); do
  case "$1" in
    --jobs) JOBS="${2:-}"; positive_int "$1" "$JOBS"; shift 2 ;;
    --concurrency) CONCURRENCY="${2:-}"; positive_int "$1" "$CONCURRENCY"; shift 2 ;;
    --runs) RUNS="${2:-}"; positive_int "$1" "$RUNS"; shift 2 ;;
    --engines) ENGINES="${2:?--engines needs a list}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-bullmq) BULLMQ=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

OUT="$ROOT/bench-out/jobs-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
# Keel runs from an empty directory, so a keel.toml of the caller is not read.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if ((BUILD)); then
  echo "== cargo build --release -p keel"
  (cd "$ROOT" && cargo build --release -p keel)
fi
[[ -x "$KEEL_BIN" ]] || die "no $KEEL_BIN: run cargo build --release"

# Create the benchmark database when it is the default one and psql is at hand.
if [[ " $ENGINES " == *" postgres "* && "$POSTGRES_URL" == */keel_bench ]] && command -v psql >/dev/null; then
  admin="${POSTGRES_URL%/keel_bench}/postgres"
  if [[ -z "$(psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'keel_bench'" 2>/dev/null)" ]]; then
    psql "$admin" -qc "CREATE DATABASE keel_bench" >/dev/null || die "cannot create keel_bench at $admin"
  fi
fi
if ((BULLMQ)); then
  command -v node >/dev/null || die "node is missing (Node 20 or newer)"
  echo "== npm ci --prefix bench/bullmq"
  npm ci --prefix "$ROOT/bench/bullmq" --no-audit --no-fund --loglevel=error
fi

url_of() {
  case "$1" in
    postgres) echo "$POSTGRES_URL" ;;
    redis) echo "$REDIS_URL" ;;
    nats) echo "$NATS_URL" ;;
  esac
}

COMMON=(--jobs "$JOBS" --concurrency "$CONCURRENCY")
for ((run = 1; run <= RUNS; run++)); do
  for engine in $ENGINES; do
    # This machine's PostgreSQL runs with autovacuum off: without a vacuum, the dead rows of
    # earlier runs slow every later one.
    if [[ $engine == postgres ]] && command -v psql >/dev/null; then
      psql "$POSTGRES_URL" -qAtc "SELECT to_regclass('keel_jobs') IS NOT NULL" 2>/dev/null | grep -qx t &&
        psql "$POSTGRES_URL" -qc "VACUUM (ANALYZE) keel_jobs, keel_job_queues" >/dev/null
    fi
    url=$(url_of "$engine")
    echo "== run $run: keel bench jobs --engine $engine ${url:+--url $url }${COMMON[*]}"
    (cd "$WORK" && "$KEEL_BIN" bench jobs --engine "$engine" ${url:+--url "$url"} "${COMMON[@]}") |
      tee "$OUT/keel-$engine-$run.txt"
  done
  if ((BULLMQ)); then
    echo "== run $run: node bench/bullmq/bench.mjs ${COMMON[*]}"
    node "$ROOT/bench/bullmq/bench.mjs" "${COMMON[@]}" | tee "$OUT/bullmq-$run.txt"
  fi
done

python3 - "$OUT" "$ENGINES" "$BULLMQ" "$JOBS" "$CONCURRENCY" "$RUNS" <<'EOF'
import pathlib, statistics, sys

out, engines, bullmq, jobs, conc, runs = sys.argv[1:]
systems = [(f"keel-{e}", f"Keel {e}") for e in engines.split()]
if bullmq == "1":
    systems.append(("bullmq", "BullMQ (Redis)"))
figures = ["enqueue_single_per_s", "enqueue_bulk_per_s", "processed_per_s"]
out_path = pathlib.Path(out)
medians = {}
for key, _ in systems:
    seen = {f: [] for f in figures}
    for path in sorted(out_path.glob(f"{key}-*.txt")):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in seen:
                seen[parts[0]].append(int(parts[1]))
    medians[key] = {f: (int(statistics.median(v)), min(v), max(v)) if v else None for f, v in seen.items()}
head = ["figure (median; min–max)", *[label for _, label in systems]]
rows = [head]
for f in figures:
    row = [f]
    for key, _ in systems:
        m = medians[key][f]
        row.append(f"{m[0]:,} ({m[1]:,}–{m[2]:,})" if m else "—")
    rows.append(row)
widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
lines = [f"Jobs: {jobs} no-op jobs per phase, concurrency {conc}, {runs} runs", ""]
lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(head, widths)) + " |")
lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows[1:]:
    lines.append("| " + " | ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]) + " |")
text = "\n".join(lines)
print(text)
(out_path / "summary.md").write_text(text + "\n")
EOF
echo "(raw output: ${OUT#"$ROOT"/})"
