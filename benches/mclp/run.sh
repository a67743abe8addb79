#!/usr/bin/env bash
# Location-allocation against spopt, on instances both tools read from the same files, in the
# same run: spopt 0.7's MCLP solved by PuLP's CBC (tests/clients/spopt_mclp.py) against
# sitefinder's exact solve and heuristic (benches/mclp.rs). 800 m straight-line in EPSG:27700.
#
#   RAW=path/to/published/files bash benches/mclp/run.sh
#
# RAW holds the published files make_instance.py names (data/README.md gives their sources):
# LSOA 2011 BSC polygons, IoD2019 with mid-2015 population, the councils' business-rates lists.
# Instances: West Yorkshire (Bradford, Calderdale, Kirklees, Wakefield: 906 LSOAs, 5,852 vacant
# units, k = 50) and Rochdale (134 LSOAs, 900 units, k = 10). Peers go into a venv
# (target/mclp-venv, from benches/mclp/requirements.txt). Nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${RAW:?set RAW to the folder of published files (see the header of this script)}"
venv=target/mclp-venv
source benches/venv.sh
venv "$venv" benches/mclp/requirements.txt
cargo bench --bench mclp --no-run --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in west_yorkshire:50 rochdale:10; do
  area=${spec%:*}
  k=${spec#*:}
  mkdir -p "$tmp/$area"
  "$venv/bin/python" benches/mclp/make_instance.py "$RAW" "$tmp/$area" "$area"
  spopt=$("$venv/bin/python" tests/clients/spopt_mclp.py "$tmp/$area" "$k" 800)
  ours=$(MCLP_DIR="$tmp/$area" MCLP_K="$k" MCLP_RADIUS_M=800 cargo bench --bench mclp --quiet 2>/dev/null)
  python3 - "$area" "$k" "$spopt" "$ours" <<'PY'
import json, sys
area, k, s, o = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{area}, k = {k} (same files, same run):")
print(f"  spopt + CBC            {s['seconds']:8.3f} s  covered {100 * s['covered_share']:.3f}% ({s['status']})")
print(f"  sitefinder exact       {o['exact_seconds']:8.3f} s  covered {100 * o['exact_share']:.3f}%"
      f"  {'same optimum' if abs(o['exact_weight'] - s['covered_weight']) <= 1e-9 * s['covered_weight'] else 'DIFFERENT OPTIMUM'}"
      f"  {s['seconds'] / o['exact_seconds']:.0f}x as fast")
gap = 100 * (s['covered_weight'] - o['heuristic_weight']) / s['covered_weight']
print(f"  sitefinder heuristic   {o['heuristic_seconds']:8.3f} s  covered {100 * o['heuristic_share']:.3f}%"
      f"  {gap:.2f}% below the optimum (goal: under 1%), {s['seconds'] / o['heuristic_seconds']:.0f}x as fast (goal: 10x)")
PY
done
