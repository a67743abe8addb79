#!/usr/bin/env bash
# The national job against the tool an analyst would use instead, on the same SYNTHETIC units
# in the same run: sitefinder rank (every criterion, sentences, the whole CSV) and geopandas
# (benches/national/geopandas_job.py: LSOA join, nearest practice, a score, sort, CSV; it
# computes less). Prints each whole job's wall time and peak memory, and their ratio; then
# sitefinder's second run over the same file, which reads the units joined by the first from
# its cache folder (a folder of this run's, so the first run is a first run).
#
#   bash benches/national/run.sh              # 1,000,000 units
#   N=100000 bash benches/national/run.sh
#
# Peers go into a venv (target/bench-venv, from benches/national/requirements.txt); the units
# into a temporary folder, removed at the end. Nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-1000000}"
venv=target/bench-venv
source benches/venv.sh
venv "$venv" benches/national/requirements.txt
cargo build --release --quiet
bin=target/release/sitefinder
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" synthetic-units --n "$N" --out "$tmp/units.csv" --data data
# /usr/bin/time -f: wall seconds and peak resident KB of each whole run.
measure() { /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }; cat "$tmp/time"; }
export XDG_CACHE_HOME="$tmp/cache"
read -r sf_s sf_kb < <(measure "$bin" rank --data data --units "$tmp/units.csv" --out "$tmp/sitefinder.csv")
read -r gp_s gp_kb < <(measure "$venv/bin/python" benches/national/geopandas_job.py "$tmp/units.csv" data "$tmp/geopandas.csv")
read -r again_s again_kb < <(measure "$bin" rank --data data --units "$tmp/units.csv" --out "$tmp/again.csv")
cmp -s "$tmp/sitefinder.csv" "$tmp/again.csv" || { echo "the second run wrote another file"; exit 1; }
rows_sf=$(($(wc -l < "$tmp/sitefinder.csv") - 1))
rows_gp=$(($(wc -l < "$tmp/geopandas.csv") - 1))
printf 'national job, %s SYNTHETIC units (same file, same run):\n' "$N"
printf '  sitefinder rank   %8.2f s  %7.0f MB peak  %s rows (every criterion, sentences)\n' "$sf_s" "$((sf_kb / 1024))" "$rows_sf"
printf '  geopandas         %8.2f s  %7.0f MB peak  %s rows (LSOA join, nearest practice, score)\n' "$gp_s" "$((gp_kb / 1024))" "$rows_gp"
python3 -c "print(f'  ratio: sitefinder is {float($gp_s) / float($sf_s):.2f}x as fast as geopandas (goal: 25x)')"
printf '  sitefinder again  %8.2f s  %7.0f MB peak  the same file, its units read joined from the first run'"'"'s cache\n' "$again_s" "$((again_kb / 1024))"
python3 -c "print(f'  ratio: the second run is {float($gp_s) / float($again_s):.2f}x as fast as geopandas')"
