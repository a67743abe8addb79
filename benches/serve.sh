#!/usr/bin/env bash
# Serving benchmark (not a test): requests per second, p50/p99 latency and the server's CPU time
# per request of /rank and of items?bbox= queries, with wrk on loopback against a release build.
# Bounded: 10 s per endpoint and server.
#
# Usage: bash benches/serve.sh
#        PEER=/path/to/other/sitefinder bash benches/serve.sh   # also runs the same requests
#        against another build (e.g. an older commit's) and prints this build's CPU per request
#        as a ratio to the peer's.
#        UNITS=FILE bash benches/serve.sh                      # serve these units (default:
#        Rochdale's 107)
# (installs Debian's wrk if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get install -y --no-install-recommends wrk; }
cargo build --release --quiet
paths=(
  "/rank?limit=100"
  "/rank?limit=20"
  "/rank?limit=20&weights=deprivation:5,gap:3&imd_deciles=1-3"
  "/rank?limit=20&bbox=-2.20,53.60,-2.12,53.64"
  "/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&limit=100"
  "/collections/practices/items?bbox=-2.30,53.50,-2.00,53.70&limit=100"
)
tck=$(getconf CLK_TCK)

# run NAME BINARY PORT: starts the server, measures every path, prints "NAME path cpu_ms/request".
run() {
  local name=$1 bin=$2 port=$3 log pid
  log=$(mktemp)
  "$bin" serve --addr "127.0.0.1:$port" --as-of 2024-07-01 --data "$PWD/data" --web "$PWD/web/app" ${UNITS:+--units "$UNITS"} >"$log" 2>/dev/null &
  pid=$!
  for _ in $(seq 300); do grep -q "serving" "$log" && break; sleep 0.1; done
  head -1 "$log" >&2
  for path in "${paths[@]}"; do
    local before after out reqs
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    out=$(wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$port$path")
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$out" | grep -E "Requests/sec|^\s+50%|^\s+99%|Non-2xx|Socket errors" | sed "s/^/  [$name] /" >&2
    echo "$name $path $(awk -v c=$((after - before)) -v r="$reqs" -v t="$tck" 'BEGIN {printf "%.3f", 1000 * c / t / r}')"
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
run this "${CARGO_TARGET_DIR:-target}/release/sitefinder" "${PORT:-18090}" | tee -a "$results"
if [ -n "${PEER:-}" ]; then
  run peer "$PEER" "$((${PORT:-18090} + 1))" | tee -a "$results"
  echo "== server CPU ms per request: this build vs the peer (ratio < 1: this build is cheaper)"
  for path in "${paths[@]}"; do
    awk -v p="$path" '$2 == p {v[$1] = $3} END {printf "%-70s this %7.3f  peer %7.3f  ratio %.3f\n", p, v["this"], v["peer"], v["this"] / v["peer"]}' "$results"
  done
fi
