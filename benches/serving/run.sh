#!/usr/bin/env bash
# Serving against the server an analyst would publish with instead, on the same SYNTHETIC units
# in the same run: sitefinder serve (OGC API - Features; /rank scores in the server) and pygeoapi
# under gunicorn (2 sync workers) with its SQLiteGPKG provider, reading a GeoPackage (ogr2ogr,
# with its spatial index) of the units and the scores `sitefinder rank` precomputed for it. wrk
# on loopback, 10 s per request at 16 connections and again at 1, on a box in Greater
# Manchester: prints requests per second, p50/p99 latency, the server's CPU time per request (less
# swayed by other work on the machine), each server's cold start (launch to first answer;
# sitefinder's twice: over the units its `rank` kept, then again over what that first server
# prepared and kept beside them, the server the loads run against) and memory, and the ratios.
#
#   bash benches/serving/run.sh              # 1,000,000 units
#   N=200000 bash benches/serving/run.sh
#   SITEFINDER_BIN=path/to/sitefinder bash benches/serving/run.sh   # a ready build, no cargo
#
# Peers go into a venv (target/bench-venv-serving, from benches/serving/requirements.txt); the
# units, the GeoPackage, the configuration and the logs into a temporary folder, removed at the
# end, with both servers stopped. Installs Debian's wrk, gdal-bin, mod_spatialite and python3-venv
# if missing.
# Nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-1000000}"
BBOX="${BBOX:--2.30,53.45,-2.20,53.50}"
here=benches/serving
venv=target/bench-venv-serving

apt_install() { local SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get install -y --no-install-recommends "$@"; }
command -v wrk >/dev/null || apt_install wrk
command -v ogr2ogr >/dev/null || apt_install gdal-bin

# pygeoapi's SQLiteGPKG provider loads mod_spatialite into Python's sqlite3 module, which needs a
# Python built with loadable extensions: the python3 on PATH if it is, else Debian's.
can_load() { "$1" -c "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)" 2>/dev/null; }
py=$(command -v python3)
can_load "$py" || py=/usr/bin/python3
can_load "$py" || { echo "no python3 that can load SQLite extensions (pygeoapi's SQLiteGPKG provider needs one)" >&2; exit 1; }
"$py" -c "import ensurepip" 2>/dev/null || apt_install python3-venv
[ ! -x "$venv/bin/python" ] || can_load "$venv/bin/python" || rm -rf "$venv"
source benches/venv.sh
python3() { "$py" "$@"; } # venv() makes the venv with `python3`: this one
venv "$venv" "$here/requirements.txt"
unset -f python3
spatialite="import sqlite3; c = sqlite3.connect(':memory:'); c.enable_load_extension(True); c.load_extension('mod_spatialite')"
"$venv/bin/python" -c "$spatialite" 2>/dev/null || apt_install libsqlite3-mod-spatialite

bin="${SITEFINDER_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=target/release/sitefinder
fi

tmp=$(mktemp -d)
# sitefinder keeps the units it joins in a cache folder of this run's: the server's start reads
# those its `rank` below joined (the log says so, and the script prints which start it was).
export XDG_CACHE_HOME="$tmp/cache"
sf_pid=""
pg_pid=""
cleanup() {
  for pid in $sf_pid $pg_pid; do kill "$pid" 2>/dev/null || true; done
  for pid in $sf_pid $pg_pid; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { "$py" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
quiet() { "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; exit 1; }; }
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_up NAME URL PID LOG START: seconds from START until URL first answers 2xx; at most 300 s.
wait_up() {
  local deadline=$(($(date +%s) + 300))
  until curl -sf -o /dev/null --max-time 10 "$2"; do
    if ! kill -0 "$3" 2>/dev/null || [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$1 did not answer $2 within 300 s (or stopped); the end of its log:" >&2
      tail -n 30 "$4" >&2
      exit 1
    fi
    sleep 0.05
  done
  since "$5"
}
# mem PID...: resident and peak resident MB, summed over the processes.
mem() { local pid; for pid; do cat "/proc/$pid/status" 2>/dev/null || true; done | awk '/^VmRSS/ {r += $2} /^VmHWM/ {h += $2} END {printf "%.0f %.0f\n", r / 1024, h / 1024}'; }

echo "serving: $N SYNTHETIC units, box $BBOX; load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

# The units, and the GeoPackage an analyst would publish with pygeoapi: every unit (unsuitable
# ones too, as sitefinder's units collection holds them) with its precomputed score, in rank order.
quiet "$bin" synthetic-units --n "$N" --out "$tmp/units.csv" --data data
t=$(now)
quiet "$bin" rank --data data --units "$tmp/units.csv" --include-unsuitable --out "$tmp/ranked.csv"
rank_s=$(since "$t")
t=$(now)
quiet "$py" "$here/gpkg_input.py" "$tmp/units.csv" "$tmp/ranked.csv" "$tmp/gpkg_input.csv"
quiet ogr2ogr -f GPKG "$tmp/units.gpkg" "$tmp/gpkg_input.csv" -oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat \
  -oo AUTODETECT_TYPE=YES -oo KEEP_GEOM_COLUMNS=NO -a_srs EPSG:4326 -nln units -nlt POINT
gpkg_s=$(since "$t")
rm -f "$tmp/ranked.csv" "$tmp/gpkg_input.csv"
echo "prepared for pygeoapi: sitefinder rank ${rank_s} s, GeoPackage (join, ogr2ogr, spatial index) ${gpkg_s} s, $(($(stat -c %s "$tmp/units.gpkg") / 1048576)) MB"

# pygeoapi: configuration, OpenAPI document, gunicorn. Its SQLiteGPKG provider opens the
# GeoPackage anew for each request (mod_spatialite, then AutoGPKGStart, which writes a virtual
# table into the file): two workers at once now and then collide and answer 500
# (InvalidPluginError). wrk counts those, and the script says so.
pg_port=$(free_port)
sed -e "s|@PORT@|$pg_port|g" -e "s|@GPKG@|$tmp/units.gpkg|g" "$here/pygeoapi.yml" >"$tmp/pygeoapi.yml"
export PYGEOAPI_CONFIG="$tmp/pygeoapi.yml" PYGEOAPI_OPENAPI="$tmp/openapi.yml"
quiet "$venv/bin/pygeoapi" openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI"
pg="http://127.0.0.1:$pg_port"
t=$(now)
"$venv/bin/gunicorn" --workers 2 --bind "127.0.0.1:$pg_port" --no-control-socket --error-logfile "$tmp/pygeoapi.log" \
  pygeoapi.flask_app:APP >>"$tmp/pygeoapi.log" 2>&1 &
pg_pid=$!
pg_cold=$(wait_up pygeoapi "$pg/collections/units/items?limit=1&f=json" "$pg_pid" "$tmp/pygeoapi.log" "$t")

# sitefinder
sf_port=$(free_port)
sf="http://127.0.0.1:$sf_port"
t=$(now)
"$bin" serve --addr "127.0.0.1:$sf_port" --data "$PWD/data" --web "$PWD/web/app" --units "$tmp/units.csv" \
  --state "$tmp/state" >"$tmp/sitefinder.log" 2>&1 &
sf_pid=$!
sf_cold=$(wait_up sitefinder "$sf/collections/units/items?limit=1" "$sf_pid" "$tmp/sitefinder.log" "$t")
grep -q serving "$tmp/sitefinder.log" || { echo "sitefinder answered but its log does not say serving:" >&2; tail -n 30 "$tmp/sitefinder.log" >&2; exit 1; }
sf_ready=$(sed -n 's/.*ready in \([0-9]*\) ms.*/\1/p' "$tmp/sitefinder.log" | head -1)
if grep -q "read joined from" "$tmp/sitefinder.log"; then
  echo "sitefinder's start read the units its rank above joined and kept (the cache); --no-cache would join them again"
else
  echo "sitefinder's start imported and joined the units"
fi
# That first server also kept what it prepared for rankings beside the joined units: a second
# start reads those too, as every later start over the same units does (its phases logged).
kill "$sf_pid"
wait "$sf_pid" 2>/dev/null || true
t=$(now)
RUST_LOG=sitefinder=info "$bin" serve --addr "127.0.0.1:$sf_port" --data "$PWD/data" --web "$PWD/web/app" \
  --units "$tmp/units.csv" --state "$tmp/state" >"$tmp/sitefinder.log" 2>&1 &
sf_pid=$!
sf_again=$(wait_up sitefinder "$sf/collections/units/items?limit=1" "$sf_pid" "$tmp/sitefinder.log" "$t")
sf_ready_again=$(sed -n 's/.*ready in \([0-9]*\) ms.*/\1/p' "$tmp/sitefinder.log" | head -1)
if grep -q "read the prepared values kept" "$tmp/sitefinder.log"; then
  sf_again_how="the joined units and prepared values kept"
else
  sf_again_how="the prepared values NOT read (see its log)"
fi

# Does the provider sort? Ask for rising scores: an answer in file order (falling) means no.
pg_rank_q="bbox=$BBOX&sortby=-score&limit=20&f=json"
code=$(curl -s -o "$tmp/sorted.json" -w '%{http_code}' --max-time 60 "$pg/collections/units/items?bbox=$BBOX&sortby=score&limit=20&f=json")
if [ "$code" != 200 ] || [ "$("$py" "$here/check.py" "$tmp/sorted.json" | cut -d' ' -f6)" != rising ]; then
  pg_rank_q="bbox=$BBOX&limit=20&f=json"
  echo "note: pygeoapi's SQLiteGPKG provider ignores sortby (HTTP $code, sortby=score did not come back rising);"
  echo "      the rank pair asks it for the plain bbox request, whose first 20 are the best scores only"
  echo "      because the GeoPackage was written in rank order"
fi

names=(items rank)
sf_paths=("/collections/units/items?bbox=$BBOX&limit=100" "/rank?bbox=$BBOX&limit=20")
pg_paths=("/collections/units/items?bbox=$BBOX&limit=100&f=json" "/collections/units/items?$pg_rank_q")

# One checked answer of each request: HTTP 200, and what it holds.
echo "answers (features returned / numberReturned / numberMatched; first..last score, order; ids shared with sitefinder's):"
for i in 0 1; do
  for server in sitefinder pygeoapi; do
    if [ $server = sitefinder ]; then url="$sf${sf_paths[$i]}"; else url="$pg${pg_paths[$i]}"; fi
    code=$(curl -s -o "$tmp/$server-$i.json" -w '%{http_code}' --max-time 60 "$url")
    [ "$code" = 200 ] || { echo "$server: HTTP $code from $url:" >&2; head -c 1000 "$tmp/$server-$i.json" >&2; exit 1; }
    read -r n ret matched first last order shared < <("$py" "$here/check.py" "$tmp/$server-$i.json" "$tmp/sitefinder-$i.json")
    [ "$n" -gt 0 ] || { echo "$server: no features from $url" >&2; exit 1; }
    printf '  %-10s %-5s %4s / %s / %-7s %s..%s %-7s %s  %s\n' "$server" "${names[$i]}" "$n" "$ret" "$matched" "$first" "$last" "$order" "$shared" "${url#http://127.0.0.1:*/}"
  done
done

# cpu PID...: CPU seconds (user and system) the processes have used, summed.
cpu() {
  local pid tck
  tck=$(getconf CLK_TCK)
  for pid; do sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null || true; done | awk -v t="$tck" '{s += $12 + $13} END {print s / t}'
}
# bench NAME SERVER CONNECTIONS URL PID...: 10 s of wrk; appends
# "NAME SERVER C req/s p50_ms p99_ms server_cpu_ms_per_request errors" to the results.
errors=0
bench() {
  local name=$1 server=$2 c=$3 url=$4 threads=2 out bad before after
  shift 4
  [ "$c" -gt 1 ] || threads=1
  before=$(cpu "$@")
  out=$(wrk -t"$threads" -c"$c" -d10s --timeout 10s --latency "$url")
  after=$(cpu "$@")
  bad=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
  if [ -n "$bad" ]; then
    errors=1
    echo "$bad" | sed "s|^ *|  wrk, $server $name c$c: |; s|\$| (of $(echo "$out" | awk '/requests in/ {print $1}') requests)|"
  fi
  echo "$out" | awk -v name="$name" -v server="$server" -v c="$c" -v cpu="$(awk -v a="$after" -v b="$before" 'BEGIN {print a - b}')" -v bad="${bad:+yes}" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; return v * 1000 }
    /requests in/ {n = $1} /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)}
    END {printf "%s %s %s %.1f %.2f %.2f %.2f %s\n", name, server, c, rps, p50, p99, n ? 1000 * cpu / n : 0, bad ? "yes" : "no"}' >>"$tmp/results"
}

# Warm up (2 s each), then memory after the warm-up.
for i in 0 1; do
  wrk -t1 -c2 -d2s "$sf${sf_paths[$i]}" >/dev/null
  wrk -t1 -c2 -d2s "$pg${pg_paths[$i]}" >/dev/null
done
read -r sf_rss _ < <(mem "$sf_pid")
pg_pids=("$pg_pid" $(ps -o pid= --ppid "$pg_pid"))
read -r pg_rss _ < <(mem "${pg_pids[@]}")

for i in 0 1; do
  for c in 16 1; do
    bench "${names[$i]}" sitefinder "$c" "$sf${sf_paths[$i]}" "$sf_pid"
    bench "${names[$i]}" pygeoapi "$c" "$pg${pg_paths[$i]}" "${pg_pids[@]}"
  done
done
read -r _ sf_peak < <(mem "$sf_pid")
read -r _ pg_peak < <(mem "${pg_pids[@]}")

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - "$tmp/results" "$sf_cold" "$sf_ready" "$sf_rss" "$sf_peak" "$pg_cold" "$pg_rss" "$pg_peak" \
  "$sf_again" "$sf_ready_again" "$sf_again_how" <<'PY'
import sys
path, sf_cold, sf_ready, sf_rss, sf_peak, pg_cold, pg_rss, pg_peak, sf_again, sf_ready_again, sf_again_how = sys.argv[1:]
r = {}
for line in open(path):
    name, server, c, rps, p50, p99, cpu, bad = line.split()
    r[name, server, c] = (float(rps), float(p50), float(p99), float(cpu), bad)
what = {
    ("items", "sitefinder"): "items?bbox&limit=100",
    ("items", "pygeoapi"): "items?bbox&limit=100",
    ("rank", "sitefinder"): "/rank?bbox&limit=20 (scores computed)",
    ("rank", "pygeoapi"): "items?bbox&limit=20 (scores precomputed)",
}
print()
print(f"{'':<41}{'':<11}{'--------- 16 connections ---------':>35}{'------ 1 connection ------':>28}")
print(f"{'request':<41}{'server':<11}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>11}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
for name in ("items", "rank"):
    for server in ("sitefinder", "pygeoapi"):
        a, b = r[name, server, "16"], r[name, server, "1"]
        flag = "  (wrk errors)" if "yes" in (a[4], b[4]) else ""
        print(f"{what[name, server]:<41}{server:<11}{a[0]:>8.1f}{a[1]:>9.2f}{a[2]:>9.2f}{a[3]:>11.2f}"
              f"{b[0]:>10.1f}{b[1]:>9.2f}{b[2]:>9.2f}{flag}")
    sf, pg = r[name, "sitefinder", "16"], r[name, "pygeoapi", "16"]
    cpu = f"{pg[3] / sf[3]:.1f}x" if sf[3] > 0 else "-"
    print(f"  ratio ({name}): sitefinder answers {sf[0] / pg[0]:.1f}x as many requests per second as pygeoapi (goal 20x); "
          f"{r[name, 'sitefinder', '1'][0] / r[name, 'pygeoapi', '1'][0]:.1f}x at 1 connection; "
          f"pygeoapi spends {cpu} the CPU per request")
print()
print(f"cold start (launch to first answer): sitefinder {sf_cold} s (its log: ready in {sf_ready} ms), pygeoapi {pg_cold} s")
print(f"sitefinder started again over {sf_again_how}: {sf_again} s (its log: ready in {sf_ready_again} ms); "
      "the loads above ran against this second server")
print(f"memory: sitefinder {sf_rss} MB resident after warm-up, {sf_peak} MB peak; "
      f"pygeoapi (gunicorn and its 2 workers) {pg_rss} MB after warm-up, {pg_peak} MB peak")
PY
if [ "$errors" = 1 ]; then
  echo "wrk saw non-2xx answers or socket errors (above): those rows are not clean."
  n=$(grep -c '^Traceback' "$tmp/pygeoapi.log" || true)
  [ "$n" = 0 ] || echo "pygeoapi's log holds $n exceptions; the last ends: $(grep -E '^[A-Za-z_.]+(Error|Exception)' "$tmp/pygeoapi.log" | tail -1)"
fi
