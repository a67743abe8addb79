"""Join sitefinder's ranked CSV (no coordinates) to the units' lon/lat, for ogr2ogr.

    python3 gpkg_input.py UNITS.csv RANKED.csv OUT.csv

Writes id,name,score,rank,imd_decile,floor_area_m2,lon,lat in the ranked file's order (best
score first). Standard library only.
"""
import csv
import sys

units_path, ranked_path, out_path = sys.argv[1:4]
where = {}
with open(units_path, newline="", encoding="utf-8-sig") as f:
    for row in csv.DictReader(f):
        where[row["id"]] = (row["lon"], row["lat"])
columns = ["id", "name", "score", "rank", "imd_decile", "floor_area_m2"]
with open(ranked_path, newline="", encoding="utf-8-sig") as f, open(out_path, "w", newline="") as out:
    w = csv.writer(out)
    w.writerow(columns + ["lon", "lat"])
    for row in csv.DictReader(f):
        w.writerow([row[c] for c in columns] + list(where[row["id"]]))
