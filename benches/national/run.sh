#!/usr/bin/env bash
# The national job against the tool an analyst would use instead, on the same SYNTHETIC units
# in the same run: sitefinder rank (every criterion, sentences, the whole CSV) and geopandas
# (benches/national/geopandas_job.py: LSOA join, nearest practice, a score, sort, CSV; it
# computes less). Prints each whole job's wall time and peak memory, and their ratio; then
# sitefinder's second run over the same file, which reads the units joined by the first from
# its cache folder (a folder of this run's, so the first run is a first run); then a run that
# writes geopandas's columns alone (--properties), importing and joining afresh; then both
# tools writing those columns as a GeoPackage.
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
measure() { /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }; cat "$tmp/time"; }
export XDG_CACHE_HOME="$tmp/cache"
read -r sf_s sf_kb < <(measure "$bin" rank --data data --units "$tmp/units.csv" --out "$tmp/sitefinder.csv")
read -r gp_s gp_kb < <(measure "$venv/bin/python" benches/national/geopandas_job.py "$tmp/units.csv" data "$tmp/geopandas.csv")
read -r again_s again_kb < <(measure "$bin" rank --data data --units "$tmp/units.csv" --out "$tmp/again.csv")
cmp -s "$tmp/sitefinder.csv" "$tmp/again.csv" || { echo "the second run wrote another file"; exit 1; }
# Importing and joining afresh (--no-cache: nothing read from or kept in the cache): every
# column, then the columns geopandas writes (--properties: no row put into words).
read -r fresh_s fresh_kb < <(measure "$bin" rank --no-cache --data data --units "$tmp/units.csv" --out "$tmp/fresh.csv")
cmp -s "$tmp/sitefinder.csv" "$tmp/fresh.csv" || { echo "the run without the cache wrote another file"; exit 1; }
cols=rank,id,name,score,lsoa21cd,imd_decile,imd_score,nearest_practice_code,nearest_practice_m
read -r cols_s cols_kb < <(measure "$bin" rank --no-cache --data data --units "$tmp/units.csv" --properties "$cols" --out "$tmp/columns.csv")
# Its rows are the whole file's, cells in those columns (the first 20,000 compared cell by
# cell, all of them counted).
python3 - "$tmp/sitefinder.csv" "$tmp/columns.csv" "$cols" <<'PY' || exit 1
import csv, itertools, sys
whole, some, cols = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
with open(whole, encoding="utf-8-sig", newline="") as a, open(some, encoding="utf-8-sig", newline="") as b:
    ra, rb = csv.reader(a), csv.reader(b)
    ha, hb = next(ra), next(rb)
    if hb != cols:
        sys.exit(f"--properties wrote the columns {hb}")
    at = [ha.index(c) for c in cols]
    for x, y in itertools.islice(zip(ra, rb), 20000):
        if [x[i] for i in at] != y:
            sys.exit(f"--properties wrote {y}, the whole file {[x[i] for i in at]}")
    if sum(1 for _ in ra) != sum(1 for _ in rb):
        sys.exit("--properties wrote another number of rows")
PY
# The same columns as a GeoPackage (a GIS's file), by each tool, afresh.
read -r sf_gpkg_s sf_gpkg_kb < <(measure "$bin" rank --no-cache --data data --units "$tmp/units.csv" --properties "$cols" --out "$tmp/columns.gpkg")
read -r gp_gpkg_s gp_gpkg_kb < <(measure "$venv/bin/python" benches/national/geopandas_job.py "$tmp/units.csv" data "$tmp/geopandas.gpkg")
rows_gpkg=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM sites").fetchone()[0])' "$tmp/columns.gpkg")
rows_sf=$(($(wc -l < "$tmp/sitefinder.csv") - 1))
[ "$rows_gpkg" = "$rows_sf" ] || { echo "the GeoPackage has $rows_gpkg rows, the CSV $rows_sf"; exit 1; }
rows_gp=$(($(wc -l < "$tmp/geopandas.csv") - 1))
printf 'national job, %s SYNTHETIC units (same file, same run):\n' "$N"
printf '  sitefinder rank   %8.2f s  %7.0f MB peak  %s rows (every criterion, sentences)\n' "$sf_s" "$((sf_kb / 1024))" "$rows_sf"
printf '  geopandas         %8.2f s  %7.0f MB peak  %s rows (LSOA join, nearest practice, score)\n' "$gp_s" "$((gp_kb / 1024))" "$rows_gp"
python3 -c "print(f'  ratio: sitefinder is {float($gp_s) / float($sf_s):.2f}x as fast as geopandas (goal: 25x)')"
printf '  sitefinder again  %8.2f s  %7.0f MB peak  the same file, its units read joined from the first run'"'"'s cache\n' "$again_s" "$((again_kb / 1024))"
python3 -c "print(f'  ratio: the second run is {float($gp_s) / float($again_s):.2f}x as fast as geopandas')"
printf '  sitefinder afresh  %8.2f s  %7.0f MB peak  every column, imported and joined afresh (--no-cache)\n' "$fresh_s" "$((fresh_kb / 1024))"
printf '  sitefinder columns %7.2f s  %7.0f MB peak  geopandas'"'"'s columns (--properties %s), afresh\n' "$cols_s" "$((cols_kb / 1024))" "$cols"
python3 -c "print(f'  ratio: with the same columns sitefinder is {float($gp_s) / float($cols_s):.2f}x as fast as geopandas')"
printf '  GeoPackage, geopandas'"'"'s columns, afresh: sitefinder %.2f s, %.0f MB peak; geopandas %.2f s, %.0f MB peak\n' "$sf_gpkg_s" "$((sf_gpkg_kb / 1024))" "$gp_gpkg_s" "$((gp_gpkg_kb / 1024))"
python3 -c "print(f'  ratio: to a GeoPackage sitefinder is {float($gp_gpkg_s) / float($sf_gpkg_s):.2f}x as fast as geopandas')"
