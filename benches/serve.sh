#!/usr/bin/env bash
# Serving benchmark (not a test): requests per second and p50/p99 latency of /rank and of an
# items?bbox= query, with wrk on loopback against a release build. Bounded: 10 s per endpoint.
# Usage: bash benches/serve.sh   (installs Debian's wrk if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get install -y --no-install-recommends wrk; }
cargo build --release --quiet
port=${PORT:-18090}
log=$(mktemp)
./target/release/sitefinder serve --addr "127.0.0.1:$port" --as-of 2024-07-01 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "serving" "$log" && break; sleep 0.1; done
cat "$log"
base="http://127.0.0.1:$port"
for path in \
  "/rank?limit=100" \
  "/rank?limit=20&weights=deprivation:5,gap:3&imd_deciles=1-3" \
  "/collections/lsoa/items?bbox=-2.17,53.60,-2.13,53.63&limit=100" \
  "/collections/practices/items?bbox=-2.30,53.50,-2.00,53.70&limit=100"; do
  echo "== GET $path"
  wrk -t2 -c16 -d10s --latency "$base$path" | grep -E "Requests/sec|^\s+50%|^\s+99%|Non-2xx|Socket errors" || true
done
