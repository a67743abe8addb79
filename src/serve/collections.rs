//! The layers served as OGC API - Features collections: `units`, `lsoa`, `practices`,
//! `catchments`, `stops`, `vaccination-sites`, `pharmacies`, and `places` (label points of local
//! authorities, wards and PCNs, when the data has them).
//!
//! Each collection is built once at start-up from the atlas: items sorted by id, their BNG
//! bounding boxes in an R-tree for `bbox` queries, and their properties. Geometries stay in BNG
//! and are converted to WGS84 only for the items a response returns. The units' properties are
//! made from the engine's units when a response needs them ([`Collection::properties`]), so a
//! million units are not held a second time as JSON.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use geo::{BoundingRect, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde_json::{json, Map, Value as Json};

use crate::analysis::join::Context;
use crate::base::crs::{self, CrsError};
use crate::engine::Engine;
use crate::ingest::catchment::CatchmentSource;
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

/// One feature of a collection.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub shape: Shape,
    /// Empty for the units, whose properties are made when asked for.
    pub properties: Map<String, Json>,
    /// The unit's index in the engine (units collection only).
    pub unit: Option<u32>,
}

/// The engine whose units a collection's properties are made from.
struct Units(Arc<Engine>);

impl std::fmt::Debug for Units {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} units", self.0.units.len())
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
    pub items: Vec<Item>,
    by_id: crate::base::IdMap<usize>,
    index: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    /// BNG extent [minx, miny, maxx, maxy].
    pub extent_bng: Option<[f64; 4]>,
    /// What `filter` and `sortby` can name.
    pub queryables: Queryables,
    /// The most features a page holds (a larger `limit` is taken as this).
    pub max_limit: usize,
    /// The first and last day its items became vacant (`units`), ISO 8601.
    pub temporal: Option<(String, String)>,
    units: Option<Units>,
    /// For the units: the item of each engine unit (the engine maps ids to units, so a
    /// million ids are not held twice).
    unit_items: Vec<u32>,
}

fn bbox_of(atlas: &Atlas, shape: &Shape) -> Option<[f64; 4]> {
    let rect = |mp: &MultiPolygon<f64>| {
        mp.bounding_rect()
            .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y])
    };
    match shape {
        Shape::Point([x, y]) => Some([*x, *y, *x, *y]),
        Shape::Lsoa(i) => rect(&atlas.lsoa_shapes[*i]),
        Shape::Lsoas(v) => v
            .iter()
            .filter_map(|i| rect(&atlas.lsoa_shapes[*i]))
            .reduce(|a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            }),
        Shape::Polygon(mp) => rect(mp),
    }
}

impl Collection {
    pub fn new(
        atlas: &Atlas,
        id: &'static str,
        title: &str,
        description: &str,
        items: Vec<Item>,
    ) -> Self {
        Self::build(atlas, id, title, description, items, true)
    }

    /// [`Collection::new`]; without `by_id` the items are found by id some other way (the
    /// units: through the engine's own map of ids).
    fn build(
        atlas: &Atlas,
        id: &'static str,
        title: &str,
        description: &str,
        mut items: Vec<Item>,
        by_id: bool,
    ) -> Self {
        // A million units' ids: sorted on every core (stable, as before).
        {
            use rayon::slice::ParallelSliceMut as _;
            items.par_sort_by(|a, b| a.id.cmp(&b.id));
        }
        let by_id = if by_id {
            items
                .iter()
                .enumerate()
                .map(|(i, it)| (it.id.clone(), i))
                .collect()
        } else {
            crate::base::IdMap::default()
        };
        let mut extent: Option<[f64; 4]> = None;
        let entries = items
            .iter()
            .enumerate()
            .filter_map(|(i, it)| {
                let b = bbox_of(atlas, &it.shape)?;
                extent = Some(match extent {
                    None => b,
                    Some(e) => [
                        e[0].min(b[0]),
                        e[1].min(b[1]),
                        e[2].max(b[2]),
                        e[3].max(b[3]),
                    ],
                });
                Some(GeomWithData::new(
                    Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]),
                    i as u32,
                ))
            })
            .collect();
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
            index: RTree::bulk_load(entries),
            extent_bng: extent,
            queryables,
            max_limit: crate::engine::MAX_LIMIT,
            temporal,
            units: None,
            unit_items: vec![],
        }
    }

    /// The engine's units as a collection whose properties are made when a response needs
    /// them (a million units' properties would take gigabytes held as JSON).
    pub fn units(engine: &Arc<Engine>) -> Self {
        let _t = crate::base::timing::Phase::start("build the units collection");
        let items = engine
            .units
            .iter()
            .enumerate()
            .map(|(i, u)| Item {
                id: u.id.clone(),
                shape: Shape::Point(u.pos),
                properties: Map::new(),
                unit: Some(i as u32),
            })
            .collect();
        let mut c = Collection::build(
            &engine.atlas,
            "units",
            "Candidate units",
            "Vacant units being ranked (see /rank for scores)",
            items,
            false,
        );
        c.unit_items = vec![0; engine.units.len()];
        for (i, it) in c.items.iter().enumerate() {
            if let Some(u) = it.unit {
                c.unit_items[u as usize] = i as u32;
            }
        }
        c.units = Some(Units(engine.clone()));
        let sample: Vec<Map<String, Json>> = (0..c.items.len().min(QUERYABLES_SAMPLE))
            .map(|i| c.properties(i).into_owned())
            .collect();
        c.queryables = Queryables::from_rows(sample.iter(), Some("geometry-point"));
        let days = engine.units.iter().filter_map(|u| u.vacant_since);
        let (lo, hi) = (days.clone().min(), days.max());
        c.temporal = lo.zip(hi).map(|(lo, hi)| (lo.to_string(), hi.to_string()));
        c
    }

    /// How many items a property's type may be read from: all of those held, the first
    /// [`QUERYABLES_SAMPLE`] units (whose properties are made when asked for).
    pub fn typed_from(&self) -> usize {
        if self.units.is_some() {
            QUERYABLES_SAMPLE
        } else {
            self.items.len()
        }
    }

    /// Item `i`'s WGS84 position when the engine has it (units: transformed once at the
    /// join, as [`crate::base::crs::bng_to_wgs84`] of its BNG position).
    pub fn lonlat(&self, i: usize) -> Option<[f64; 2]> {
        let Units(e) = self.units.as_ref()?;
        e.contexts[self.items[i].unit? as usize].lonlat
    }

    /// Item `i`'s properties: held, or made from the engine's unit.
    pub fn properties(&self, i: usize) -> Cow<'_, Map<String, Json>> {
        let it = &self.items[i];
        match (&self.units, it.unit) {
            (Some(Units(e)), Some(u)) => Cow::Owned(unit_properties(
                &e.atlas,
                &e.units[u as usize],
                &e.contexts[u as usize],
            )),
            _ => Cow::Borrowed(&it.properties),
        }
    }

    /// One of item `i`'s properties (for units, made alone: a filter on one field of a
    /// million units does not make a million maps).
    pub fn property(&self, i: usize, name: &str) -> Option<Cow<'_, Json>> {
        let it = &self.items[i];
        match (&self.units, it.unit) {
            (Some(Units(e)), Some(u)) => unit_property(
                &e.atlas,
                &e.units[u as usize],
                &e.contexts[u as usize],
                name,
            )
            .map(Cow::Owned),
            _ => it.properties.get(name).map(Cow::Borrowed),
        }
    }

    /// The same collection, with pages of at most `n` features.
    pub fn with_max_limit(mut self, n: usize) -> Self {
        self.max_limit = n;
        self
    }

    /// The index of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        match &self.units {
            Some(Units(e)) => e
                .unit(id)
                .and_then(|u| self.unit_items.get(u))
                .map(|&i| i as usize),
            None => self.by_id.get(id).copied(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.index_of(id).map(|i| &self.items[i])
    }

    /// Indexes of the items whose bounding box meets BNG `[minx, miny, maxx, maxy]`, in id
    /// order.
    pub fn in_envelope(&self, b: [f64; 4]) -> Vec<usize> {
        let env = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        let mut v: Vec<usize> = self
            .index
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .collect();
        v.sort_unstable();
        v
    }

    /// Indexes of the items whose geometry meets the box, in id order: points exactly,
    /// polygons by their shapes (not their bounding boxes).
    pub fn in_bbox(&self, atlas: &Atlas, b: &Bbox) -> Vec<usize> {
        use geo::Intersects;
        let mut v: Vec<usize> = b
            .envelopes
            .iter()
            .flat_map(|e| {
                let env = AABB::from_corners([e[0], e[1]], [e[2], e[3]]);
                self.index
                    .locate_in_envelope_intersecting(&env)
                    .map(|e| e.data as usize)
            })
            .filter(|&i| match &self.items[i].shape {
                Shape::Point(p) => b.has_point_at(*p, self.lonlat(i)),
                Shape::Lsoa(l) => atlas.lsoa_shapes[*l].intersects(&b.area),
                Shape::Lsoas(v) => v.iter().any(|l| atlas.lsoa_shapes[*l].intersects(&b.area)),
                Shape::Polygon(mp) => mp.intersects(&b.area),
            })
            .collect();
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

/// An item as a GeoJSON feature in `crs`, with only the `properties` named, if any are.
pub fn feature(
    atlas: &Atlas,
    c: &Collection,
    i: usize,
    crs: Crs,
    properties: Option<&[String]>,
) -> Result<Json, CrsError> {
    let item = &c.items[i];
    let mut props = c.properties(i).into_owned();
    if let Some(names) = properties {
        crate::serve::ogc::select(&mut props, names);
    }
    let geometry = match (crs, c.lonlat(i)) {
        (Crs::Crs84, Some([lon, lat])) => {
            json!({"type": "Point", "coordinates": [crs::round6(lon), crs::round6(lat)]})
        }
        _ => geometry(atlas, &item.shape, crs)?,
    };
    Ok(json!({
        "type": "Feature",
        "id": item.id,
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
            unit: None,
            id: s.id.clone(),
            shape: Shape::Point(s.pos),
            properties: obj(
                json!({"id": s.id, "name": s.name, "kind": s.kind, "postcode": s.postcode}),
            ),
        })
        .collect()
}

fn lsoa_items(atlas: &Atlas) -> Vec<Item> {
    atlas
        .lsoas
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut p = Map::new();
            let imd = atlas.imd;
            p.insert(imd.code_column().into(), json!(l.code));
            p.insert(imd.name_column().into(), json!(l.name));
            p.insert(imd.lad_code_column().into(), json!(l.lad_code));
            p.insert(imd.lad_name_column().into(), json!(l.lad_name));
            p.insert("imd_score".into(), json!(l.imd_score));
            p.insert("imd_rank".into(), json!(l.imd_rank));
            p.insert("imd_decile".into(), json!(l.imd_decile));
            if let Some(d) = l.imd2019_decile {
                p.insert("imd2019_decile".into(), json!(d));
            }
            for (d, v) in DOMAINS.iter().zip(l.domain_deciles) {
                p.insert(format!("{d}_decile"), json!(v));
            }
            p.insert("population".into(), json!(l.population));
            p.insert("boundary".into(), json!(l.boundary));
            Item {
                unit: None,
                id: l.code.clone(),
                shape: Shape::Lsoa(i),
                properties: p,
            }
        })
        .collect()
}

/// The most catchments a page holds.
pub const CATCHMENTS_PAGE: usize = 1_000;

/// Every collection, built from the atlas, the served units and the catchment source.
/// A unit's properties in the units collection.
type UnitField = fn(&Atlas, &Unit, &Context) -> Json;

/// A unit item's properties, each by name: the one list [`unit_properties`] and
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

fn unit_properties(atlas: &Atlas, u: &Unit, c: &Context) -> Map<String, Json> {
    UNIT_FIELDS
        .iter()
        .map(|(name, value)| (unit_field_name(atlas, name).to_string(), value(atlas, u, c)))
        .collect()
}

/// One of [`unit_properties`], made alone.
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
            unit: None,
            id: p.practice_code.clone(),
            shape: Shape::Point(p.pos),
            properties: obj(json!({
                "practice_code": p.practice_code, "name": p.name, "postcode": p.postcode,
                "list_size": catchments.patients(atlas, i), "pcn_code": p.pcn_code, "pcn_name": p.pcn,
                "icb_code": p.icb_code, "subicb_code": p.subicb_code,
            })),
        })
        .collect();

    // Seven independent builds: run them on the machine's cores.
    std::thread::scope(|scope| {
        let units = scope.spawn(|| Collection::units(engine));
        let lsoa = scope.spawn(|| {
            let imd = atlas.imd;
            Collection::new(
                atlas,
                "lsoa",
                &format!("LSOAs with {}", imd.label()),
                &format!(
                    "{} polygons with {} score, rank, decile and domain deciles (decile 1 = most deprived); population: {}",
                    imd.lsoa_label(),
                    imd.label(),
                    imd.population_label()
                ),
                lsoa_items(atlas),
            )
        });
        let catch = scope.spawn(|| {
            // A catchment is many LSOA polygons: 1,000 a page is about 4 MB of GeoJSON, and
            // the whole layer in one page would be 25 MB built for anyone who asks.
            Collection::new(
                atlas,
                "catchments",
                "GP catchments",
                &format!(
                    "GP practice catchments: {}. At most {CATCHMENTS_PAGE} a page",
                    catchments.describe()
                ),
                catchment_items(atlas, catchments),
            )
            .with_max_limit(CATCHMENTS_PAGE)
        });
        let practices = Collection::new(
            atlas,
            "practices",
            "GP practices",
            "Active English GP practices with registered patients and PCN",
            practice_items,
        );
        let stops = Collection::new(
            atlas,
            "stops",
            "Public transport stops",
            "NaPTAN stops (Greater Manchester and the West Midlands)",
            site_items(&atlas.stops),
        );
        let vacc = Collection::new(
            atlas,
            "vaccination-sites",
            "COVID-19 vaccination sites (Feb 2021)",
            "NHS England vaccination sites of 26 February 2021",
            site_items(&atlas.vaccination_sites),
        );
        let pharm = Collection::new(
            atlas,
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
                atlas,
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
            unit: None,
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

/// A practice's catchment as the LSOAs it covers (or its own polygons, where given).
fn catchment_items(atlas: &Atlas, catchments: &dyn CatchmentSource) -> Vec<Item> {
    let mut shapes: Vec<(usize, Shape)> = match catchments.polygons() {
        Some(polys) => polys
            .into_iter()
            .map(|(p, mp)| (p, Shape::Polygon(mp)))
            .collect(),
        None => {
            let mut by_practice: HashMap<usize, Vec<usize>> = HashMap::new();
            for (l, lsoa) in atlas.lsoas.iter().enumerate() {
                for c in catchments.covering(atlas, lsoa.centroid, l) {
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
                unit: None,
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
