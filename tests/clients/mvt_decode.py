"""Decodes one Mapbox Vector Tile with the mapbox-vector-tile package (an independent decoder)
and prints its layers as JSON: each feature's id, properties and GeoJSON geometry in WGS84
longitude and latitude (tile units turned back into the tile's Web Mercator position).

    python tests/clients/mvt_decode.py TILE_FILE Z X Y
"""

import json
import math
import sys

import mapbox_vector_tile

path, z, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(path, "rb") as f:
    tile = mapbox_vector_tile.decode(f.read(), default_options={"y_coord_down": True})
n = 2**z


def convert(coords, extent):
    if isinstance(coords[0], (int, float)):
        tx = x + coords[0] / extent
        ty = y + coords[1] / extent
        lon = tx / n * 360.0 - 180.0
        lat = math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * ty / n))))
        return [lon, lat]
    return [convert(c, extent) for c in coords]


out = {}
for name, layer in tile.items():
    extent = layer["extent"]
    out[name] = {
        "extent": extent,
        "version": layer.get("version"),
        "features": [
            {
                "id": f.get("id"),
                "properties": f["properties"],
                "geometry": {
                    "type": f["geometry"]["type"],
                    "coordinates": convert(f["geometry"]["coordinates"], extent),
                },
            }
            for f in layer["features"]
        ],
    }
print(json.dumps(out))
