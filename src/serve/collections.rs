//! The layers served as OGC API - Features collections: `units`, `lsoa`, `practices`,
//! `catchments`, `stops`, `vaccination-sites`, `pharmacies`, and `places` (label points of local
//! authorities, wards and PCNs, when the data has them).
//!
//! Each collection is built once at start-up from the atlas: items sorted by id, their BNG
//! bounding boxes in an R-tree for `bbox` queries, and their properties. Geometries stay in BNG
//! and are converted to WGS84 only for the items a response returns.

use std::collections::HashMap;

use geo::{BoundingRect, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde_json::{json, Map, Value as Json};

use crate::analysis::join::Context;
use crate::base::crs::round6;
use crate::base::crs::{self, CrsError};
use crate::ingest::catchment::CatchmentSource;
use crate::ingest::units::Unit;
use crate::reference::atlas::{Atlas, Layer, DOMAINS};

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
    pub properties: Map<String, Json>,
}

/// A collection: metadata, items, and an index of their bounding boxes.
#[derive(Debug)]
pub struct Collection {
    pub id: &'static str,
    pub title: String,
    pub description: String,
    pub items: Vec<Item>,
    by_id: HashMap<String, usize>,
    index: RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>,
    /// BNG extent [minx, miny, maxx, maxy].
    pub extent_bng: Option<[f64; 4]>,
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
        mut items: Vec<Item>,
    ) -> Self {
        items.sort_by(|a, b| a.id.cmp(&b.id));
        let by_id = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
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
        Collection {
            id,
            title: title.into(),
            description: description.into(),
            items,
            by_id,
            index: RTree::bulk_load(entries),
            extent_bng: extent,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.by_id.get(id).map(|&i| &self.items[i])
    }

    /// Indexes of the items that meet a WGS84 box (`bng` is an envelope containing its image),
    /// in id order: points exactly, polygons by their bounding boxes.
    pub fn in_bbox(&self, bng: [f64; 4], wgs84: [f64; 4]) -> Vec<usize> {
        let env = AABB::from_corners([bng[0], bng[1]], [bng[2], bng[3]]);
        let mut v: Vec<usize> = self
            .index
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .filter(|&i| match self.items[i].shape {
                Shape::Point([x, y]) => crs::bng_to_wgs84(x, y).is_ok_and(|(lon, lat)| {
                    (wgs84[0]..=wgs84[2]).contains(&lon) && (wgs84[1]..=wgs84[3]).contains(&lat)
                }),
                _ => true,
            })
            .collect();
        v.sort_unstable();
        v
    }
}

fn ring_to_wgs84(ring: &geo::LineString<f64>) -> Result<Vec<Vec<f64>>, CrsError> {
    ring.0
        .iter()
        .map(|c| crs::bng_to_wgs84(c.x, c.y).map(|(lon, lat)| vec![round6(lon), round6(lat)]))
        .collect()
}

fn multipolygon_to_wgs84(mp: &MultiPolygon<f64>) -> Result<Vec<Vec<Vec<Vec<f64>>>>, CrsError> {
    mp.0.iter()
        .map(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(ring_to_wgs84)
                .collect()
        })
        .collect()
}

/// An item's geometry as RFC 7946 GeoJSON (WGS84).
pub fn geometry(atlas: &Atlas, shape: &Shape) -> Result<Json, CrsError> {
    Ok(match shape {
        Shape::Point([x, y]) => {
            let (lon, lat) = crs::bng_to_wgs84(*x, *y)?;
            json!({"type": "Point", "coordinates": [round6(lon), round6(lat)]})
        }
        Shape::Lsoa(i) => {
            json!({"type": "MultiPolygon", "coordinates": multipolygon_to_wgs84(&atlas.lsoa_shapes[*i])?})
        }
        Shape::Lsoas(v) => {
            let mut all = vec![];
            for i in v {
                all.extend(multipolygon_to_wgs84(&atlas.lsoa_shapes[*i])?);
            }
            json!({"type": "MultiPolygon", "coordinates": all})
        }
        Shape::Polygon(mp) => {
            json!({"type": "MultiPolygon", "coordinates": multipolygon_to_wgs84(mp)?})
        }
    })
}

/// An item as an RFC 7946 feature.
pub fn feature(atlas: &Atlas, item: &Item) -> Result<Json, CrsError> {
    Ok(json!({
        "type": "Feature",
        "id": item.id,
        "geometry": geometry(atlas, &item.shape)?,
        "properties": item.properties,
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
                id: l.code.clone(),
                shape: Shape::Lsoa(i),
                properties: p,
            }
        })
        .collect()
}

/// Every collection, built from the atlas, the served units and the catchment source.
pub fn build_all(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    catchments: &dyn CatchmentSource,
) -> Vec<Collection> {
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

    let unit_items = units
        .iter()
        .zip(contexts)
        .map(|(u, c)| {
            let l = &atlas.lsoas[c.lsoa];
            let mut p = obj(json!({
                "id": u.id, "name": u.name, "address": u.address, "postcode": u.postcode,
                "description": u.description, "floor_area_m2": u.floor_area_m2,
                "rateable_value": u.rateable_value, "ground_floor": u.ground_floor,
                "vacant_since": u.vacant_since.map(|d| d.to_string()),
                "imd_decile": l.imd_decile, "catchment_pcns": c.pcns.join("; "),
                "council": u.council, "source_file": u.source,
            }));
            p.insert(atlas.imd.code_column().into(), json!(l.code));
            p.insert(atlas.imd.lad_name_column().into(), json!(l.lad_name));
            Item {
                id: u.id.clone(),
                shape: Shape::Point(u.pos),
                properties: p,
            }
        })
        .collect();

    // Seven independent builds: run them on the machine's cores.
    std::thread::scope(|scope| {
        let units = scope.spawn(|| {
            Collection::new(
                atlas,
                "units",
                "Candidate units",
                "Vacant units being ranked (see /rank for scores)",
                unit_items,
            )
        });
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
            Collection::new(
                atlas,
                "catchments",
                "GP catchments",
                &format!("GP practice catchments: {}", catchments.describe()),
                catchment_items(atlas, catchments),
            )
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
