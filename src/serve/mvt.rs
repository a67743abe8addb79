//! Mapbox Vector Tiles (specification 2.1) of a collection: the tile grid in Web Mercator
//! (EPSG:3857, XYZ scheme, as every web map and GDAL number tiles), and one layer's items
//! encoded into a tile, simplified for its zoom.
//!
//! Geometries stay in British National Grid until a tile needs them: polygons are simplified
//! there (Visvalingam-Whyatt, keeping rings from crossing themselves or each other; triangles
//! under [`TOLERANCE_UNITS`] squared on the ground go) before their remaining vertices
//! are projected, so a tile of all England projects a few vertices per LSOA, not every one.
//! Coordinates are in tile units (4,096 a side, y down), clipped to a 64-unit buffer around
//! the tile (Sutherland-Hodgman); exterior
//! rings are clockwise (positive area) and holes anticlockwise, as the specification requires;
//! rings that collapse to a line at the tile's resolution are dropped.
//!
//! ```
//! use sitefinder::serve::mvt::{lonlat_to_tile, tile_bounds_lonlat};
//! // Rochdale Town Hall is in tile 12/2023/1322.
//! let (x, y) = lonlat_to_tile(-2.1540, 53.6160, 12);
//! assert_eq!((x as u32, y as u32), (2023, 1322));
//! let [w, s, e, n] = tile_bounds_lonlat(12, 2023, 1322);
//! assert!(w <= -2.1540 && -2.1540 <= e && s <= 53.6160 && 53.6160 <= n);
//! ```

use geo::{LineString, MultiPolygon, SimplifyVwPreserve};
use mvt::{GeomEncoder, GeomType, Tile};
use serde_json::Value as Json;

use crate::base::crs;
use crate::reference::atlas::Atlas;
use crate::serve::collections::{Collection, Shape};

/// Tile units a side.
pub const EXTENT: u32 = 4096;
/// Tile units kept around the tile, so that shapes meet without seams.
pub const BUFFER: i32 = 64;
/// Simplification's scale, in tile units: a vertex goes when the triangle it makes with its
/// neighbours is under this squared (16 unit², a sixteenth of a screen pixel's area when a tile
/// is drawn 256 pixels wide, 16 units a pixel). A thin spike can go with it.
pub const TOLERANCE_UNITS: f64 = 4.0;
/// The deepest zoom served.
pub const MAX_ZOOM: u8 = 16;

/// Half the Web Mercator world's width, in metres.
const HALF_WORLD: f64 = 20_037_508.342_789_244;
/// The box the tiles look for data in (England with a margin; BNG is only defined nearby).
const ENGLAND: [f64; 4] = [-7.0, 49.5, 2.5, 56.0];

/// Fractional tile coordinates of a WGS84 position at zoom `z`.
pub fn lonlat_to_tile(lon: f64, lat: f64, z: u8) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let lat = lat.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    (x, y)
}

/// WGS84 longitude and latitude of fractional tile coordinates.
fn tile_to_lonlat(x: f64, y: f64, z: u8) -> (f64, f64) {
    let n = f64::from(1u32 << z);
    let lon = x / n * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * y / n))
        .sinh()
        .atan()
        .to_degrees();
    (lon, lat)
}

/// A tile's WGS84 bounds: `[west, south, east, north]`.
pub fn tile_bounds_lonlat(z: u8, x: u32, y: u32) -> [f64; 4] {
    let (w, n) = tile_to_lonlat(f64::from(x), f64::from(y), z);
    let (e, s) = tile_to_lonlat(f64::from(x) + 1.0, f64::from(y) + 1.0, z);
    [w, s, e, n]
}

/// Whether `z/x/y` names a tile of the grid served.
pub fn valid_tile(z: u8, x: u32, y: u32) -> bool {
    z <= MAX_ZOOM && x < (1u32 << z) && y < (1u32 << z)
}

/// The British National Grid box to look for a tile's items in (empty when the tile is
/// nowhere near England): the tile's bounds, sampled on a 5 x 5 grid and projected, with a
/// margin for the buffer and for the grid's curvature.
fn bng_window(z: u8, x: u32, y: u32) -> Option<[f64; 4]> {
    let [w, s, e, n] = tile_bounds_lonlat(z, x, y);
    let (w, s, e, n) = (
        w.max(ENGLAND[0]),
        s.max(ENGLAND[1]),
        e.min(ENGLAND[2]),
        n.min(ENGLAND[3]),
    );
    if w >= e || s >= n {
        return None;
    }
    let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for i in 0..5 {
        for j in 0..5 {
            let lon = w + (e - w) * f64::from(i) / 4.0;
            let lat = s + (n - s) * f64::from(j) / 4.0;
            let (ex, ny) = crs::wgs84_to_bng(lon, lat).ok()?;
            b = [b[0].min(ex), b[1].min(ny), b[2].max(ex), b[3].max(ny)];
        }
    }
    let margin = 0.1 * (b[2] - b[0]).max(b[3] - b[1]) + 100.0;
    Some([b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin])
}

/// Ground metres per tile unit at zoom `z` near latitude `lat`.
fn unit_m(z: u8, lat: f64) -> f64 {
    2.0 * HALF_WORLD / f64::from(1u32 << z) / f64::from(EXTENT) * lat.to_radians().cos()
}

/// Projects BNG points to this tile's units.
struct ToTile {
    z: u8,
    x: u32,
    y: u32,
}

impl ToTile {
    /// A BNG point in (fractional) tile units.
    fn units(&self, e: f64, n: f64) -> Option<(f64, f64)> {
        let (lon, lat) = crs::bng_to_wgs84(e, n).ok()?;
        let (tx, ty) = lonlat_to_tile(lon, lat, self.z);
        Some((
            (tx - f64::from(self.x)) * f64::from(EXTENT),
            (ty - f64::from(self.y)) * f64::from(EXTENT),
        ))
    }

    fn point(&self, e: f64, n: f64) -> Option<(i32, i32)> {
        let (lon, lat) = crs::bng_to_wgs84(e, n).ok()?;
        self.point_lonlat(lon, lat)
    }

    /// A WGS84 point in whole tile units.
    fn point_lonlat(&self, lon: f64, lat: f64) -> Option<(i32, i32)> {
        let (tx, ty) = lonlat_to_tile(lon, lat, self.z);
        let (x, y) = (
            (tx - f64::from(self.x)) * f64::from(EXTENT),
            (ty - f64::from(self.y)) * f64::from(EXTENT),
        );
        (x.is_finite() && y.is_finite()).then(|| (x.round() as i32, y.round() as i32))
    }

    fn inside(p: (i32, i32)) -> bool {
        let hi = EXTENT as i32 + BUFFER;
        (-BUFFER..=hi).contains(&p.0) && (-BUFFER..=hi).contains(&p.1)
    }

    /// A ring in tile units: clipped to the tile and its buffer, repeated points removed,
    /// wound as asked (`exterior`: positive area), or `None` when nothing of it is left.
    fn ring(&self, ring: &LineString<f64>, exterior: bool) -> Option<Vec<(i32, i32)>> {
        let mut float: Vec<(f64, f64)> = Vec::with_capacity(ring.0.len());
        for c in &ring.0 {
            float.push(self.units(c.x, c.y)?);
        }
        let clipped = clip(float, -f64::from(BUFFER), f64::from(EXTENT as i32 + BUFFER));
        let mut pts: Vec<(i32, i32)> = Vec::with_capacity(clipped.len());
        for (x, y) in clipped {
            let p = (x.round() as i32, y.round() as i32);
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        while pts.len() > 1 && pts.first() == pts.last() {
            pts.pop();
        }
        if pts.len() < 3 {
            return None;
        }
        // Twice the signed area, y down: positive = clockwise on screen.
        let area: i64 = (0..pts.len())
            .map(|i| {
                let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1)
            })
            .sum();
        if area == 0 {
            return None;
        }
        if (area > 0) != exterior {
            pts.reverse();
        }
        Some(pts)
    }
}

/// Sutherland-Hodgman: a ring (closed or not) clipped to the square `[lo, hi]` on both axes.
fn clip(mut ring: Vec<(f64, f64)>, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    // Each edge of the square: is a point inside, and where a segment crosses it.
    type Inside = fn((f64, f64), f64) -> bool;
    type Cross = fn((f64, f64), (f64, f64), f64) -> (f64, f64);
    let at_x: Cross = |a, b, x| (x, a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0));
    let at_y: Cross = |a, b, y| (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y);
    let edges: [(Inside, Cross, f64); 4] = [
        (|p, v| p.0 >= v, at_x, lo),
        (|p, v| p.0 <= v, at_x, hi),
        (|p, v| p.1 >= v, at_y, lo),
        (|p, v| p.1 <= v, at_y, hi),
    ];
    for (inside, cross, v) in edges {
        if ring.is_empty() {
            break;
        }
        let mut out = Vec::with_capacity(ring.len() + 4);
        let mut prev = *ring.last().expect("not empty");
        for &cur in &ring {
            match (inside(cur, v), inside(prev, v)) {
                (true, true) => out.push(cur),
                (true, false) => {
                    out.push(cross(prev, cur, v));
                    out.push(cur);
                }
                (false, true) => out.push(cross(prev, cur, v)),
                (false, false) => {}
            }
            prev = cur;
        }
        ring = out;
    }
    ring
}

/// What a tile layer holds of each item: its properties named here, when present.
pub struct Fields<'a> {
    pub names: &'a [String],
}

fn add_tags(feature: &mut mvt::Feature, collection: &Collection, i: usize, fields: &Fields) {
    for name in fields.names {
        match collection.property(i, name).as_deref() {
            Some(Json::String(s)) => feature.add_tag_string(name, s),
            Some(Json::Bool(b)) => feature.add_tag_bool(name, *b),
            Some(Json::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    feature.add_tag_sint(name, i);
                } else if let Some(f) = n.as_f64() {
                    feature.add_tag_double(name, f);
                }
            }
            _ => {}
        }
    }
}

fn encode_polygons(
    to: &ToTile,
    shapes: &[&MultiPolygon<f64>],
    tolerance_m: f64,
) -> Option<mvt::GeomData> {
    let mut enc = GeomEncoder::<f64>::new(GeomType::Polygon);
    let mut any = false;
    // The encoder drops a ring's MoveTo when its first point repeats the last point written
    // (the ring would join the one before): such a ring starts one point later instead.
    let mut last: Option<(i32, i32)> = None;
    for mp in shapes {
        let simple = mp.simplify_vw_preserve(tolerance_m * tolerance_m);
        for poly in &simple.0 {
            let Some(ext) = to.ring(poly.exterior(), true) else {
                continue;
            };
            for ring in std::iter::once(ext)
                .chain(poly.interiors().iter().filter_map(|r| to.ring(r, false)))
            {
                let mut ring = ring;
                if ring.first() == last.as_ref() {
                    ring.rotate_left(1);
                }
                last = ring.last().copied();
                for &(x, y) in &ring {
                    enc.add_point(f64::from(x), f64::from(y)).ok()?;
                }
                enc.complete_geom().ok()?;
            }
            any = true;
        }
    }
    if !any {
        return None;
    }
    enc.encode().ok()
}

/// Below [`THIN_BELOW_ZOOM`], a tile holds at most one point per cell of a grid this many
/// cells a side (32 tile units, 4 pixels of a tile drawn 512 wide): the first by `priority`,
/// tagged [`POINT_COUNT`] with how many points the cell has.
pub const THIN_CELLS: u32 = 128;
/// The zoom from which every point is in its tile (a tile there is about 24 km a side in
/// England).
pub const THIN_BELOW_ZOOM: u8 = 10;
/// The tag of a point that stands for others in its cell below [`THIN_BELOW_ZOOM`].
pub const POINT_COUNT: &str = "point_count";

/// An item to encode: its index, its place when thinning placed it, and the points it stands
/// for.
type ToEncode = (usize, Option<(i32, i32)>, u64);

/// The point kept for a cell of a thinned tile: the item, its place, and the points in the cell.
struct Kept {
    item: usize,
    at: (i32, i32),
    count: u64,
}

/// Encodes tile `z/x/y` of `collection` as one layer named after it, with `fields` of each
/// item, and `extra` properties per item (by index) after them. Items are in id order; each
/// feature's id is its index in the collection plus one. Points below [`THIN_BELOW_ZOOM`] are
/// thinned (see [`THIN_CELLS`]), keeping in each cell the point that `priority` puts first
/// (lowest), ties by item: a national layer's tile holds what can be seen, not every point
/// under it.
pub fn encode_tile(
    atlas: &Atlas,
    collection: &Collection,
    fields: &Fields,
    extra: &dyn Fn(usize, &mut mvt::Feature),
    priority: &dyn Fn(usize) -> usize,
    (z, x, y): (u8, u32, u32),
) -> Result<Vec<u8>, String> {
    let mut tile = Tile::new(EXTENT);
    let mut layer = tile.create_layer(collection.id);
    if let Some(window) = bng_window(z, x, y) {
        let to = ToTile { z, x, y };
        let [_, s, _, n] = tile_bounds_lonlat(z, x, y);
        // Ground size at the middle of what the tile holds of England.
        let mid = (s.max(ENGLAND[1]) + n.min(ENGLAND[3])) / 2.0;
        let tolerance_m = unit_m(z, mid) * TOLERANCE_UNITS;
        // Each point's place in the tile (from the join's WGS84 position when the item has
        // one), kept by cell when thinning.
        let thin = z < THIN_BELOW_ZOOM;
        let place = |i: usize, e: f64, n: f64| match collection.lonlat(i) {
            Some([lon, lat]) => to.point_lonlat(lon, lat),
            None => to.point(e, n),
        };
        let mut cells: std::collections::HashMap<(i32, i32), Kept> =
            std::collections::HashMap::new();
        let mut items = vec![];
        for i in collection.in_envelope(window) {
            match &*collection.shape(i) {
                Shape::Point([e, n]) if thin => {
                    // Whole cells only: the buffer's two cells each side are the neighbour
                    // tiles' edge cells, thinned alike.
                    let hi = EXTENT as i32 + BUFFER;
                    let Some(p) =
                        place(i, *e, *n).filter(|p| ToTile::inside(*p) && p.0 < hi && p.1 < hi)
                    else {
                        continue;
                    };
                    let side = (EXTENT / THIN_CELLS) as i32;
                    let cell = (p.0.div_euclid(side), p.1.div_euclid(side));
                    let first = cells.entry(cell).or_insert(Kept {
                        item: i,
                        at: p,
                        count: 0,
                    });
                    first.count += 1;
                    if (priority(i), i) < (priority(first.item), first.item) {
                        (first.item, first.at) = (i, p);
                    }
                }
                _ => items.push((i, None, 0)),
            }
        }
        let mut kept: Vec<ToEncode> = cells
            .into_values()
            .map(|k| (k.item, Some(k.at), k.count))
            .collect();
        kept.extend(items);
        kept.sort_unstable_by_key(|k| k.0);
        for (i, at, count) in kept {
            let shape = collection.shape(i);
            let geom = match &*shape {
                Shape::Point([e, n]) => match at.or_else(|| place(i, *e, *n)) {
                    Some(p) if ToTile::inside(p) => GeomEncoder::<f64>::new(GeomType::Point)
                        .point(f64::from(p.0), f64::from(p.1))
                        .and_then(|g| g.encode())
                        .ok(),
                    _ => None,
                },
                Shape::Lsoa(l) => encode_polygons(&to, &[&atlas.lsoa_shapes[*l]], tolerance_m),
                Shape::Lsoas(v) => {
                    let shapes: Vec<&MultiPolygon<f64>> =
                        v.iter().map(|l| &atlas.lsoa_shapes[*l]).collect();
                    encode_polygons(&to, &shapes, tolerance_m)
                }
                Shape::Polygon(mp) => encode_polygons(&to, &[mp], tolerance_m),
            };
            let Some(geom) = geom else { continue };
            let mut feature = layer.into_feature(geom);
            feature.set_id(i as u64 + 1);
            add_tags(&mut feature, collection, i, fields);
            extra(i, &mut feature);
            if at.is_some() {
                feature.add_tag_uint(POINT_COUNT, count);
            }
            layer = feature.into_layer();
        }
    }
    tile.add_layer(layer).map_err(|e| e.to_string())?;
    tile.to_bytes().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_math_round_trips() {
        for z in [0u8, 5, 12, 16] {
            let (x, y) = lonlat_to_tile(-1.5, 53.8, z);
            let (lon, lat) = tile_to_lonlat(x, y, z);
            assert!(
                (lon + 1.5).abs() < 1e-9 && (lat - 53.8).abs() < 1e-9,
                "z {z}"
            );
        }
        assert_eq!(tile_bounds_lonlat(0, 0, 0)[0], -180.0);
        assert!(valid_tile(16, 65535, 0) && !valid_tile(17, 0, 0) && !valid_tile(2, 4, 0));
        assert!(
            bng_window(5, 0, 0).is_none(),
            "the Pacific has no BNG window"
        );
        assert!(bng_window(6, 31, 20).is_some(), "England at zoom 6");
    }

    #[test]
    fn clipping_keeps_what_is_inside_and_cuts_at_the_edges() {
        // A square half outside the box [0, 10]: cut at x = 10.
        let sq = vec![(5.0, 2.0), (15.0, 2.0), (15.0, 8.0), (5.0, 8.0)];
        let c = clip(sq, 0.0, 10.0);
        assert_eq!(c, vec![(5.0, 2.0), (10.0, 2.0), (10.0, 8.0), (5.0, 8.0)]);
        // Wholly outside: nothing; wholly inside: unchanged.
        assert!(clip(vec![(20.0, 20.0), (30.0, 20.0), (30.0, 30.0)], 0.0, 10.0).is_empty());
        let inner = vec![(1.0, 1.0), (2.0, 1.0), (2.0, 2.0)];
        assert_eq!(clip(inner.clone(), 0.0, 10.0), inner);
    }
}
