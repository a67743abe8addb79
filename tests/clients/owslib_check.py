"""OWSLib against a running sitefinder: the calls a Python notebook makes, each checked.

Usage: python owslib_check.py http://127.0.0.1:PORT
Prints one JSON object of what it found; exits non-zero (with the reason) on any mismatch.
"""
import json
import sys

from owslib.ogcapi.features import Features

url = sys.argv[1]
api = Features(url)
found = {}

# The landing page and the API.
links = {l["rel"]: l for l in api.links}
assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0", links
assert links["data"]["href"].startswith("http"), links["data"]
found["api_paths"] = len(api.api()["paths"])

conf = api.conformance()["conformsTo"]
for c in ("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
          "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
          "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter"):
    assert c in conf, c

ids = [c["id"] for c in api.collections()["collections"]]
assert {"units", "lsoa", "practices"} <= set(ids), ids
found["collections"] = ids
units = api.collection("units")
assert units["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/27700", units

# Items with a bbox (Rochdale town centre), paged with limit and offset until the end.
bbox = [-2.17, 53.60, -2.13, 53.63]
first = api.collection_items("lsoa", bbox=bbox, limit=5)
matched = first["numberMatched"]
assert first["numberReturned"] == 5 and matched > 5, first["numberMatched"]
seen = []
offset = 0
while offset < matched:
    page = api.collection_items("lsoa", bbox=bbox, limit=5, offset=offset)
    seen += [f["id"] for f in page["features"]]
    offset += 5
assert len(seen) == matched == len(set(seen)), (len(seen), matched)
found["lsoa_in_bbox"] = matched

# A CQL2 filter, and the same by hand.
everything = api.collection_items("units", limit=1000)["features"]
want = sorted(f["id"] for f in everything if f["properties"]["imd_decile"] >= 2)
got = api.collection_items("units", limit=1000, filter="imd_decile >= 2")
assert sorted(f["id"] for f in got["features"]) == want, (len(got["features"]), len(want))
assert got["numberMatched"] == len(want)
found["units"] = len(everything)
found["units_decile_2_up"] = len(want)

# Queryables.
q = api.collection_queryables("units")
assert q["type"] == "object" and q["properties"]["imd_decile"]["type"] == "integer", q
found["units_queryables"] = len(q["properties"])

# One feature.
one = api.collection_item("units", want[0])
assert one["id"] == want[0] and any(l["rel"] == "collection" for l in one["links"])

print(json.dumps(found))
