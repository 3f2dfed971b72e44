#!/usr/bin/env bash
# Jobs benchmark: Keel's jobs service (embedded SQLite store, then PostgreSQL store) and BullMQ
# on Redis, on the same workload, one after the other. See docs/BENCHMARKS.md ("Jobs").
#
# usage: bench/jobs.sh [--jobs 20000] [--concurrency 16] [--batch 100] [--latency-jobs 2000]
#                      [--rate 500] [--postgres-url URL] [--no-build] [--only keel|bullmq]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEL_BIN="$ROOT/target/release/keel"
JOBS=20000
CONCURRENCY=16
BATCH=100
LATENCY_JOBS=2000
RATE=500
# A database of its own, so the runs never touch the test suites' tables.
POSTGRES_URL="${KEEL_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/keel_bench}"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
BUILD=1
ONLY=""

usage() {
  cat <<'EOF'
usage: bench/jobs.sh [options]

Runs the same jobs workload on Keel (embedded store, then PostgreSQL store) and on BullMQ
(Redis at 127.0.0.1:6379), one at a time, and prints the figures side by side:
  enqueue   N jobs in batches of B, jobs/s
  process   C concurrent no-op workers drain the N jobs, jobs/s
  latency   single enqueues at a steady rate while the workers run, enqueue → completed p50/p99

options:
  --jobs N             jobs in the throughput runs (default 20000)
  --concurrency C      workers (default 16)
  --batch B            jobs per enqueue call (default 100)
  --latency-jobs M     jobs in the latency run (default 2000)
  --rate R             enqueues per second in the latency run (default 500)
  --postgres-url URL   Keel's PostgreSQL store (default $KEEL_BENCH_POSTGRES_URL or
                       postgres://postgres@127.0.0.1:5432/keel_bench, created if missing)
  --no-build           use target/release/keel as it is
  --only keel|bullmq   run one side only
  -h, --help           this text

needs: cargo, PostgreSQL, Redis, node ≥ 20 with npm, python3 (for the side-by-side table).
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
    --batch) BATCH="${2:-}"; positive_int "$1" "$BATCH"; shift 2 ;;
    --latency-jobs) LATENCY_JOBS="${2:-}"; positive_int "$1" "$LATENCY_JOBS"; shift 2 ;;
    --rate) RATE="${2:-}"; positive_int "$1" "$RATE"; shift 2 ;;
    --postgres-url) POSTGRES_URL="${2:?--postgres-url needs a URL}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --only)
      ONLY="${2:-}"
      [[ "$ONLY" == keel || "$ONLY" == bullmq ]] || die "--only takes keel or bullmq"
      shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

# The machine's idle CPU over the 2 s before a run: other work skews every figure.
idle_before() {
  local a b a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8
  read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
  sleep 2
  read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
  a=$(( (b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8) - (a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8) ))
  b=$(( (b4 + b5) - (a4 + a5) ))
  ((a > 0)) || a=1
  echo "   (machine idle over the 2 s before this run: $((100 * b / a))%)"
}

OUT="$ROOT/bench-out/jobs-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
COMMON=(--jobs "$JOBS" --concurrency "$CONCURRENCY" --batch "$BATCH" --latency-jobs "$LATENCY_JOBS" --rate "$RATE")

# Keel runs from an empty directory, so a keel.toml of the caller is not read.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ "$ONLY" != bullmq ]]; then
  if ((BUILD)); then
    echo "== cargo build --release -p keel"
    (cd "$ROOT" && cargo build --release -p keel)
  fi
  [[ -x "$KEEL_BIN" ]] || die "no $KEEL_BIN: run cargo build --release"

  # Create the benchmark database when it is the default one and psql is at hand.
  if [[ "$POSTGRES_URL" == */keel_bench ]] && command -v psql >/dev/null; then
    admin="${POSTGRES_URL%/keel_bench}/postgres"
    if [[ -z "$(psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'keel_bench'" 2>/dev/null)" ]]; then
      psql "$admin" -qc "CREATE DATABASE keel_bench" >/dev/null || die "cannot create keel_bench at $admin"
    fi
  fi

  echo "== keel bench jobs --store embedded ${COMMON[*]}"
  idle_before | tee "$OUT/idle-keel-embedded.txt"
  (cd "$WORK" && "$KEEL_BIN" bench jobs --store embedded "${COMMON[@]}") | tee "$OUT/keel-embedded.txt"
  echo
  # This machine's PostgreSQL runs with autovacuum off: without a vacuum, the dead rows of
  # earlier runs (each job leaves three row versions) slow every later one.
  if command -v psql >/dev/null; then
    psql "$POSTGRES_URL" -qc "SELECT to_regclass('keel_jobs') IS NOT NULL AS t" -At 2>/dev/null | grep -qx t &&
      psql "$POSTGRES_URL" -qc "VACUUM (ANALYZE) keel_jobs, keel_job_queues" >/dev/null
  fi
  echo "== keel bench jobs --store postgres ${COMMON[*]}"
  idle_before | tee "$OUT/idle-keel-postgres.txt"
  (cd "$WORK" && "$KEEL_BIN" bench jobs --store postgres --postgres-url "$POSTGRES_URL" "${COMMON[@]}") |
    tee "$OUT/keel-postgres.txt"
  echo
fi

if [[ "$ONLY" != keel ]]; then
  command -v node >/dev/null || die "node is missing (Node 20 or newer)"
  if command -v redis-cli >/dev/null; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null || die "Redis does not answer at $REDIS_HOST:$REDIS_PORT"
  fi
  echo "== npm ci --prefix bench/bullmq"
  npm ci --prefix "$ROOT/bench/bullmq" --no-audit --no-fund --loglevel=error
  echo "== node bench/bullmq/bench.mjs ${COMMON[*]}"
  idle_before | tee "$OUT/idle-bullmq.txt"
  node "$ROOT/bench/bullmq/bench.mjs" "${COMMON[@]}" --host "$REDIS_HOST" --port "$REDIS_PORT" |
    tee "$OUT/bullmq.txt"
  echo
fi

python3 - "$OUT" <<'EOF'
import json, pathlib, sys

out = pathlib.Path(sys.argv[1])
runs = []
for name, label in [("keel-embedded", "Keel (embedded SQLite)"), ("keel-postgres", "Keel (PostgreSQL)"), ("bullmq", "BullMQ (Redis)")]:
    path = out / f"{name}.txt"
    if not path.exists():
        continue
    lines = [l for l in path.read_text().splitlines() if l.startswith('{"bench":"jobs"')]
    if lines:
        run = json.loads(lines[-1])
        idle = out / f"idle-{name}.txt"
        digits = "".join(c for c in idle.read_text().split(":")[-1] if c.isdigit()) if idle.exists() else ""
        run["idleBefore"] = f"{digits}%" if digits else "?"
        runs.append((label, run))
if not runs:
    sys.exit("jobs.sh: no results")
first = runs[0][1]
rows = [
    ("enqueue (jobs/s)", lambda r: f"{r['enqueuePerSec']:,.0f}"),
    ("process (jobs/s)", lambda r: f"{r['processPerSec']:,.0f}"),
    ("latency p50 (ms)", lambda r: str(r["latencyP50Ms"])),
    ("latency p99 (ms)", lambda r: str(r["latencyP99Ms"])),
    ("latency max (ms)", lambda r: str(r["latencyMaxMs"])),
    ("latency run rate (/s)", lambda r: str(r["latencyRate"])),
    ("machine idle before", lambda r: r["idleBefore"]),
]
head = ["", *[label for label, _ in runs]]
table = [head] + [[name, *[f(r) for _, r in runs]] for name, f in rows]
widths = [max(len(row[i]) for row in table) for i in range(len(head))]
report = [
    f"Jobs: {first['jobs']} jobs, batches of {first['batch']}, concurrency {first['concurrency']}, "
    f"{first['latencyJobs']} latency jobs, {first['cores']} cores",
    "",
    "| " + " | ".join(c.ljust(w) for c, w in zip(head, widths)) + " |",
    "|" + "|".join("-" * (w + 2) for w in widths) + "|",
]
for row in table[1:]:
    report.append("| " + " | ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]) + " |")
text = "\n".join(report)
print(text)
(out / "summary.md").write_text(text + "\n")
EOF
echo "(raw output: ${OUT#"$ROOT"/})"
