//! Polygon validity in near-linear time, and repair by a boolean union.
//!
//! `geo`'s `Validation` compares every edge of a ring with every other (a valid 100,000-vertex
//! circle took 82 s), so an upload could hold a core for minutes. [`check`] finds the same
//! faults through an R-tree of edge boxes: only edges whose boxes meet are compared, so a
//! polygon of `n` edges costs about `n log n`, and a budget of edge pairs (`Budget`) bounds the
//! pathological shapes (many long edges whose boxes all overlap) with a clear error instead.
//!
//! The rules are the OGC's, as `geo` reads them: each ring has at least three distinct points
//! and finite coordinates; no ring crosses itself or another, or shares a stretch of line with
//! one, or touches itself; holes lie inside their outer ring and outside each other; the
//! polygons of a multipolygon do not overlap. Different rings may touch at points (a hole
//! touching its outer ring, two polygons meeting at a corner), as long as they do not cross
//! there. Whether a touch splits the interior in two is not checked, as in
//! `geo`.
//!
//! [`repair`] rebuilds a shape with `geo`'s `BooleanOps` (the `i_overlay` crate, `n log n` in
//! the edges plus their crossings) under the even-odd rule, after [`tangle`] has counted the
//! crossings within a budget, so a repair's time is bounded too.
//!
//! ```
//! use geo::{wkt, Area};
//! use sitefinder::base::valid::{check, repair, Budget};
//! let square = wkt!(MULTIPOLYGON(((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.))));
//! assert!(check(&square, &Budget::default()).is_ok());
//! let bow_tie = wkt!(MULTIPOLYGON(((0. 0., 10. 10., 10. 0., 0. 10., 0. 0.))));
//! let why = check(&bow_tie, &Budget::default()).unwrap_err();
//! assert_eq!(why.to_string(), "the outer ring of polygon 0 crosses itself at (5.0, 5.0)");
//! let fixed = repair(&bow_tie, &Budget::default()).unwrap();
//! assert_eq!(fixed.0.len(), 2);
//! assert!((fixed.unsigned_area() - 50.0).abs() < 1e-9);
//! assert!(check(&fixed, &Budget::default()).is_ok());
//! ```

use std::collections::HashMap;

use geo::line_intersection::{line_intersection, LineIntersection};
use geo::{Coord, Line, LineString, MultiPolygon, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

/// How much work a check or repair may do.
#[derive(Debug, Clone, Copy, PartialEq, clap::Args)]
pub struct Budget {
    /// Pairs of nearby edges the validity check of one polygon may compare, beyond 20 per
    /// edge (a well-formed ring needs about 3 per edge).
    #[arg(long = "max-edge-pairs", value_name = "N", default_value_t = 5_000_000)]
    pub pairs: usize,
    /// Pairs allowed for each edge of the shape.
    #[arg(skip = 20usize)]
    pub pairs_per_edge: usize,
    /// Most crossings a repair of one polygon may resolve.
    #[arg(long = "max-crossings", value_name = "N", default_value_t = 100_000)]
    pub crossings: usize,
}

impl Default for Budget {
    /// The flags' defaults: 5 million pairs plus 20 per edge (about a second), 100,000
    /// crossings.
    fn default() -> Budget {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            budget: Budget,
        }
        <Flags as clap::Parser>::parse_from(["budget"]).budget
    }
}

/// Work done against a budget's limit of edge pairs: per shape ([`check`]), or shared by every
/// shape of an upload ([`check_metered`]), so that many shapes each just under the limit cannot
/// add up to minutes.
#[derive(Debug, Clone)]
pub struct Meter {
    used: usize,
    limit: usize,
    edges: usize,
}

impl Meter {
    /// The budget's pairs plus its pairs per edge for `edges` edges.
    pub fn new(budget: &Budget, edges: usize) -> Meter {
        Meter {
            used: 0,
            limit: budget
                .pairs
                .saturating_add(budget.pairs_per_edge.saturating_mul(edges)),
            edges,
        }
    }

    fn spend(&mut self, n: usize) -> Result<(), Invalid> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            return Err(Invalid::TooIntricate {
                limit: self.limit,
                edges: self.edges,
            });
        }
        Ok(())
    }
}

/// Which ring of a polygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ring {
    Outer,
    /// A hole, 0-based.
    Hole(usize),
}

impl std::fmt::Display for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ring::Outer => write!(f, "the outer ring"),
            Ring::Hole(h) => write!(f, "hole {h}"),
        }
    }
}

/// Why a shape is not valid, with where (polygon 0-based, in the shape's own coordinates).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Invalid {
    #[error("{ring} of polygon {polygon} has fewer than 3 distinct points")]
    TooFewPoints { polygon: usize, ring: Ring },
    #[error("{ring} of polygon {polygon} has a coordinate that is not a finite number")]
    NotFinite { polygon: usize, ring: Ring },
    #[error("{ring} of polygon {polygon} crosses itself at ({x:.1}, {y:.1})")]
    SelfIntersection {
        polygon: usize,
        ring: Ring,
        x: f64,
        y: f64,
    },
    #[error("{a} and {b} of polygon {polygon} cross at ({x:.1}, {y:.1})")]
    RingsCross {
        polygon: usize,
        a: Ring,
        b: Ring,
        x: f64,
        y: f64,
    },
    #[error("{a} and {b} of polygon {polygon} share a line near ({x:.1}, {y:.1})")]
    RingsShareALine {
        polygon: usize,
        a: Ring,
        b: Ring,
        x: f64,
        y: f64,
    },
    #[error("hole {hole} of polygon {polygon} is not inside its outer ring")]
    HoleOutside { polygon: usize, hole: usize },
    #[error("holes {a} and {b} of polygon {polygon} overlap")]
    HolesOverlap { polygon: usize, a: usize, b: usize },
    #[error("polygons {a} and {b} overlap near ({x:.1}, {y:.1})")]
    PolygonsOverlap { a: usize, b: usize, x: f64, y: f64 },
    #[error("polygons {a} and {b} share a line near ({x:.1}, {y:.1})")]
    PolygonsShareALine { a: usize, b: usize, x: f64, y: f64 },
    #[error("too intricate to check: more than {limit} pairs of edges lie close together ({edges} edges); simplify the shape (e.g. QGIS: Vector > Geometry Tools > Simplify) and try again")]
    TooIntricate { limit: usize, edges: usize },
    #[error("too tangled to repair: more than {limit} crossings; fix the shape in a GIS, or simplify it first")]
    TooTangled { limit: usize },
    #[error("the repair failed on this shape; fix it in a GIS")]
    RepairFailed,
}

/// One edge of a ring (consecutive repeated points dropped).
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: Coord,
    b: Coord,
    polygon: u32,
    /// 0 = outer, h + 1 = hole h.
    ring: u32,
    /// Position in its ring, and the ring's number of edges.
    at: u32,
    of: u32,
}

impl Edge {
    fn ring(&self) -> Ring {
        if self.ring == 0 {
            Ring::Outer
        } else {
            Ring::Hole(self.ring as usize - 1)
        }
    }

    fn same_ring(&self, o: &Edge) -> bool {
        self.polygon == o.polygon && self.ring == o.ring
    }

    /// Consecutive in one closed ring.
    fn adjacent(&self, o: &Edge) -> bool {
        self.same_ring(o)
            && (self.at.abs_diff(o.at) == 1
                || (self.at.min(o.at) == 0 && self.at.max(o.at) == self.of - 1))
    }
}

/// The ring's distinct consecutive points (closed), or why it has too few.
fn ring_points(r: &LineString<f64>) -> Vec<Coord> {
    let mut pts: Vec<Coord> = Vec::with_capacity(r.0.len());
    for c in &r.0 {
        if pts.last() != Some(c) {
            pts.push(*c);
        }
    }
    if pts.len() > 1 && pts.first() != pts.last() {
        let first = pts[0];
        pts.push(first);
    }
    pts
}

fn rings(p: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(p.exterior()).chain(p.interiors())
}

/// The edges of every ring, after the per-ring checks (enough points, finite).
fn edges(shape: &MultiPolygon<f64>) -> Result<Vec<Edge>, Invalid> {
    let mut out = Vec::new();
    for (pi, p) in shape.0.iter().enumerate() {
        for (ri, r) in rings(p).enumerate() {
            let ring = if ri == 0 {
                Ring::Outer
            } else {
                Ring::Hole(ri - 1)
            };
            if r.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
                return Err(Invalid::NotFinite { polygon: pi, ring });
            }
            let pts = ring_points(r);
            // Closed: first == last, so 3 distinct points need 4.
            if pts.len() < 4 {
                return Err(Invalid::TooFewPoints { polygon: pi, ring });
            }
            let of = (pts.len() - 1) as u32;
            out.extend(pts.windows(2).enumerate().map(|(k, w)| Edge {
                a: w[0],
                b: w[1],
                polygon: pi as u32,
                ring: ri as u32,
                at: k as u32,
                of,
            }));
        }
    }
    Ok(out)
}

type Boxed = GeomWithData<Rectangle<[f64; 2]>, u32>;

fn edge_tree(edges: &[Edge]) -> RTree<Boxed> {
    RTree::bulk_load(
        edges
            .iter()
            .enumerate()
            .map(|(i, e)| {
                GeomWithData::new(
                    Rectangle::from_corners([e.a.x, e.a.y], [e.b.x, e.b.y]),
                    i as u32,
                )
            })
            .collect(),
    )
}

/// A place two edges meet without crossing there as far as the pair shows: an endpoint of one
/// on the other. Whether the rings cross at it is decided from all the edges there.
type Touches = HashMap<(u64, u64), Vec<u32>>;

fn key(c: Coord) -> (u64, u64) {
    // +0.0 and -0.0 are one place.
    ((c.x + 0.0).to_bits(), (c.y + 0.0).to_bits())
}

/// What the pairwise scan found.
struct Scan {
    /// The first fault, unless counting crossings for a repair.
    fault: Option<Invalid>,
    crossings: usize,
}

/// Compares every pair of edges whose boxes meet. With `count`, goes on past faults counting
/// crossings (up to the budget's), for [`repair`].
fn scan(
    edges: &[Edge],
    tree: &RTree<Boxed>,
    budget: &Budget,
    meter: &mut Meter,
    count: bool,
    touches: &mut Touches,
) -> Result<Scan, Invalid> {
    let mut out = Scan {
        fault: None,
        crossings: 0,
    };
    for (i, e) in edges.iter().enumerate() {
        let env = AABB::from_corners([e.a.x, e.a.y], [e.b.x, e.b.y]);
        for hit in tree.locate_in_envelope_intersecting(&env) {
            let j = hit.data as usize;
            if j <= i {
                continue;
            }
            meter.spend(1)?;
            let o = &edges[j];
            let Some(x) = line_intersection(Line::new(e.a, e.b), Line::new(o.a, o.b)) else {
                continue;
            };
            let fault = match x {
                LineIntersection::Collinear { intersection: l } if l.start != l.end => {
                    Some(shared_line(e, o, l.start))
                }
                LineIntersection::SinglePoint {
                    intersection: p,
                    is_proper: true,
                } => Some(crossing(e, o, p)),
                LineIntersection::Collinear { intersection: l } => {
                    touch(e, o, i, j, l.start, touches)
                }
                LineIntersection::SinglePoint {
                    intersection: p, ..
                } => touch(e, o, i, j, p, touches),
            };
            if let Some(f) = fault {
                out.crossings += 1;
                if !count {
                    out.fault = Some(f);
                    return Ok(out);
                }
                out.fault.get_or_insert(f);
                if out.crossings > budget.crossings {
                    return Err(Invalid::TooTangled {
                        limit: budget.crossings,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Two edges meeting at a point without crossing there. Consecutive edges of a ring meet at
/// their shared vertex: that is the ring. Any other meeting of one ring with itself is a fault
/// (the OGC's rings are simple: a ring through one of its own points again, even without
/// crossing, is invalid, as in `geo` and GEOS). Where two rings meet, whether they cross is
/// decided later from all the edges there.
fn touch(
    e: &Edge,
    o: &Edge,
    i: usize,
    j: usize,
    p: Coord,
    touches: &mut Touches,
) -> Option<Invalid> {
    if e.same_ring(o) {
        if e.adjacent(o) && (p == e.a || p == e.b) && (p == o.a || p == o.b) {
            return None;
        }
        return Some(crossing(e, o, p));
    }
    let at = touches.entry(key(p)).or_default();
    for k in [i as u32, j as u32] {
        if !at.contains(&k) {
            at.push(k);
        }
    }
    None
}

fn crossing(e: &Edge, o: &Edge, p: Coord) -> Invalid {
    let (x, y) = (p.x, p.y);
    if e.same_ring(o) {
        Invalid::SelfIntersection {
            polygon: e.polygon as usize,
            ring: e.ring(),
            x,
            y,
        }
    } else if e.polygon == o.polygon {
        Invalid::RingsCross {
            polygon: e.polygon as usize,
            a: e.ring(),
            b: o.ring(),
            x,
            y,
        }
    } else {
        Invalid::PolygonsOverlap {
            a: e.polygon as usize,
            b: o.polygon as usize,
            x,
            y,
        }
    }
}

fn shared_line(e: &Edge, o: &Edge, p: Coord) -> Invalid {
    let (x, y) = (p.x, p.y);
    if e.same_ring(o) {
        // A ring doubling back on itself (a spike, a cut line).
        Invalid::SelfIntersection {
            polygon: e.polygon as usize,
            ring: e.ring(),
            x,
            y,
        }
    } else if e.polygon == o.polygon {
        Invalid::RingsShareALine {
            polygon: e.polygon as usize,
            a: e.ring(),
            b: o.ring(),
            x,
            y,
        }
    } else {
        Invalid::PolygonsShareALine {
            a: e.polygon as usize,
            b: o.polygon as usize,
            x,
            y,
        }
    }
}

/// One pass of a ring through a point: the directions it arrives from and leaves to.
struct Visit {
    edge: u32,
    dirs: [f64; 2],
}

/// At each touch, whether two passes through the point cross (their directions interleave
/// around it) rather than touch.
fn touches_cross(edges: &[Edge], touches: &Touches) -> Option<Invalid> {
    for (&(kx, ky), at) in touches {
        let p = Coord {
            x: f64::from_bits(kx),
            y: f64::from_bits(ky),
        };
        let angle = |q: Coord| (q.y - p.y).atan2(q.x - p.x);
        // Every edge through p, by ring: an edge ending at p and the next one starting there
        // make one pass; an edge with p inside it is a pass on its own.
        let mut by_ring: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for &k in at {
            let e = &edges[k as usize];
            by_ring.entry((e.polygon, e.ring)).or_default().push(k);
        }
        let mut visits: Vec<Visit> = vec![];
        for ks in by_ring.values() {
            for &k in ks {
                let e = &edges[k as usize];
                if e.b == p {
                    // Arrives here; the ring's next edge leaves.
                    let next = if e.at + 1 == e.of {
                        k + 1 - e.of
                    } else {
                        k + 1
                    };
                    let n = &edges[next as usize];
                    visits.push(Visit {
                        edge: k,
                        dirs: [angle(e.a), angle(n.b)],
                    });
                } else if e.a != p {
                    visits.push(Visit {
                        edge: k,
                        dirs: [angle(e.a), angle(e.b)],
                    });
                }
            }
        }
        for (vi, v) in visits.iter().enumerate() {
            for w in &visits[vi + 1..] {
                if interleave(v.dirs, w.dirs) {
                    return Some(crossing(
                        &edges[v.edge as usize],
                        &edges[w.edge as usize],
                        p,
                    ));
                }
            }
        }
    }
    None
}

/// Whether `w`'s two directions lie on different sides of `v`'s two (so the passes cross).
fn interleave(v: [f64; 2], w: [f64; 2]) -> bool {
    use std::f64::consts::TAU;
    let rel = |a: f64| (a - v[0]).rem_euclid(TAU);
    let end = rel(v[1]);
    let inside = |a: f64| {
        let r = rel(a);
        r > 0.0 && r < end
    };
    let on = |a: f64| {
        let r = rel(a);
        r == 0.0 || r == end
    };
    if w.iter().any(|&a| on(a)) {
        // Sharing a direction is sharing a line, found by the scan.
        return false;
    }
    inside(w[0]) != inside(w[1])
}

/// Whether `p` is inside the ring of `edges[range]` (even-odd; `p` not on it).
fn inside_ring(p: Coord, ring: &[Edge]) -> bool {
    let mut inside = false;
    for e in ring {
        let (a, b) = (e.a, e.b);
        if (a.y > p.y) != (b.y > p.y) {
            let x = a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x);
            if p.x < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// A point of the ring that no other ring touches: the middle of its first edge whose middle
/// is not a touch. (The scan found no crossings, so every such point is on the same side of
/// any other ring.)
fn probe(ring: &[Edge], touches: &Touches) -> Coord {
    for e in ring {
        let m = Coord {
            x: (e.a.x + e.b.x) / 2.0,
            y: (e.a.y + e.b.y) / 2.0,
        };
        if m != e.a && m != e.b && !touches.contains_key(&key(m)) {
            return m;
        }
    }
    ring[0].a
}

/// Holes inside their outer ring and outside each other; polygons not inside one another.
fn containment(
    shape: &MultiPolygon<f64>,
    edges: &[Edge],
    touches: &Touches,
    meter: &mut Meter,
) -> Result<(), Invalid> {
    // Each ring's run of edges (edges are in polygon, ring order).
    let mut runs: HashMap<(u32, u32), (usize, usize)> = HashMap::new();
    for (i, e) in edges.iter().enumerate() {
        runs.entry((e.polygon, e.ring))
            .and_modify(|r| r.1 = i + 1)
            .or_insert((i, i + 1));
    }
    let ring = |p: usize, r: usize| {
        let (s, e) = runs[&(p as u32, r as u32)];
        &edges[s..e]
    };
    let mut spend = |n: usize| meter.spend(n);
    let bbox = |es: &[Edge]| {
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for e in es {
            for c in [e.a, e.b] {
                lo = [lo[0].min(c.x), lo[1].min(c.y)];
                hi = [hi[0].max(c.x), hi[1].max(c.y)];
            }
        }
        Rectangle::from_corners(lo, hi)
    };
    for (pi, p) in shape.0.iter().enumerate() {
        let holes = p.interiors().len();
        if holes == 0 {
            continue;
        }
        let outer = ring(pi, 0);
        let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
            (0..holes)
                .map(|h| GeomWithData::new(bbox(ring(pi, h + 1)), h))
                .collect(),
        );
        for h in 0..holes {
            let hole = ring(pi, h + 1);
            let at = probe(hole, touches);
            spend(outer.len())?;
            if !inside_ring(at, outer) {
                return Err(Invalid::HoleOutside {
                    polygon: pi,
                    hole: h,
                });
            }
            for other in tree.locate_all_at_point(&[at.x, at.y]) {
                if other.data != h {
                    let o = ring(pi, other.data + 1);
                    spend(o.len())?;
                    if inside_ring(at, o) {
                        return Err(Invalid::HolesOverlap {
                            polygon: pi,
                            a: h.min(other.data),
                            b: h.max(other.data),
                        });
                    }
                }
            }
        }
    }
    if shape.0.len() > 1 {
        let tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>> = RTree::bulk_load(
            (0..shape.0.len())
                .map(|p| GeomWithData::new(bbox(ring(p, 0)), p))
                .collect(),
        );
        for pi in 0..shape.0.len() {
            let at = probe(ring(pi, 0), touches);
            for other in tree.locate_all_at_point(&[at.x, at.y]) {
                let q = other.data;
                if q == pi {
                    continue;
                }
                spend(ring(q, 0).len())?;
                if !inside_ring(at, ring(q, 0)) {
                    continue;
                }
                // Inside q's outer ring: fine only if inside one of q's holes (an island in a
                // lake).
                let mut in_hole = false;
                for h in 0..shape.0[q].interiors().len() {
                    let hole = ring(q, h + 1);
                    spend(hole.len())?;
                    if inside_ring(at, hole) {
                        in_hole = true;
                        break;
                    }
                }
                if !in_hole {
                    return Err(Invalid::PolygonsOverlap {
                        a: pi.min(q),
                        b: pi.max(q),
                        x: at.x,
                        y: at.y,
                    });
                }
            }
        }
    }
    Ok(())
}

/// The first reason `shape` is not valid, within `budget`; `Ok` if it is valid.
pub fn check(shape: &MultiPolygon<f64>, budget: &Budget) -> Result<(), Invalid> {
    let mut meter = Meter::new(budget, edge_count(shape));
    check_metered(shape, budget, &mut meter)
}

/// [`check`], spending from `meter` (shared by the shapes of one upload).
pub fn check_metered(
    shape: &MultiPolygon<f64>,
    budget: &Budget,
    meter: &mut Meter,
) -> Result<(), Invalid> {
    let edges = edges(shape)?;
    let tree = edge_tree(&edges);
    let mut touches = Touches::new();
    if let Some(f) = scan(&edges, &tree, budget, meter, false, &mut touches)?.fault {
        return Err(f);
    }
    if let Some(f) = touches_cross(&edges, &touches) {
        return Err(f);
    }
    containment(shape, &edges, &touches, meter)
}

/// How many edges `shape` has (its vertices, less one per ring): what a [`Meter`] is sized by.
pub fn edge_count(shape: &MultiPolygon<f64>) -> usize {
    shape
        .0
        .iter()
        .flat_map(rings)
        .map(|r| r.0.len().saturating_sub(1))
        .sum()
}

/// How many crossings `shape` has (0 for one that only overlaps without crossing), within
/// `budget`: an error if checking or the crossings go over it.
pub fn tangle(shape: &MultiPolygon<f64>, budget: &Budget) -> Result<usize, Invalid> {
    let mut meter = Meter::new(budget, edge_count(shape));
    tangle_metered(shape, budget, &mut meter)
}

fn tangle_metered(
    shape: &MultiPolygon<f64>,
    budget: &Budget,
    meter: &mut Meter,
) -> Result<usize, Invalid> {
    let edges = edges(shape)?;
    let tree = edge_tree(&edges);
    let mut touches = Touches::new();
    Ok(scan(&edges, &tree, budget, meter, true, &mut touches)?.crossings)
}

/// A valid shape covering what `shape` covers under the even-odd rule (a bow tie becomes two
/// triangles, a spike is dropped, overlapping parts cancel), made by `geo`'s `BooleanOps`; then
/// checked. An error if the shape is too tangled for the budget, has too few points or
/// non-finite coordinates, or the result is still not valid.
pub fn repair(shape: &MultiPolygon<f64>, budget: &Budget) -> Result<MultiPolygon<f64>, Invalid> {
    let mut meter = Meter::new(budget, edge_count(shape));
    repair_metered(shape, budget, &mut meter)
}

/// [`repair`], spending from `meter`.
pub fn repair_metered(
    shape: &MultiPolygon<f64>,
    budget: &Budget,
    meter: &mut Meter,
) -> Result<MultiPolygon<f64>, Invalid> {
    use geo::algorithm::bool_ops::{BooleanOps, FillRule};
    tangle_metered(shape, budget, meter)?;
    // The boolean operations (i_overlay) panic on some degenerate shapes (found by fuzzing):
    // that is a refusal, never a crash.
    let fixed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shape.union_with_fill_rule(&MultiPolygon::<f64>::new(vec![]), FillRule::EvenOdd)
    }))
    .map_err(|_| Invalid::RepairFailed)?;
    check_metered(&fixed, budget, meter)?;
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{wkt, Validation};

    fn ok(s: &MultiPolygon<f64>) -> bool {
        check(s, &Budget::default()).is_ok()
    }

    #[test]
    fn agrees_with_geo_on_the_usual_faults() {
        let cases: Vec<(MultiPolygon<f64>, bool)> = vec![
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.)))),
                true,
            ),
            // A hole touching the outer ring at a point.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 1., 4. 4., 0. 4., 0. 0.),(0. 2., 2. 1., 3. 2., 2. 3., 0. 2.)))),
                true,
            ),
            // A hole outside.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),(5. 5., 6. 5., 6. 6., 5. 5.)))),
                false,
            ),
            // A hole crossing the outer ring.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),(3. 1., 5. 1., 5. 2., 3. 1.)))),
                false,
            ),
            // A hole sharing a stretch of the outer ring.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),(1. 0., 2. 0., 2. 1., 1. 0.)))),
                false,
            ),
            // Nested holes.
            (
                wkt!(MULTIPOLYGON(((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.),(1. 1., 9. 1., 9. 9., 1. 9., 1. 1.),(2. 2., 3. 2., 3. 3., 2. 2.)))),
                false,
            ),
            // A spike.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 6. 0., 4. 0., 4. 4., 0. 4., 0. 0.)))),
                false,
            ),
            // Two polygons overlapping, one inside another, two meeting at a corner, an island
            // in a lake.
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.)),((2. 2., 6. 2., 6. 6., 2. 6., 2. 2.)))),
                false,
            ),
            (
                wkt!(MULTIPOLYGON(((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.)),((2. 2., 3. 2., 3. 3., 2. 2.)))),
                false,
            ),
            (
                wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.)),((4. 4., 6. 4., 6. 6., 4. 6., 4. 4.)))),
                true,
            ),
            (
                wkt!(MULTIPOLYGON(((0. 0., 10. 0., 10. 10., 0. 10., 0. 0.),(1. 1., 9. 1., 9. 9., 1. 9., 1. 1.)),((2. 2., 3. 2., 3. 3., 2. 2.)))),
                true,
            ),
            // Too few points.
            (wkt!(MULTIPOLYGON(((0. 0., 4. 0., 0. 0.)))), false),
        ];
        for (i, (s, valid)) in cases.iter().enumerate() {
            assert_eq!(
                ok(s),
                *valid,
                "case {i}: {:?}",
                check(s, &Budget::default())
            );
            assert_eq!(s.is_valid(), *valid, "case {i}: geo disagrees");
        }
    }

    #[test]
    fn a_crossing_through_a_vertex_is_a_crossing_and_a_touch_is_not() {
        // The hole's vertex (4, 2) sits on the outer ring's edge and the hole goes on outside.
        let crosses = wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),(2. 1., 4. 2., 6. 3., 2. 3., 2. 1.))));
        assert!(matches!(
            check(&crosses, &Budget::default()),
            Err(Invalid::RingsCross { .. })
        ));
        assert!(!crosses.is_valid());
        // The same vertex on the edge, the hole staying inside: a touch.
        let touches =
            wkt!(MULTIPOLYGON(((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.),(2. 1., 4. 2., 2. 3., 2. 1.))));
        assert!(ok(&touches));
        assert!(touches.is_valid());
        // A ring through one of its own vertices twice, crossing there (a bow tie with a
        // vertex at its waist).
        let figure_eight = wkt!(MULTIPOLYGON(((0. 0., 2. 2., 4. 4., 4. 0., 2. 2., 0. 4., 0. 0.))));
        assert!(matches!(
            check(&figure_eight, &Budget::default()),
            Err(Invalid::SelfIntersection { .. })
        ));
        assert!(!figure_eight.is_valid());
        // Through it twice without crossing (two triangles meeting at a point): a ring must
        // not touch itself either.
        let kissing = wkt!(MULTIPOLYGON(((0. 0., 2. 2., 4. 0., 4. 4., 2. 2., 0. 4., 0. 0.))));
        assert!(matches!(
            check(&kissing, &Budget::default()),
            Err(Invalid::SelfIntersection { .. })
        ));
        assert!(!kissing.is_valid());
    }

    #[test]
    fn a_big_valid_circle_is_checked_in_near_linear_time() {
        // geo's quadratic check took 82 s on this; here it is a few R-tree queries per edge.
        let n = 100_000;
        let ring: Vec<Coord> = (0..=n)
            .map(|i| {
                let t = std::f64::consts::TAU * (i % n) as f64 / n as f64;
                Coord {
                    x: 400_000.0 + 1_000.0 * t.cos(),
                    y: 300_000.0 + 1_000.0 * t.sin(),
                }
            })
            .collect();
        let circle = MultiPolygon::new(vec![Polygon::new(LineString(ring), vec![])]);
        assert!(ok(&circle));
        // A budget of a few pairs per edge is enough for it.
        let tight = Budget {
            pairs: 0,
            pairs_per_edge: 3,
            crossings: 0,
        };
        assert!(check(&circle, &tight).is_ok());
    }

    #[test]
    fn a_star_of_long_crossing_edges_exceeds_the_budget_or_is_refused_quickly() {
        // 2,001 points around a circle joined every 1,000th: every edge crosses most others.
        let n = 2_001;
        let ring: Vec<Coord> = (0..=n)
            .map(|i| {
                let t = std::f64::consts::TAU * ((i * 1_000) % n) as f64 / n as f64;
                Coord {
                    x: 1_000.0 * t.cos(),
                    y: 1_000.0 * t.sin(),
                }
            })
            .collect();
        let star = MultiPolygon::new(vec![Polygon::new(LineString(ring), vec![])]);
        assert!(matches!(
            check(&star, &Budget::default()),
            Err(Invalid::SelfIntersection { .. })
        ));
        assert_eq!(
            repair(&star, &Budget::default()),
            Err(Invalid::TooTangled { limit: 100_000 })
        );
        let tight = Budget {
            pairs: 1_000,
            pairs_per_edge: 0,
            crossings: 1_000_000_000,
        };
        assert!(matches!(
            tangle(&star, &tight),
            Err(Invalid::TooIntricate { limit: 1_000, .. })
        ));
    }

    #[test]
    fn repair_is_valid_and_keeps_the_even_odd_area() {
        use geo::Area;
        // A spike and a bow tie, and a square with an outer ring wound the other way.
        let spike = wkt!(MULTIPOLYGON(((0. 0., 4. 0., 6. 0., 4. 0., 4. 4., 0. 4., 0. 0.))));
        let fixed = repair(&spike, &Budget::default()).unwrap();
        assert!(ok(&fixed) && fixed.is_valid());
        assert!((fixed.unsigned_area() - 16.0).abs() < 1e-9);
        let cw = wkt!(MULTIPOLYGON(((0. 0., 0. 4., 4. 4., 4. 0., 0. 0.))));
        assert!((repair(&cw, &Budget::default()).unwrap().unsigned_area() - 16.0).abs() < 1e-9);
    }

    #[test]
    fn agrees_with_geo_on_thousands_of_random_small_shapes() {
        // Rings on a 6 x 6 integer grid: many shared vertices, collinear edges and touches.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let ring = |next: &mut dyn FnMut(u64) -> u64| {
            let k = 3 + next(4) as usize;
            let mut pts: Vec<Coord> = (0..k)
                .map(|_| Coord {
                    x: next(6) as f64,
                    y: next(6) as f64,
                })
                .collect();
            pts.push(pts[0]);
            LineString(pts)
        };
        let mut disagree = vec![];
        let mut geo_panics = 0;
        let mut flat = 0;
        let mut valid = 0;
        let mut repaired = 0;
        let flat_ring = |s: &MultiPolygon<f64>| {
            use geo::Area;
            s.0.iter()
                .any(|p| rings(p).any(|r| Polygon::new(r.clone(), vec![]).unsigned_area() == 0.0))
        };
        for case in 0..5_000 {
            let polygons = 1 + next(2) as usize;
            let shape = MultiPolygon::new(
                (0..polygons)
                    .map(|_| {
                        let holes = next(2) as usize;
                        Polygon::new(
                            ring(&mut next),
                            (0..holes).map(|_| ring(&mut next)).collect(),
                        )
                    })
                    .collect(),
            );
            // geo's check panics on some invalid shapes ("topology position conflict"):
            // another reason user data never goes through it.
            let theirs = std::panic::catch_unwind(|| shape.is_valid());
            valid += usize::from(ok(&shape));
            if !ok(&shape) {
                // Every repair is valid by both checks, or says why not.
                match repair(&shape, &Budget::default()) {
                    Ok(fixed) => {
                        assert!(
                            fixed.is_valid(),
                            "case {case}: repair of {shape:?} is {fixed:?}"
                        );
                        repaired += 1;
                    }
                    Err(Invalid::TooFewPoints { .. }) => {}
                    Err(e) => panic!("case {case}: repair of {shape:?}: {e}"),
                }
            }
            match theirs {
                // geo lets a ring of no area through (all its points on one line); we do
                // not: it doubles back on itself, and covers nothing.
                Ok(true) if !ok(&shape) && flat_ring(&shape) => flat += 1,
                Ok(v) if v != ok(&shape) => {
                    disagree.push((case, v, check(&shape, &Budget::default()), shape))
                }
                Ok(_) => {}
                Err(_) => {
                    assert!(
                        !ok(&shape),
                        "case {case}: geo panics on a shape we call valid"
                    );
                    geo_panics += 1;
                }
            }
        }
        eprintln!("{valid} valid, {repaired} repaired; geo panicked on {geo_panics}; {flat} had a ring of no area");
        // Both kinds, in numbers.
        assert!(valid > 250 && valid < 4_750, "{valid} valid");
        assert!(
            disagree.is_empty(),
            "{} disagree, e.g. {:?}",
            disagree.len(),
            &disagree[..disagree.len().min(3)]
        );
    }

    #[test]
    fn a_shape_the_boolean_operations_panic_on_is_refused() {
        // Found by the `valid` fuzz target: i_overlay 4.5 indexes out of bounds on it.
        let pts = [
            (0, 0),
            (10, 36),
            (0, 45),
            (109, -1),
            (-1, 21),
            (18, 5),
            (0, 0),
            (9, -11),
            (0, -11),
            (0, 0),
            (-2, 0),
            (0, -25),
            (32, 18),
            (5, 3),
            (45, 41),
            (122, -1),
            (-65, -1),
            (3, -1),
            (-1, 21),
            (18, 41),
        ];
        let ring: Vec<Coord> = pts
            .iter()
            .map(|&(x, y)| Coord {
                x: f64::from(x),
                y: f64::from(y),
            })
            .collect();
        let shape = MultiPolygon::new(vec![Polygon::new(LineString(ring), vec![])]);
        // A refusal, not a crash (should i_overlay mend this, a repair that checks valid).
        match repair(&shape, &Budget::default()) {
            Err(Invalid::RepairFailed) => {}
            Ok(fixed) => assert!(check(&fixed, &Budget::default()).is_ok()),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn repairing_a_random_800_vertex_scribble_is_quick() {
        // geo's make_valid took over a minute on a self-intersecting ring of 800 vertices.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1_000_000) as f64 / 1_000.0
        };
        let mut pts: Vec<Coord> = (0..800)
            .map(|_| Coord {
                x: next(),
                y: next(),
            })
            .collect();
        pts.push(pts[0]);
        let scribble = MultiPolygon::new(vec![Polygon::new(LineString(pts), vec![])]);
        let crossings = tangle(&scribble, &Budget::default()).unwrap();
        assert!(crossings > 10_000, "{crossings}");
        let started = std::time::Instant::now();
        let fixed = repair(&scribble, &Budget::default()).unwrap();
        eprintln!("{crossings} crossings repaired in {:?}", started.elapsed());
        assert!(ok(&fixed));
        assert!(!fixed.0.is_empty());
    }
}
