//! The layers served as OGC API - Features collections: `units`, `lsoa`, `practices`,
//! `catchments`, `stops`, `vaccination-sites`, `pharmacies`, and `places` (label points of local
//! authorities, wards and PCNs, when the data has them).
//!
//! Each collection is built once at start-up from the atlas: items sorted by id, their BNG
//! bounding boxes in an R-tree for `bbox` queries, and their properties. Geometries stay in BNG
//! and are converted to WGS84 only for the items a response returns. The units and LSOA
//! collections hold no items of their own: only the engine's units (or the atlas's LSOAs) in id
//! order, and an index of where they are (for the units a grid,
//! [`crate::base::grid::PointGrid`], built in a fraction of an R-tree's time); an item's id,
//! geometry and properties are read from the engine when a response needs them
//! ([`Collection::properties`]), so a million units are not held a second time, nor 33,755
//! LSOAs' properties as JSON.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use geo::{BoundingRect, MultiPolygon};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde_json::{json, Map, Value as Json};

use crate::analysis::join::Context;
use crate::base::crs::{self, CrsError};
use crate::base::grid::PointGrid;
use crate::engine::Engine;
use crate::ingest::catchment::{CatchmentSource, Cover};
use crate::ingest::units::Unit;
use crate::reference::atlas::{Atlas, Layer, DOMAINS};
use crate::serve::ogc::{Bbox, Crs, Queryables};

/// Where an item's geometry lives.
#[derive(Debug, Clone)]
pub enum Shape {
    Point([f64; 2]),
    /// An LSOA polygon, by index into the atlas.
    Lsoa(usize),
    /// A practice's catchment: the LSOAs it covers.
    Lsoas(Vec<usize>),
    /// A user-supplied polygon (BNG).
    Polygon(MultiPolygon<f64>),
}

/// One feature of a collection (not the units', which are read from the engine).
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub shape: Shape,
    pub properties: Map<String, Json>,
}

/// What the items read from the engine are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Units,
    Lsoas,
}

/// Items read from the engine when a response needs them: its units, or its atlas's LSOAs, in
/// id order.
struct Lazy {
    engine: Arc<Engine>,
    kind: Kind,
    /// The unit or LSOA of each item.
    order: Vec<u32>,
    /// The item of each unit or LSOA (the engine maps ids to them, so ids are not held twice).
    item_of: Vec<u32>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.order.len(), self.kind)
    }
}

/// The item of each of `order`'s members (`n` of them).
fn items_of(order: &[u32], n: usize) -> Vec<u32> {
    let mut item_of = vec![0u32; n];
    for (i, &m) in order.iter().enumerate() {
        item_of[m as usize] = i as u32;
    }
    item_of
}

/// Items' bounding boxes, numbered by item.
type BoxTree = RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>;

/// Where a collection finds the items in a box.
#[derive(Debug)]
enum Index {
    /// Each item's BNG bounding box, numbered by item.
    Boxes(BoxTree),
    /// Each item's BNG point (the units), numbered by item.
    Points(PointGrid),
}

impl Index {
    /// The items whose box meets `[minx, miny, maxx, maxy]`, edges included, in no order
    /// (none for a box with a coordinate that is not a number).
    fn meeting(&self, b: [f64; 4], out: &mut Vec<usize>) {
        if b.iter().any(|v| v.is_nan()) {
            return;
        }
        let (lo, hi) = (
            [b[0].min(b[2]), b[1].min(b[3])],
            [b[0].max(b[2]), b[1].max(b[3])],
        );
        match self {
            Index::Boxes(tree) => out.extend(
                tree.locate_in_envelope_intersecting(&AABB::from_corners(lo, hi))
                    .map(|e| e.data as usize),
            ),
            Index::Points(grid) => grid.each_in_box(lo, hi, |i| out.push(i as usize)),
        }
    }
}

/// How many units the units collection's queryables are typed from (a property without a
/// value in any of them is typed by its name).
const QUERYABLES_SAMPLE: usize = 10_000;

/// A collection: metadata, items, and an index of their bounding boxes.
#[derive(Debug)]
pub struct Collection {
    pub id: &'static str,
    pub title: String,
    pub description: String,
    /// The items (none for the units and LSOAs, which `lazy` reads from the engine).
    items: Vec<Item>,
    by_id: crate::base::IdMap<usize>,
    index: Index,
    /// BNG extent [minx, miny, maxx, maxy].
    pub extent_bng: Option<[f64; 4]>,
    /// What `filter` and `sortby` can name.
    pub queryables: Queryables,
    /// The most features a page holds (a larger `limit` is taken as this).
    pub max_limit: usize,
    /// The first and last day its items became vacant (`units`), ISO 8601.
    pub temporal: Option<(String, String)>,
    lazy: Option<Lazy>,
}

fn rect(mp: &MultiPolygon<f64>) -> Option<[f64; 4]> {
    mp.bounding_rect()
        .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
}

fn union(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

/// Each LSOA's bounding box, worked out once for every collection that needs them.
struct LsoaBoxes(Vec<Option<[f64; 4]>>);

impl LsoaBoxes {
    fn new(atlas: &Atlas) -> LsoaBoxes {
        LsoaBoxes(atlas.lsoa_shapes.par_iter().map(rect).collect())
    }
}

fn bbox_of(boxes: &LsoaBoxes, shape: &Shape) -> Option<[f64; 4]> {
    match shape {
        Shape::Point([x, y]) => Some([*x, *y, *x, *y]),
        Shape::Lsoa(i) => boxes.0[*i],
        Shape::Lsoas(v) => v.iter().filter_map(|i| boxes.0[*i]).reduce(union),
        Shape::Polygon(mp) => rect(mp),
    }
}

/// The R-tree of boxes numbered by item, and their extent.
fn index_boxes(boxes: impl Iterator<Item = Option<[f64; 4]>>) -> (BoxTree, Option<[f64; 4]>) {
    let mut extent: Option<[f64; 4]> = None;
    let entries = boxes
        .enumerate()
        .filter_map(|(i, b)| {
            let b = b?;
            extent = Some(extent.map_or(b, |e| union(e, b)));
            Some(GeomWithData::new(
                Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]),
                i as u32,
            ))
        })
        .collect();
    (RTree::bulk_load(entries), extent)
}

impl Collection {
    /// The items sorted by id, indexed by their bounding boxes.
    fn new(
        boxes: &LsoaBoxes,
        id: &'static str,
        title: &str,
        description: &str,
        mut items: Vec<Item>,
    ) -> Self {
        items.par_sort_by(|a, b| a.id.cmp(&b.id));
        let by_id = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        let (index, extent) = index_boxes(items.iter().map(|it| bbox_of(boxes, &it.shape)));
        let geometry = match items.first().map(|i| &i.shape) {
            Some(Shape::Point(_)) => "geometry-point",
            _ => "geometry-multipolygon",
        };
        let queryables = Queryables::from_rows(items.iter().map(|i| &i.properties), Some(geometry));
        let mut days = items
            .iter()
            .filter_map(|i| i.properties.get("vacant_since").and_then(Json::as_str));
        let temporal = days
            .next()
            .map(|first| days.fold((first, first), |(lo, hi), d| (lo.min(d), hi.max(d))));
        let temporal = temporal.map(|(lo, hi)| (lo.to_string(), hi.to_string()));
        Collection {
            id,
            title: title.into(),
            description: description.into(),
            items,
            by_id,
            index: Index::Boxes(index),
            extent_bng: extent,
            queryables,
            max_limit: crate::engine::MAX_LIMIT,
            temporal,
            lazy: None,
        }
    }

    /// The engine's units as a collection whose items are read from the engine when a
    /// response needs them (a million units' properties would take gigabytes held as JSON).
    pub fn units(engine: &Arc<Engine>) -> Self {
        let _t = crate::base::timing::Phase::start("build the units collection");
        let units = &engine.units;
        // The prepared units' id order (made beside the other collections, or kept).
        let order = engine.prepare().by_id().to_vec();
        let item_of = items_of(&order, units.len());
        let grid = PointGrid::new(
            order
                .iter()
                .enumerate()
                .map(|(i, &u)| (units[u as usize].pos, i as u32)),
        );
        let extent = grid.bounds();
        let days = units
            .par_iter()
            .filter_map(|u| u.vacant_since.map(|d| (d, d)))
            .reduce_with(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let mut c = Collection {
            id: "units",
            title: "Candidate units".into(),
            description: "Vacant units being ranked (see /rank for scores)".into(),
            items: vec![],
            by_id: Default::default(),
            index: Index::Points(grid),
            extent_bng: extent,
            queryables: Queryables::from_rows(
                std::iter::empty::<Map<String, Json>>(),
                Some("geometry-point"),
            ),
            max_limit: crate::engine::MAX_LIMIT,
            temporal: days.map(|(lo, hi)| (lo.to_string(), hi.to_string())),
            lazy: Some(Lazy {
                engine: engine.clone(),
                kind: Kind::Units,
                order,
                item_of,
            }),
        };
        let sample: Vec<Map<String, Json>> = (0..c.len().min(QUERYABLES_SAMPLE))
            .map(|i| c.properties(i).into_owned())
            .collect();
        c.queryables = Queryables::from_rows(sample.iter(), Some("geometry-point"));
        c
    }

    /// The atlas's LSOAs as a collection whose items are read from the atlas when a response
    /// needs them.
    fn lsoas(engine: &Arc<Engine>, boxes: &LsoaBoxes, title: String, description: String) -> Self {
        let atlas = &engine.atlas;
        let mut order: Vec<u32> = (0..atlas.lsoas.len() as u32).collect();
        order.par_sort_unstable_by(|a, b| {
            atlas.lsoas[*a as usize]
                .code
                .cmp(&atlas.lsoas[*b as usize].code)
        });
        let item_of = items_of(&order, atlas.lsoas.len());
        let (index, extent) = index_boxes(order.iter().map(|&l| boxes.0[l as usize]));
        let mut c = Collection {
            id: "lsoa",
            title,
            description,
            items: vec![],
            by_id: Default::default(),
            index: Index::Boxes(index),
            extent_bng: extent,
            queryables: Queryables::from_rows(std::iter::empty::<Map<String, Json>>(), None),
            max_limit: crate::engine::MAX_LIMIT,
            temporal: None,
            lazy: Some(Lazy {
                engine: engine.clone(),
                kind: Kind::Lsoas,
                order,
                item_of,
            }),
        };
        // Typed from every LSOA, one map at a time (one property, `imd2019_decile`, may be
        // missing from some).
        c.queryables = Queryables::from_rows(
            (0..c.len()).map(|i| c.properties(i).into_owned()),
            Some("geometry-multipolygon"),
        );
        c
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        match &self.lazy {
            Some(l) => l.order.len(),
            None => self.items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The engine's unit or LSOA that is item `i`, for items read from the engine.
    fn read_at(&self, i: usize) -> Option<(&Engine, Kind, usize)> {
        let l = self.lazy.as_ref()?;
        Some((&l.engine, l.kind, l.order[i] as usize))
    }

    /// Item `i`'s id.
    pub fn id(&self, i: usize) -> &str {
        match self.read_at(i) {
            Some((e, Kind::Units, u)) => &e.units[u].id,
            Some((e, Kind::Lsoas, l)) => &e.atlas.lsoas[l].code,
            None => &self.items[i].id,
        }
    }

    /// Item `i`'s geometry (a unit's is its BNG point).
    pub fn shape(&self, i: usize) -> Cow<'_, Shape> {
        match self.read_at(i) {
            Some((e, Kind::Units, u)) => Cow::Owned(Shape::Point(e.units[u].pos)),
            Some((_, Kind::Lsoas, l)) => Cow::Owned(Shape::Lsoa(l)),
            None => Cow::Borrowed(&self.items[i].shape),
        }
    }

    /// How many items a property's type may be read from: all of those held, the first
    /// [`QUERYABLES_SAMPLE`] units (whose properties are made when asked for).
    pub fn typed_from(&self) -> usize {
        match &self.lazy {
            Some(l) if l.kind == Kind::Units => QUERYABLES_SAMPLE,
            _ => self.len(),
        }
    }

    /// Item `i`'s WGS84 position when the engine has it (units: transformed once at the
    /// join, as [`crate::base::crs::bng_to_wgs84`] of its BNG position).
    pub fn lonlat(&self, i: usize) -> Option<[f64; 2]> {
        match self.read_at(i)? {
            (e, Kind::Units, u) => e.contexts[u].lonlat,
            _ => None,
        }
    }

    /// Item `i`'s properties: held, or made from the engine's unit or LSOA.
    pub fn properties(&self, i: usize) -> Cow<'_, Map<String, Json>> {
        if self.read_at(i).is_none() {
            return Cow::Borrowed(&self.items[i].properties);
        }
        let mut m = Map::new();
        self.each_property(i, |name, v| {
            m.insert(name.to_string(), v.into_owned());
        });
        Cow::Owned(m)
    }

    /// Each of item `i`'s properties in order, given to `f` (made one at a time from the
    /// engine's unit or LSOA, without a map).
    pub fn each_property(&self, i: usize, mut f: impl FnMut(&str, Cow<'_, Json>)) {
        match self.read_at(i) {
            Some((e, Kind::Units, u)) => {
                let (atlas, unit, c) = (&e.atlas, &e.units[u], &e.contexts[u]);
                for (name, value) in UNIT_FIELDS {
                    f(
                        unit_field_name(atlas, name),
                        Cow::Owned(value(atlas, unit, c)),
                    );
                }
            }
            Some((e, Kind::Lsoas, l)) => {
                for name in lsoa_field_names(&e.atlas) {
                    if let Some(v) = lsoa_property(&e.atlas, l, &name) {
                        f(&name, Cow::Owned(v));
                    }
                }
            }
            None => {
                for (name, v) in &self.items[i].properties {
                    f(name, Cow::Borrowed(v));
                }
            }
        }
    }

    /// One of item `i`'s properties (for units, made alone: a filter on one field of a
    /// million units does not make a million maps).
    pub fn property(&self, i: usize, name: &str) -> Option<Cow<'_, Json>> {
        match self.read_at(i) {
            Some((e, Kind::Units, u)) => {
                unit_property(&e.atlas, &e.units[u], &e.contexts[u], name).map(Cow::Owned)
            }
            Some((e, Kind::Lsoas, l)) => lsoa_property(&e.atlas, l, name).map(Cow::Owned),
            None => self.items[i].properties.get(name).map(Cow::Borrowed),
        }
    }

    /// The same collection, with pages of at most `n` features.
    pub fn with_max_limit(mut self, n: usize) -> Self {
        self.max_limit = n;
        self
    }

    /// The index of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        match &self.lazy {
            Some(l) => match l.kind {
                Kind::Units => l.engine.unit(id),
                Kind::Lsoas => l.engine.atlas.lsoa(id),
            }
            .and_then(|m| l.item_of.get(m))
            .map(|&i| i as usize),
            None => self.by_id.get(id).copied(),
        }
    }

    /// Indexes of the items whose bounding box meets BNG `[minx, miny, maxx, maxy]`, in id
    /// order.
    pub fn in_envelope(&self, b: [f64; 4]) -> Vec<usize> {
        let mut v = vec![];
        self.index.meeting(b, &mut v);
        v.sort_unstable();
        v
    }

    /// Indexes of the items whose geometry meets the box, in id order: points exactly,
    /// polygons by their shapes (not their bounding boxes).
    pub fn in_bbox(&self, atlas: &Atlas, b: &Bbox) -> Vec<usize> {
        use geo::Intersects;
        let mut v = vec![];
        // Units in a WGS84 box: read from the server's grid of their WGS84 positions, a run at
        // a time, without reading a unit (the few without a position tested as below).
        if let (Some(l), Some(boxes)) = (&self.lazy, b.wgs84_boxes()) {
            if l.kind == Kind::Units {
                let p = l.engine.prepare();
                for w in boxes {
                    p.each_in_box(*w, |u| v.push(l.item_of[u] as usize));
                }
                for u in p.unplaced() {
                    if b.has_point(l.engine.units[u].pos) {
                        v.push(l.item_of[u] as usize);
                    }
                }
                v.sort_unstable();
                v.dedup();
                return v;
            }
        }
        for e in &b.envelopes {
            self.index.meeting(*e, &mut v);
        }
        v.retain(|&i| match &*self.shape(i) {
            Shape::Point(p) => b.has_point_at(*p, self.lonlat(i)),
            Shape::Lsoa(l) => atlas.lsoa_shapes[*l].intersects(&b.area),
            Shape::Lsoas(v) => v.iter().any(|l| atlas.lsoa_shapes[*l].intersects(&b.area)),
            Shape::Polygon(mp) => mp.intersects(&b.area),
        });
        v.sort_unstable();
        v.dedup();
        v
    }
}

fn ring_in(ring: &geo::LineString<f64>, crs: Crs) -> Result<Vec<[f64; 2]>, CrsError> {
    ring.0.iter().map(|c| crs.from_bng(c.x, c.y)).collect()
}

fn multipolygon_in(mp: &MultiPolygon<f64>, crs: Crs) -> Result<Vec<Vec<Vec<[f64; 2]>>>, CrsError> {
    mp.0.iter()
        .map(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(|r| ring_in(r, crs))
                .collect()
        })
        .collect()
}

/// An item's geometry as GeoJSON in `crs` (RFC 7946 WGS84 by default; British National Grid
/// eastings and northings on request).
pub fn geometry(atlas: &Atlas, shape: &Shape, crs: Crs) -> Result<Json, CrsError> {
    Ok(match shape {
        Shape::Point([x, y]) => {
            json!({"type": "Point", "coordinates": crs.from_bng(*x, *y)?})
        }
        Shape::Lsoa(i) => {
            json!({"type": "MultiPolygon", "coordinates": multipolygon_in(&atlas.lsoa_shapes[*i], crs)?})
        }
        Shape::Lsoas(v) => {
            let mut all = vec![];
            for i in v {
                all.extend(multipolygon_in(&atlas.lsoa_shapes[*i], crs)?);
            }
            json!({"type": "MultiPolygon", "coordinates": all})
        }
        Shape::Polygon(mp) => {
            json!({"type": "MultiPolygon", "coordinates": multipolygon_in(mp, crs)?})
        }
    })
}

/// [`feature`] written into `out` as `serde_json` writes it (byte for byte), its properties
/// made one at a time without a map: a page of items.
pub fn write_feature(
    out: &mut Vec<u8>,
    atlas: &Atlas,
    c: &Collection,
    i: usize,
    crs: Crs,
    properties: Option<&[String]>,
) -> Result<(), CrsError> {
    let wanted = |name: &str| properties.is_none_or(|names| names.iter().any(|n| n == name));
    out.extend_from_slice(b"{\"type\":\"Feature\",\"id\":");
    // Into a vector: no error but from the values, and these have none.
    let _ = serde_json::to_writer(&mut *out, c.id(i));
    out.extend_from_slice(b",\"geometry\":");
    let _ = serde_json::to_writer(&mut *out, &feature_geometry(atlas, c, i, crs)?);
    out.extend_from_slice(b",\"properties\":{");
    let mut members = crate::export::table::Members::after(out, 0);
    c.each_property(i, |name, v| {
        if wanted(name) {
            members.member(name, &*v);
        }
    });
    out.extend_from_slice(b"}}");
    Ok(())
}

/// An item's geometry in a feature: a unit's WGS84 point from the join, to 6 decimals.
fn feature_geometry(atlas: &Atlas, c: &Collection, i: usize, crs: Crs) -> Result<Json, CrsError> {
    Ok(match (crs, c.lonlat(i)) {
        (Crs::Crs84, Some([lon, lat])) => {
            json!({"type": "Point", "coordinates": [crs::round6(lon), crs::round6(lat)]})
        }
        _ => geometry(atlas, &c.shape(i), crs)?,
    })
}

/// An item as a GeoJSON feature in `crs`, with only the `properties` named, if any are.
pub fn feature(
    atlas: &Atlas,
    c: &Collection,
    i: usize,
    crs: Crs,
    properties: Option<&[String]>,
) -> Result<Json, CrsError> {
    let mut props = c.properties(i).into_owned();
    if let Some(names) = properties {
        crate::serve::ogc::select(&mut props, names);
    }
    let geometry = feature_geometry(atlas, c, i, crs)?;
    Ok(json!({
        "type": "Feature",
        "id": c.id(i),
        "geometry": geometry,
        "properties": props,
    }))
}

/// The map inside a `json!({...})` object, moved out without a copy.
fn obj(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

fn site_items(layer: &Layer) -> Vec<Item> {
    layer
        .sites
        .iter()
        .map(|s| Item {
            id: s.id.clone(),
            shape: Shape::Point(s.pos),
            properties: obj(
                json!({"id": s.id, "name": s.name, "kind": s.kind, "postcode": s.postcode}),
            ),
        })
        .collect()
}

/// An LSOA item's property names, in order (`imd2019_decile` is left out where it has no value).
fn lsoa_field_names(atlas: &Atlas) -> impl Iterator<Item = Cow<'static, str>> {
    let imd = atlas.imd;
    [
        imd.code_column(),
        imd.name_column(),
        imd.lad_code_column(),
        imd.lad_name_column(),
        "imd_score",
        "imd_rank",
        "imd_decile",
        "imd2019_decile",
    ]
    .into_iter()
    .map(Cow::Borrowed)
    .chain(DOMAINS.iter().map(|d| Cow::Owned(format!("{d}_decile"))))
    .chain(["population", "boundary"].map(Cow::Borrowed))
}

/// One of an LSOA item's properties ([`lsoa_field_names`]), made alone.
fn lsoa_property(atlas: &Atlas, i: usize, name: &str) -> Option<Json> {
    let l = &atlas.lsoas[i];
    let imd = atlas.imd;
    Some(match name {
        n if n == imd.code_column() => json!(l.code),
        n if n == imd.name_column() => json!(l.name),
        n if n == imd.lad_code_column() => json!(l.lad_code),
        n if n == imd.lad_name_column() => json!(l.lad_name),
        "imd_score" => json!(l.imd_score),
        "imd_rank" => json!(l.imd_rank),
        "imd_decile" => json!(l.imd_decile),
        "imd2019_decile" => json!(l.imd2019_decile?),
        "population" => json!(l.population),
        "boundary" => json!(l.boundary),
        n => {
            let domain = n.strip_suffix("_decile")?;
            let at = DOMAINS.iter().position(|d| *d == domain)?;
            json!(l.domain_deciles[at])
        }
    })
}

/// The most catchments a page holds.
pub const CATCHMENTS_PAGE: usize = 1_000;

/// A unit's properties in the units collection.
type UnitField = fn(&Atlas, &Unit, &Context) -> Json;

/// A unit item's properties, each by name: the one list [`Collection::each_property`] and
/// [`unit_property`] read. `{code}` and `{lad_name}` are the edition's column names.
const UNIT_FIELDS: &[(&str, UnitField)] = &[
    ("id", |_, u, _| json!(u.id)),
    ("name", |_, u, _| json!(u.name)),
    ("address", |_, u, _| json!(u.address)),
    ("postcode", |_, u, _| json!(u.postcode)),
    ("description", |_, u, _| json!(u.description.as_deref())),
    ("floor_area_m2", |_, u, _| json!(u.floor_area_m2)),
    ("rateable_value", |_, u, _| json!(u.rateable_value)),
    ("ground_floor", |_, u, _| json!(u.ground_floor)),
    ("vacant_since", |_, u, _| {
        json!(u.vacant_since.map(|d| d.to_string()))
    }),
    ("imd_decile", |a, _, c| json!(a.lsoas[c.lsoa].imd_decile)),
    ("catchment_pcns", |a, _, c| json!(c.pcns(a).join("; "))),
    ("council", |_, u, _| json!(u.council.as_deref())),
    ("source_file", |_, u, _| json!(&*u.source)),
    ("{code}", |a, _, c| json!(a.lsoas[c.lsoa].code)),
    ("{lad_name}", |a, _, c| json!(a.lsoas[c.lsoa].lad_name)),
];

/// A field's name in this edition.
fn unit_field_name<'a>(atlas: &Atlas, name: &'a str) -> &'a str {
    match name {
        "{code}" => atlas.imd.code_column(),
        "{lad_name}" => atlas.imd.lad_name_column(),
        other => other,
    }
}

/// One of a unit item's properties ([`UNIT_FIELDS`]), made alone.
fn unit_property(atlas: &Atlas, u: &Unit, c: &Context, name: &str) -> Option<Json> {
    UNIT_FIELDS
        .iter()
        .find(|(n, _)| unit_field_name(atlas, n) == name)
        .map(|(_, value)| value(atlas, u, c))
}

/// Every collection over the engine's units and reference layers.
pub fn build_all(engine: &Arc<Engine>) -> Vec<Collection> {
    let atlas: &Atlas = &engine.atlas;
    let catchments = engine.catchments.as_ref();
    let practice_items = atlas
        .practices
        .iter()
        .enumerate()
        .map(|(i, p)| Item {
            id: p.practice_code.clone(),
            shape: Shape::Point(p.pos),
            properties: obj(json!({
                "practice_code": p.practice_code, "name": p.name, "postcode": p.postcode,
                "list_size": catchments.patients(atlas, i), "pcn_code": p.pcn_code, "pcn_name": p.pcn,
                "icb_code": p.icb_code, "subicb_code": p.subicb_code,
            })),
        })
        .collect();

    let boxes = LsoaBoxes::new(atlas);
    // Seven independent builds: run them on the machine's cores.
    std::thread::scope(|scope| {
        let units = scope.spawn(|| Collection::units(engine));
        let lsoa = scope.spawn(|| {
            let _t = crate::base::timing::Phase::start("build the lsoa collection");
            let imd = atlas.imd;
            Collection::lsoas(
                engine,
                &boxes,
                format!("LSOAs with {}", imd.label()),
                format!(
                    "{} polygons with {} score, rank, decile and domain deciles (decile 1 = most deprived); population: {}",
                    imd.lsoa_label(),
                    imd.label(),
                    imd.population_label()
                ),
            )
        });
        let catch = scope.spawn(|| {
            let _t = crate::base::timing::Phase::start("build the catchments collection");
            // A catchment is many LSOA polygons: 1,000 a page is about 4 MB of GeoJSON, and
            // the whole layer in one page would be 25 MB built for anyone who asks.
            Collection::new(
                &boxes,
                "catchments",
                "GP catchments",
                &format!(
                    "GP practice catchments: {}. At most {CATCHMENTS_PAGE} a page",
                    catchments.describe()
                ),
                catchment_items(atlas, catchments, &engine.contexts),
            )
            .with_max_limit(CATCHMENTS_PAGE)
        });
        let _t = crate::base::timing::Phase::start("build the other collections");
        let practices = Collection::new(
            &boxes,
            "practices",
            "GP practices",
            "Active English GP practices with registered patients and PCN",
            practice_items,
        );
        let stops = Collection::new(
            &boxes,
            "stops",
            "Public transport stops",
            "NaPTAN stops (Greater Manchester and the West Midlands)",
            site_items(&atlas.stops),
        );
        let vacc = Collection::new(
            &boxes,
            "vaccination-sites",
            "COVID-19 vaccination sites (Feb 2021)",
            "NHS England vaccination sites of 26 February 2021",
            site_items(&atlas.vaccination_sites),
        );
        let pharm = Collection::new(
            &boxes,
            "pharmacies",
            "Community pharmacies",
            "Greater Manchester community pharmacies",
            site_items(&atlas.pharmacies),
        );
        let join = |h: std::thread::ScopedJoinHandle<'_, Collection>| {
            h.join().expect("collection build panicked")
        };
        let mut all = vec![
            join(units),
            join(lsoa),
            practices,
            join(catch),
            stops,
            vacc,
            pharm,
        ];
        if atlas.places.is_some() {
            all.push(Collection::new(
                &boxes,
                "places",
                "Places: local authorities, wards and PCNs",
                "Local authorities and wards (2024) and Primary Care Networks, each at its label point (inside the area), with its WGS84 bounding box (`bbox`), a description (`detail`) and residents (Census 2021) or practices and list sizes (January 2021); `kind` is local_authority, ward or pcn",
                place_items(atlas),
            ));
        }
        all
    })
}

/// Every place at its label point.
fn place_items(atlas: &Atlas) -> Vec<Item> {
    let Some(places) = &atlas.places else {
        return vec![];
    };
    places
        .list
        .iter()
        .map(|p| Item {
            id: p.code.clone(),
            shape: Shape::Point(p.label),
            properties: obj(json!({
                "code": p.code, "name": p.name, "kind": p.kind.as_str(), "detail": p.detail(),
                "lad_code": p.lad_code, "lad_name": p.lad_name, "population": p.population,
                "practices": p.practices, "list_size_2021_01": p.list_size, "bbox": p.bbox,
            })),
        })
        .collect()
}

/// A practice's catchment as the LSOAs it covers (or its own polygons, where given). Where
/// catchments depend only on the LSOA, the units' joins already hold those of the LSOAs that
/// have units (`contexts`): the others are worked out here.
fn catchment_items(
    atlas: &Atlas,
    catchments: &dyn CatchmentSource,
    contexts: &[Context],
) -> Vec<Item> {
    let mut shapes: Vec<(usize, Shape)> = match catchments.polygons() {
        Some(polys) => polys
            .into_iter()
            .map(|(p, mp)| (p, Shape::Polygon(mp)))
            .collect(),
        None => {
            let mut known: Vec<Option<&Arc<[Cover]>>> = vec![None; atlas.lsoas.len()];
            if catchments.per_lsoa() {
                for c in contexts {
                    if let Some(k) = known.get_mut(c.lsoa) {
                        k.get_or_insert(&c.catchment);
                    }
                }
            }
            let covers: Vec<Cow<'_, [Cover]>> = known
                .par_iter()
                .enumerate()
                .map(|(l, k)| match k {
                    Some(c) => Cow::Borrowed(&c[..]),
                    None => Cow::Owned(catchments.covering(atlas, atlas.lsoas[l].centroid, l)),
                })
                .collect();
            let mut by_practice: HashMap<usize, Vec<usize>> = HashMap::new();
            for (l, covers) in covers.iter().enumerate() {
                for c in covers.iter() {
                    by_practice.entry(c.practice).or_default().push(l);
                }
            }
            by_practice
                .into_iter()
                .map(|(p, ls)| (p, Shape::Lsoas(ls)))
                .collect()
        }
    };
    shapes.sort_by_key(|s| s.0);
    shapes
        .into_iter()
        .map(|(p, shape)| {
            let pr = &atlas.practices[p];
            let n_lsoas = match &shape {
                Shape::Lsoas(v) => Some(v.len()),
                _ => None,
            };
            Item {
                id: pr.practice_code.clone(),
                shape,
                properties: obj(json!({
                    "practice_code": pr.practice_code, "name": pr.name, "pcn_name": pr.pcn,
                    "registered_patients": catchments.patients(atlas, p), "lsoas": n_lsoas,
                    "method": catchments.kind(),
                })),
            }
        })
        .collect()
}
