# Sourced by bench/callgrind.sh and bench/hot-symbols.sh (after they set OUT, possibly empty,
# and NAME, the script's name for messages): checks for valgrind, makes OUT, and sets the
# data dir, a random port and URL, the bench superuser's credentials and `wait_up`, which
# waits for `keel serve` (several seconds under valgrind) to answer /api/health.
command -v valgrind >/dev/null || { echo "$NAME: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
DATA="$OUT/data"
PORT=$((20000 + RANDOM % 20000))
URL="http://127.0.0.1:$PORT"
EMAIL=admin@bench.local
PASSWORD=benchpassword123

wait_up() {
  for _ in $(seq 600); do
    curl -sf "$URL/api/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "$NAME: keel did not start (see $OUT/serve.log)" >&2
  exit 1
}
