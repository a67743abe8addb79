//! Indexes over points (a grid) and polygons (an R-tree) in BNG metres, and the one piece of polygon
//! arithmetic the ranking needs (area of a polygon inside a circle).
//!
//! ```
//! use sitefinder::base::spatial::PointIndex;
//! let idx = PointIndex::new(&[[0.0, 0.0], [100.0, 0.0], [0.0, 500.0]]);
//! assert_eq!(idx.nearest_k([90.0, 10.0], 2).iter().map(|h| h.0).collect::<Vec<_>>(), vec![1, 0]);
//! assert_eq!(idx.within([0.0, 0.0], 150.0).len(), 2);
//! ```

use geo::{Area, BoundingRect, Intersects, MultiPolygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::base::grid::PointGrid;

/// Whether the multipolygon holds the point, boundary included: `geo`'s `intersects`, part by
/// part, without the bounding box of the whole that `intersects` first computes from every
/// vertex (a polygon index has already checked the box; the answers are the same).
///
/// ```
/// use geo::{polygon, Intersects, MultiPolygon, Point};
/// use sitefinder::base::spatial::covers;
/// let square = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)];
/// let mp = MultiPolygon(vec![square]);
/// for p in [[5.0, 5.0], [10.0, 5.0], [0.0, 0.0], [11.0, 5.0], [-0.1, 3.0]] {
///     assert_eq!(covers(&mp, p), mp.intersects(&Point::new(p[0], p[1])));
/// }
/// assert!(covers(&mp, [10.0, 5.0]));
/// assert!(!covers(&mp, [11.0, 5.0]));
/// ```
pub fn covers(mp: &MultiPolygon<f64>, at: [f64; 2]) -> bool {
    let c = geo::Coord { x: at[0], y: at[1] };
    mp.0.iter().any(|p| p.intersects(&c))
}

/// Nearest-k and within-radius queries over a fixed set of points, by their position in the
/// slice the index was built from. Results are ordered by distance, ties by position, so they
/// are deterministic. A uniform grid of about four cells a point ([`PointGrid`]): a nearest
/// search looks at the few cells around the point (a town's cell holds a few practices), where
/// an R-tree walked its nodes and a heap (a million units' join took 1.5 to 2 times as long).
/// Points whose coordinates are not numbers are never found.
#[derive(Debug, Clone, Default)]
pub struct PointIndex {
    grid: PointGrid,
    len: usize,
}

impl PointIndex {
    /// Indexes the points (index `i` refers to `points[i]`).
    pub fn new(points: &[[f64; 2]]) -> Self {
        PointIndex {
            grid: PointGrid::with_density(
                points.iter().enumerate().map(|(i, p)| (*p, i as u32)),
                0.25,
            ),
            len: points.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k` nearest points as `(index, distance_m)`, nearest first (ties by index).
    pub fn nearest_k(&self, at: [f64; 2], k: usize) -> Vec<(usize, f64)> {
        self.nearest_k_with(at, k, |found| found.collect())
    }

    /// [`PointIndex::nearest_k`]'s answer handed to `f`, without a vector made for it.
    pub fn nearest_k_with<R>(
        &self,
        at: [f64; 2],
        k: usize,
        f: impl FnOnce(&mut dyn Iterator<Item = (usize, f64)>) -> R,
    ) -> R {
        self.grid
            .nearest_k_with(at, k, |s| f(&mut s.iter().map(|&(i, d)| (i as usize, d))))
    }

    /// The nearest point, if any.
    pub fn nearest(&self, at: [f64; 2]) -> Option<(usize, f64)> {
        self.nearest_k_with(at, 1, |found| found.next())
    }

    /// How many points are within `radius_m` (inclusive): [`PointIndex::within`]'s length,
    /// without listing or ordering them.
    pub fn count_within(&self, at: [f64; 2], radius_m: f64) -> usize {
        let mut n = 0;
        self.grid.each_within(at, radius_m, |_, _| n += 1);
        n
    }

    /// All points within `radius_m` (inclusive), nearest first.
    pub fn within(&self, at: [f64; 2], radius_m: f64) -> Vec<(usize, f64)> {
        let mut out: Vec<(usize, f64)> = vec![];
        self.grid
            .each_within(at, radius_m, |i, d| out.push((i as usize, d)));
        sort_hits(&mut out);
        out
    }
}

fn sort_hits(hits: &mut [(usize, f64)]) {
    hits.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
}

type RectEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Polygons indexed by their bounding boxes, for point-in-polygon and nearby-polygon queries.
#[derive(Debug, Clone, Default)]
pub struct PolygonIndex {
    tree: RTree<RectEntry>,
}

impl PolygonIndex {
    /// Bulk-loads the polygons' bounding boxes (index `i` refers to `polys[i]`).
    pub fn new(polys: &[MultiPolygon<f64>]) -> Self {
        let entries = polys
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let r = p.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i as u32,
                ))
            })
            .collect();
        PolygonIndex {
            tree: RTree::bulk_load(entries),
        }
    }

    /// Indexes of the polygons containing the point (boundary included), in index order.
    pub fn containing(&self, polys: &[MultiPolygon<f64>], at: [f64; 2]) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .tree
            .locate_all_at_point(&at)
            .map(|e| e.data as usize)
            .filter(|&i| covers(&polys[i], at))
            .collect();
        out.sort_unstable();
        out
    }

    /// The polygons whose bounding boxes meet the square of half-side `r` around `at`, with
    /// their boxes (`[min_x, min_y, max_x, max_y]`), in no particular order.
    pub fn boxes_near(&self, at: [f64; 2], r: f64) -> impl Iterator<Item = (usize, [f64; 4])> + '_ {
        use rstar::RTreeObject;
        let env = AABB::from_corners([at[0] - r, at[1] - r], [at[0] + r, at[1] + r]);
        self.tree.locate_in_envelope_intersecting(&env).map(|e| {
            let b = e.envelope();
            let (lo, hi) = (b.lower(), b.upper());
            (e.data as usize, [lo[0], lo[1], hi[0], hi[1]])
        })
    }

    /// Indexes of the polygons whose bounding boxes meet `[min_x, min_y, max_x, max_y]`, in no
    /// particular order.
    pub fn meeting(&self, bbox: [f64; 4]) -> Vec<usize> {
        let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .collect()
    }

    /// The bounding box of every polygon, `[min_x, min_y, max_x, max_y]` (`None` when empty).
    pub fn extent(&self) -> Option<[f64; 4]> {
        (self.tree.size() > 0).then(|| {
            let e = self.tree.root().envelope();
            let (lo, hi) = (e.lower(), e.upper());
            [lo[0], lo[1], hi[0], hi[1]]
        })
    }

    /// Indexes of the polygons whose bounding boxes meet the square of half-side `r` around `at`.
    pub fn candidates_near(&self, at: [f64; 2], r: f64) -> Vec<usize> {
        let env = AABB::from_corners([at[0] - r, at[1] - r], [at[0] + r, at[1] + r]);
        let mut out: Vec<usize> = self
            .tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| e.data as usize)
            .collect();
        out.sort_unstable();
        out
    }
}

/// A regular polygon with `n` vertices whose area equals that of the circle of `radius_m`,
/// counter-clockwise. Used as the convex clip window for "within walking reach".
pub fn circle(center: [f64; 2], radius_m: f64, n: usize) -> Vec<[f64; 2]> {
    let n = n.max(8);
    let step = std::f64::consts::TAU / n as f64;
    // Scale so that the polygon's area equals pi r^2 (an inscribed n-gon is smaller).
    let r = radius_m * (std::f64::consts::TAU / (n as f64 * step.sin())).sqrt();
    (0..n)
        .map(|i| {
            let a = i as f64 * step;
            [center[0] + r * a.cos(), center[1] + r * a.sin()]
        })
        .collect()
}

/// Area (m²) of the part of `poly` that lies inside the convex counter-clockwise polygon `clip`.
///
/// Sutherland–Hodgman clipping of each ring against a convex window: the clipped ring may have
/// degenerate edges along the window, but its signed area is exact, which is all this needs.
/// Holes are subtracted.
pub fn clipped_area(poly: &MultiPolygon<f64>, clip: &[[f64; 2]]) -> f64 {
    // A polygon whose every vertex is inside the convex window lies wholly inside it.
    if poly
        .0
        .iter()
        .flat_map(|p| p.exterior().0.iter())
        .all(|c| inside_convex(clip, [c.x, c.y]))
    {
        return poly.unsigned_area();
    }
    let mut total = 0.0;
    for p in &poly.0 {
        let ext: Vec<[f64; 2]> = ring(p.exterior());
        let mut a = signed_area(&clip_ring(&ext, clip)).abs();
        for hole in p.interiors() {
            a -= signed_area(&clip_ring(&ring(hole), clip)).abs();
        }
        total += a.max(0.0);
    }
    total
}

/// Area (m²) of the part of `poly` inside the disc of `radius_m` around `center`, exactly (the
/// true circle, not a polygon), holes subtracted. Each ring is the sum over its edges of the
/// signed area of the triangle (centre, edge) inside the disc: a triangle where the edge is
/// inside, a circular sector where it is outside. No allocation; time linear in the vertices.
///
/// ```
/// use geo::polygon;
/// use sitefinder::base::spatial::disc_area;
/// let sq: geo::MultiPolygon<f64> = polygon![(x: -10.0, y: -10.0), (x: 10.0, y: -10.0),
///     (x: 10.0, y: 10.0), (x: -10.0, y: 10.0)].into();
/// // A disc inside the square, the square inside a disc, and a quarter disc.
/// assert!((disc_area(&sq, [0.0, 0.0], 5.0) - std::f64::consts::PI * 25.0).abs() < 1e-9);
/// assert!((disc_area(&sq, [0.0, 0.0], 100.0) - 400.0).abs() < 1e-9);
/// assert!((disc_area(&sq, [10.0, 10.0], 4.0) - std::f64::consts::PI * 4.0).abs() < 1e-9);
/// ```
pub fn disc_area(poly: &MultiPolygon<f64>, center: [f64; 2], radius_m: f64) -> f64 {
    let mut total = 0.0;
    for p in &poly.0 {
        let mut a = ring_disc_area(&p.exterior().0, center, radius_m).abs();
        for hole in p.interiors() {
            a -= ring_disc_area(&hole.0, center, radius_m).abs();
        }
        total += a.max(0.0);
    }
    total
}

/// The signed area of a closed ring's interior inside the disc (positive counter-clockwise).
fn ring_disc_area(ring: &[geo::Coord<f64>], c: [f64; 2], r: f64) -> f64 {
    let n = ring.len();
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for k in 0..n {
        let a = ring[k];
        let b = ring[(k + 1) % n];
        if k + 1 == n && a == ring[0] {
            // Closed rings repeat their first point: the last edge is already counted.
            break;
        }
        s += triangle_disc_area([a.x - c[0], a.y - c[1]], [b.x - c[0], b.y - c[1]], r);
    }
    s
}

/// Signed area of the triangle (origin, a, b) inside the disc of radius `r` at the origin.
fn triangle_disc_area(a: [f64; 2], b: [f64; 2], r: f64) -> f64 {
    let r2 = r * r;
    let cross = |u: [f64; 2], v: [f64; 2]| u[0] * v[1] - u[1] * v[0];
    let dot = |u: [f64; 2], v: [f64; 2]| u[0] * v[0] + u[1] * v[1];
    let sector = |u: [f64; 2], v: [f64; 2]| 0.5 * r2 * cross(u, v).atan2(dot(u, v));
    let (aa, bb) = (dot(a, a), dot(b, b));
    if aa <= r2 && bb <= r2 {
        return 0.5 * cross(a, b);
    }
    // Where the segment a + t (b - a) meets the circle: t^2 |d|^2 + 2 t (a.d) + |a|^2 - r^2 = 0.
    let d = [b[0] - a[0], b[1] - a[1]];
    let dd = dot(d, d);
    if dd == 0.0 {
        return 0.0;
    }
    let ad = dot(a, d);
    let disc = ad * ad - dd * (aa - r2);
    if disc <= 0.0 {
        // The line misses the circle (or touches it): all outside.
        return sector(a, b);
    }
    let root = disc.sqrt();
    let t0 = ((-ad - root) / dd).clamp(0.0, 1.0);
    let t1 = ((-ad + root) / dd).clamp(0.0, 1.0);
    let at = |t: f64| [a[0] + t * d[0], a[1] + t * d[1]];
    let (p0, p1) = (at(t0), at(t1));
    // Outside from a to p0, inside from p0 to p1, outside from p1 to b (any part may be empty).
    sector(a, p0) + 0.5 * cross(p0, p1) + sector(p1, b)
}

fn inside_convex(clip: &[[f64; 2]], p: [f64; 2]) -> bool {
    (0..clip.len()).all(|i| {
        let a = clip[i];
        let b = clip[(i + 1) % clip.len()];
        (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0
    })
}

fn ring(ls: &geo::LineString<f64>) -> Vec<[f64; 2]> {
    let mut v: Vec<[f64; 2]> = ls.0.iter().map(|c| [c.x, c.y]).collect();
    if v.len() > 1 && v.first() == v.last() {
        v.pop();
    }
    v
}

fn signed_area(r: &[[f64; 2]]) -> f64 {
    if r.len() < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..r.len() {
        let a = r[i];
        let b = r[(i + 1) % r.len()];
        s += a[0] * b[1] - b[0] * a[1];
    }
    s / 2.0
}

fn clip_ring(subject: &[[f64; 2]], clip: &[[f64; 2]]) -> Vec<[f64; 2]> {
    // Clip by the window's bounding box first: four cheap passes drop most of a large
    // polygon's vertices before the many passes of the window itself.
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for c in clip {
        for k in 0..2 {
            lo[k] = lo[k].min(c[k]);
            hi[k] = hi[k].max(c[k]);
        }
    }
    let bbox = [
        [lo[0], lo[1]],
        [hi[0], lo[1]],
        [hi[0], hi[1]],
        [lo[0], hi[1]],
    ];
    let boxed = if clip.len() > 4 {
        sutherland_hodgman(subject, &bbox)
    } else {
        subject.to_vec()
    };
    sutherland_hodgman(&boxed, clip)
}

fn sutherland_hodgman(subject: &[[f64; 2]], clip: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut out = subject.to_vec();
    for i in 0..clip.len() {
        if out.is_empty() {
            break;
        }
        let a = clip[i];
        let b = clip[(i + 1) % clip.len()];
        let inside =
            |p: [f64; 2]| (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0;
        let input = std::mem::take(&mut out);
        for j in 0..input.len() {
            let cur = input[j];
            let prev = input[(j + input.len() - 1) % input.len()];
            let (ci, pi) = (inside(cur), inside(prev));
            if ci {
                if !pi {
                    out.push(intersect(prev, cur, a, b));
                }
                out.push(cur);
            } else if pi {
                out.push(intersect(prev, cur, a, b));
            }
        }
    }
    out
}

fn intersect(p: [f64; 2], q: [f64; 2], a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
    let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
    let denom = dx * ey - dy * ex;
    if denom.abs() < f64::EPSILON {
        return q;
    }
    let t = ((a[0] - p[0]) * ey - (a[1] - p[1]) * ex) / denom;
    [p[0] + t * dx, p[1] + t * dy]
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;
    use proptest::prelude::*;

    proptest! {
        /// `covers` answers as `geo`'s `intersects` does, for points inside, outside, in a
        /// hole, and on vertices and edges (integer coordinates land on them often).
        #[test]
        fn covers_is_intersects(
            parts in proptest::collection::vec((0i32..20, 0i32..20, 2i32..12, 1i32..4), 1..4),
            pts in proptest::collection::vec((-2i32..36, -2i32..36), 1..40),
        ) {
            let mp = MultiPolygon(
                parts
                    .iter()
                    .map(|&(x, y, w, h)| {
                        let (x, y, w, h) = (x as f64, y as f64, w as f64, 2.0 * h as f64);
                        let outer = geo::LineString::from(vec![
                            (x, y), (x + w, y), (x + w, y + h), (x + w / 2.0, y + h + 3.0), (x, y + h), (x, y),
                        ]);
                        let hole = geo::LineString::from(vec![
                            (x + 1.0, y + 1.0), (x + 1.0, y + h - 1.0), (x + w - 1.0, y + 1.0), (x + 1.0, y + 1.0),
                        ]);
                        geo::Polygon::new(outer, if w > 3.0 && h > 3.0 { vec![hole] } else { vec![] })
                    })
                    .collect(),
            );
            for (x, y) in pts {
                let p = [x as f64 / 2.0, y as f64 / 2.0];
                prop_assert_eq!(covers(&mp, p), mp.intersects(&geo::Point::new(p[0], p[1])), "{:?}", p);
            }
        }
    }

    #[test]
    fn circle_has_the_area_of_the_circle() {
        let c = circle([0.0, 0.0], 800.0, 64);
        let a = signed_area(&c);
        assert!(
            (a - std::f64::consts::PI * 800.0 * 800.0).abs() < 1.0,
            "{a}"
        );
    }

    #[test]
    fn clipped_area_of_square_in_square_and_concave_shape() {
        let sq: MultiPolygon<f64> =
            polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0)]
                .into();
        let win = vec![[5.0, -5.0], [20.0, -5.0], [20.0, 20.0], [5.0, 20.0]];
        assert!((clipped_area(&sq, &win) - 50.0).abs() < 1e-9);
        // A U shape: the window covers the middle of the U, where there is no polygon.
        let u: MultiPolygon<f64> = polygon![
            (x: 0.0, y: 0.0), (x: 30.0, y: 0.0), (x: 30.0, y: 30.0), (x: 20.0, y: 30.0),
            (x: 20.0, y: 10.0), (x: 10.0, y: 10.0), (x: 10.0, y: 30.0), (x: 0.0, y: 30.0)
        ]
        .into();
        let win = vec![[5.0, 5.0], [25.0, 5.0], [25.0, 25.0], [5.0, 25.0]];
        // Inside the window: the base strip 20x5 plus two arms 5x15 each.
        assert!((clipped_area(&u, &win) - (100.0 + 75.0 + 75.0)).abs() < 1e-9);
        // A window covering everything returns the whole area.
        let big = vec![[-1.0, -1.0], [31.0, -1.0], [31.0, 31.0], [-1.0, 31.0]];
        assert!((clipped_area(&u, &big) - u.unsigned_area()).abs() < 1e-9);
    }

    #[test]
    fn disc_area_agrees_with_clipping_by_a_fine_polygon() {
        // A concave shape with a hole, against discs all over it: the exact disc and a
        // 4,096-gon of the same area agree to a part in a million.
        let shape: MultiPolygon<f64> = geo::Polygon::new(
            geo::LineString::from(vec![
                (0.0, 0.0),
                (300.0, 0.0),
                (300.0, 300.0),
                (200.0, 300.0),
                (200.0, 100.0),
                (100.0, 100.0),
                (100.0, 300.0),
                (0.0, 300.0),
                (0.0, 0.0),
            ]),
            vec![geo::LineString::from(vec![
                (20.0, 20.0),
                (60.0, 20.0),
                (60.0, 60.0),
                (20.0, 60.0),
                (20.0, 20.0),
            ])],
        )
        .into();
        for (cx, cy, r) in [
            (150.0, 150.0, 80.0),
            (40.0, 40.0, 30.0),
            (0.0, 0.0, 500.0),
            (250.0, 250.0, 120.0),
            (-50.0, 150.0, 60.0),
            (150.0, 50.0, 10.0),
        ] {
            let exact = disc_area(&shape, [cx, cy], r);
            let fine = clipped_area(&shape, &circle([cx, cy], r, 4_096));
            assert!(
                (exact - fine).abs() <= 1e-6 * fine.max(1.0),
                "({cx}, {cy}, {r}): {exact} vs {fine}"
            );
        }
        // Either winding gives the same area.
        let mut reversed = shape.clone();
        for p in &mut reversed.0 {
            p.exterior_mut(|e| e.0.reverse());
        }
        assert!(
            (disc_area(&reversed, [150.0, 150.0], 80.0) - disc_area(&shape, [150.0, 150.0], 80.0))
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn point_index_matches_brute_force() {
        let pts: Vec<[f64; 2]> = (0..500)
            .map(|i| {
                let f = i as f64;
                [(f * 37.0) % 1000.0, (f * 91.0) % 777.0]
            })
            .collect();
        let idx = PointIndex::new(&pts);
        for q in [[10.0, 10.0], [500.0, 400.0], [999.0, 0.0]] {
            let mut brute: Vec<(usize, f64)> = pts
                .iter()
                .enumerate()
                .map(|(i, p)| (i, ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()))
                .collect();
            sort_hits(&mut brute);
            assert_eq!(idx.nearest_k(q, 7), brute[..7].to_vec());
            let within: Vec<_> = brute.iter().copied().filter(|h| h.1 <= 120.0).collect();
            assert_eq!(idx.within(q, 120.0), within);
        }
    }
}
