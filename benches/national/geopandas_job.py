"""The peer of `sitefinder rank` at national scale: what an analyst would write with geopandas
for the same job, on the same files (benches/national/run.sh runs both in one run).

It computes less than sitefinder: each unit's LSOA (IMD score and decile) by a spatial join,
its nearest GP practice and distance by a nearest join, a score from those two, the ranking,
and a CSV. No walking-reach population, catchments, stops, existing sites, suitability or
sentences. OUT ending in .gpkg is written as a GeoPackage (a `sites` point layer), else CSV.

    python geopandas_job.py UNITS.csv DATA_DIR OUT.csv|OUT.gpkg
"""

import sys
import time

import geopandas as gpd
import pandas as pd

units_csv, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
units = pd.read_csv(units_csv)
pts = gpd.GeoDataFrame(
    units, geometry=gpd.points_from_xy(units["lon"], units["lat"]), crs="EPSG:4326"
).to_crs(27700)
lsoa_poly = gpd.read_file(f"/vsigzip/{data}/lsoa21_boundaries.geojson.gz")[["code", "geometry"]]
lsoa_poly = lsoa_poly.set_crs(27700, allow_override=True)
lsoa = pd.read_csv(f"{data}/lsoa21.csv.gz")[["lsoa_code", "imd_score", "imd_decile"]]
practices = pd.read_csv(f"{data}/gp_practices.csv.gz")
practices = gpd.GeoDataFrame(
    practices[["practice_code"]],
    geometry=gpd.points_from_xy(practices["easting"], practices["northing"]),
    crs=27700,
)
t_load = time.perf_counter()
joined = gpd.sjoin(pts, lsoa_poly, how="left", predicate="within").drop(columns="index_right")
joined = joined[~joined.index.duplicated(keep="first")]
joined = joined.merge(lsoa, left_on="code", right_on="lsoa_code", how="left")
joined = gpd.sjoin_nearest(joined, practices, how="left", distance_col="practice_m")
joined = joined[~joined.index.duplicated(keep="first")]
joined["score"] = 0.7 * (joined["imd_score"] / 100).clip(0, 1) + 0.3 * (
    1 - (joined["practice_m"] / 2000).clip(0, 1)
)
ranked = joined.sort_values(["score", "id"], ascending=[False, True])
t_join = time.perf_counter()
columns = ["id", "name", "score", "lsoa_code", "imd_decile", "imd_score", "practice_code", "practice_m"]
if out.endswith(".gpkg"):
    # A GeoPackage of points in EPSG:27700, as sitefinder writes one.
    ranked[columns + ["geometry"]].to_file(out, driver="GPKG", layer="sites", engine="pyogrio")
else:
    ranked[columns].to_csv(out, index=False)
t_end = time.perf_counter()
print(
    f"geopandas: {len(ranked)} units; read {t_load - t0:.2f} s, joins and rank {t_join - t_load:.2f} s, "
    f"write {t_end - t_join:.2f} s; whole job {t_end - t0:.2f} s",
    file=sys.stderr,
)
