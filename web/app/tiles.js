// The IMD choropleth at low zoom, drawn from the server's vector tiles (/tiles/lsoa/...), so
// that all England can be browsed: below zoom 11 the LSOA polygons are too many to fetch as
// GeoJSON (app.js draws them from zoom 11). A module: it runs after app.js, whose `map`,
// `layers` and `DECILE_COLOURS` it uses; the decoders are Mapbox's, vendored (vendor/).
import { VectorTile } from './vendor/vector-tile/index.js';
import { PbfReader } from './vendor/pbf/index.js';

const FIRST_GEOJSON_ZOOM = 11;

const LsoaTiles = L.GridLayer.extend({
  createTile(coords, done) {
    const size = this.getTileSize();
    const canvas = L.DomUtil.create('canvas', 'lsoa-tile');
    canvas.width = size.x;
    canvas.height = size.y;
    fetch(`tiles/lsoa/${coords.z}/${coords.x}/${coords.y}.mvt`)
      .then((r) => {
        if (!r.ok) throw new Error(`tile ${coords.z}/${coords.x}/${coords.y}: ${r.status}`);
        return r.arrayBuffer();
      })
      .then((buf) => {
        const layer = new VectorTile(new PbfReader(new Uint8Array(buf))).layers.lsoa;
        const ctx = canvas.getContext('2d');
        if (layer) {
          const s = size.x / layer.extent;
          ctx.globalAlpha = 0.6;
          for (let i = 0; i < layer.length; i++) {
            const f = layer.feature(i);
            ctx.beginPath();
            for (const ring of f.loadGeometry()) {
              ring.forEach((p, j) => (j ? ctx.lineTo(p.x * s, p.y * s) : ctx.moveTo(p.x * s, p.y * s)));
              ctx.closePath();
            }
            ctx.fillStyle = DECILE_COLOURS[f.properties.imd_decile - 1] || '#ccc';
            ctx.fill('evenodd');
          }
        }
        canvas.dataset.features = layer ? layer.length : 0;
        done(null, canvas);
      })
      .catch((e) => {
        canvas.dataset.error = e.message;
        done(e, canvas);
      });
    return canvas;
  },
});

const lsoaTiles = new LsoaTiles({ pane: 'areas', className: 'lsoa-tiles', updateWhenZooming: false });

// Tiles below the zoom where app.js draws the polygons, while the layer is ticked.
function sync() {
  const want = map.hasLayer(layers.lsoa) && map.getZoom() < FIRST_GEOJSON_ZOOM;
  if (want && !map.hasLayer(lsoaTiles)) lsoaTiles.addTo(map);
  if (!want && map.hasLayer(lsoaTiles)) map.removeLayer(lsoaTiles);
}
map.on('zoomend overlayadd overlayremove', sync);
sync();
