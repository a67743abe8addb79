"""Builds the MCLP instance both tools solve, from public files, into two CSVs.

    python make_instance.py RAW OUT_DIR AREA

RAW holds the published files (see data/README.md for each one's source and licence):
  lsoa2011_boundaries/lsoa2011_bsc_england.geojson.gz   ONS LSOA (Dec 2011) BSC, CRS84
  imd2019/imd2019_lsoa_england_combined.csv             IoD2019 with mid-2015 population
  business_rates_nndr/nndr_units_combined_geocoded.csv.gz  councils' business-rates lists
AREA is `west_yorkshire` (Bradford, Calderdale, Kirklees, Wakefield) or `rochdale`.

demand.csv: one row per LSOA 2011 of the area: its polygon's representative point in
EPSG:27700 (shapely's, on the projected polygon) and weight = mid-2015 population x
(11 - IMD 2019 decile). candidates.csv: every vacant unit of the area's councils with a
position, projected to EPSG:27700. Both tools read exactly these numbers.
"""

import sys

import geopandas as gpd
import pandas as pd

AREAS = {
    "west_yorkshire": ["Bradford", "Calderdale", "Kirklees", "Wakefield"],
    "rochdale": ["Rochdale"],
}

raw, out, area = sys.argv[1], sys.argv[2], sys.argv[3]
councils = AREAS[area]
imd = pd.read_csv(f"{raw}/imd2019/imd2019_lsoa_england_combined.csv")
imd = imd[imd["lad19nm"].isin(councils)]
lsoa = gpd.read_file(f"/vsigzip/{raw}/lsoa2011_boundaries/lsoa2011_bsc_england.geojson.gz")
lsoa = lsoa[lsoa["LSOA11CD"].isin(imd["lsoa11cd"])].to_crs(27700)
lsoa = lsoa.merge(imd, left_on="LSOA11CD", right_on="lsoa11cd").sort_values("lsoa11cd")
points = lsoa.geometry.representative_point()
demand = pd.DataFrame(
    {
        "id": lsoa["lsoa11cd"].values,
        "x": points.x.values,
        "y": points.y.values,
        "weight": (lsoa["pop_total_mid2015"] * (11 - lsoa["imd_decile"])).values,
        "imd_decile": lsoa["imd_decile"].values,
    }
)
units = pd.read_csv(f"{raw}/business_rates_nndr/nndr_units_combined_geocoded.csv.gz", dtype=str)
units = units[units["council"].isin(councils) & (units["occupancy"] == "vacant")]
units = units.dropna(subset=["lon", "lat"])
pts = gpd.GeoSeries(
    gpd.points_from_xy(units["lon"].astype(float), units["lat"].astype(float)), crs=4326
).to_crs(27700)
candidates = pd.DataFrame(
    {"id": (units["council"] + ":" + units["prop_ref"]).values, "x": pts.x.values, "y": pts.y.values}
)
demand.to_csv(f"{out}/demand.csv", index=False, float_format="%.3f")
candidates.to_csv(f"{out}/candidates.csv", index=False, float_format="%.3f")
print(f"{area}: {len(demand)} demand points, {len(candidates)} candidates", file=sys.stderr)
