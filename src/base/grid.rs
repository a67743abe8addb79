//! A fixed set of points bucketed on a uniform grid, for "which points are in this box", "which
//! are within this distance" and "which are the k nearest": built in two linear passes (a
//! counting sort by cell), where an R-tree's bulk load sorts and splits again and again. A
//! million units are indexed in tens of milliseconds, so a server starts without building
//! R-trees over them.
//!
//! ```
//! use sitefinder::base::grid::PointGrid;
//! let g = PointGrid::new([([0.0, 0.0], 7), ([100.0, 0.0], 3), ([50.0, 50.0], 9)]);
//! let mut hits = g.in_box([0.0, 0.0], [60.0, 50.0]);
//! hits.sort_unstable();
//! // Edges included.
//! assert_eq!(hits, vec![7, 9]);
//! assert!(g.in_box([101.0, 0.0], [200.0, 10.0]).is_empty());
//! ```

/// Points with their numbers, grouped by the cell of a uniform grid over their extent (rows
/// of cells one after another, so a box's cells in one row are one run of points).
#[derive(Debug, Clone, Default)]
pub struct PointGrid {
    /// The lowest x and y of any point.
    origin: [f64; 2],
    /// The highest.
    top: [f64; 2],
    /// A cell's side in the points' units.
    side: f64,
    /// Cells across and down (at least one each once there is a point).
    cols: usize,
    rows: usize,
    /// Where each cell's points start in `points`; one more entry than cells.
    starts: Vec<u32>,
    /// Every point and its number, by cell; within a cell in the order given.
    points: Vec<([f64; 2], u32)>,
}

/// Points per cell the grid aims at on average.
const PER_CELL: f64 = 4.0;
/// The most cells a grid aims at (4 bytes each), whatever the points; it has at most twice as
/// many.
const MAX_CELLS: f64 = 4_000_000.0;

impl PointGrid {
    /// Indexes the points given with their numbers; points whose coordinates are not finite
    /// are left out (no box holds them).
    pub fn new(points: impl IntoIterator<Item = ([f64; 2], u32)>) -> PointGrid {
        PointGrid::with_density(points, PER_CELL)
    }

    /// [`PointGrid::new`] with `per_cell` points a cell on average (a fraction for finer
    /// cells: nearest searches over clustered points, where a town's cell should hold a few).
    pub fn with_density(
        points: impl IntoIterator<Item = ([f64; 2], u32)>,
        per_cell: f64,
    ) -> PointGrid {
        let given = points.into_iter();
        let mut points: Vec<([f64; 2], u32)> = Vec::with_capacity(given.size_hint().1.unwrap_or(0));
        points.extend(given.filter(|(p, _)| p[0].is_finite() && p[1].is_finite()));
        let Some(first) = points.first() else {
            return PointGrid::default();
        };
        let (mut lo, mut hi) = (first.0, first.0);
        for (p, _) in &points {
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        // The extent (infinite if it is wider than a double can hold).
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        let cells = (points.len() as f64 / per_cell).clamp(1.0, MAX_CELLS);
        // Square cells covering the extent in about `cells` cells (square roots apart, so
        // tiny or huge extents neither underflow nor overflow); a line of points (no width or
        // no height) is cut along its length.
        let mut side = match (w > 0.0, h > 0.0) {
            (true, true) => w.sqrt() * (h.sqrt() / cells.sqrt()),
            (true, false) => w / cells,
            (false, true) => h / cells,
            (false, false) => 1.0,
        };
        if !(side.is_finite() && side > 0.0) {
            side = f64::MAX;
        }
        // Cells across a distance: saturating, and one for a distance that is not a number
        // (an infinite extent over infinite cells).
        let count = |d: f64, side: f64| ((d / side).floor() as usize).saturating_add(1);
        // Never more than twice the cells aimed at (the edges' part cells, a thin extent's
        // rounding): larger cells until they fit.
        let most = 2.0 * cells + 64.0;
        let (cols, rows) = loop {
            let (c, r) = (count(w, side), count(h, side));
            if c.checked_mul(r).is_some_and(|n| n as f64 <= most) {
                break (c, r);
            }
            side *= 2.0;
        };
        let mut g = PointGrid {
            origin: lo,
            top: hi,
            side,
            cols,
            rows,
            starts: vec![],
            points: vec![],
        };
        // Counting sort by cell: counts, their running sums, then each point to its place.
        let mut starts = vec![0u32; cols * rows + 1];
        let cell_of: Vec<u32> = points
            .iter()
            .map(|(p, _)| {
                let c = g.cell(*p);
                starts[c + 1] += 1;
                c as u32
            })
            .collect();
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut sorted = vec![([0.0; 2], 0u32); points.len()];
        for (pt, &c) in points.iter().zip(&cell_of) {
            let at = &mut next[c as usize];
            sorted[*at as usize] = *pt;
            *at += 1;
        }
        g.starts = starts;
        g.points = sorted;
        g
    }

    /// The box of every point, `[minx, miny, maxx, maxy]`; `None` without points.
    pub fn bounds(&self) -> Option<[f64; 4]> {
        (!self.points.is_empty()).then_some([
            self.origin[0],
            self.origin[1],
            self.top[0],
            self.top[1],
        ])
    }

    /// How many points it holds.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The column or row of a coordinate along one axis, clamped to the grid (the same
    /// rounding for points and boxes, so a point on a box's edge falls in the box's cells).
    fn along(&self, v: f64, axis: usize, n: usize) -> usize {
        let k = ((v - self.origin[axis]) / self.side).floor();
        if k <= 0.0 {
            0
        } else {
            (k as usize).min(n - 1)
        }
    }

    fn cell(&self, p: [f64; 2]) -> usize {
        self.along(p[1], 1, self.rows) * self.cols + self.along(p[0], 0, self.cols)
    }

    /// The numbers of the points inside the box from `lo` to `hi`, edges included, in no
    /// particular order. A box whose `lo` passes its `hi`, or with a coordinate that is not a
    /// number, holds nothing.
    pub fn in_box(&self, lo: [f64; 2], hi: [f64; 2]) -> Vec<u32> {
        let mut out = vec![];
        self.each_in_box(lo, hi, |n| out.push(n));
        out
    }

    /// [`PointGrid::in_box`], each number given to `f`.
    pub fn each_in_box(&self, lo: [f64; 2], hi: [f64; 2], mut f: impl FnMut(u32)) {
        self.each_slot_in_box(lo, hi, |slot| f(self.points[slot].1));
    }

    /// The points within `radius` of `at` (inclusive: squared distance at most `radius`
    /// squared) as `(number, distance)`, in no particular order.
    pub fn each_within(&self, at: [f64; 2], radius: f64, mut f: impl FnMut(u32, f64)) {
        let r2 = radius * radius;
        // A box a little larger than the circle: its corners, rounded, still hold every point
        // on the circle.
        let h = radius + slack(at, radius);
        let (lo, hi) = ([at[0] - h, at[1] - h], [at[0] + h, at[1] + h]);
        self.each_slot_in_box(lo, hi, |slot| {
            let (p, n) = self.points[slot];
            let d2 = distance_2(p, at);
            if d2 <= r2 {
                f(n, d2.sqrt());
            }
        });
    }

    /// The `k` nearest points as `(number, distance)`, nearest first, ties by number: every
    /// point within a square around `at`, the square doubled until the `k`th nearest in it is
    /// nearer than its edge (so no point outside is as near), or it holds every point.
    pub fn nearest_k(&self, at: [f64; 2], k: usize) -> Vec<(u32, f64)> {
        self.nearest_k_with(at, k, <[(u32, f64)]>::to_vec)
    }

    /// [`PointGrid::nearest_k`]'s answer handed to `f` as a slice, without a vector made
    /// for it (a join asks a million times).
    pub fn nearest_k_with<R>(
        &self,
        at: [f64; 2],
        k: usize,
        f: impl FnOnce(&[(u32, f64)]) -> R,
    ) -> R {
        if k == 0 || self.points.is_empty() || !(at[0].is_finite() && at[1].is_finite()) {
            return f(&[]);
        }
        // The candidates go into this thread's buffer, used again; `f` is given the `k`
        // alone.
        thread_local! {
            static SEEN: std::cell::RefCell<Vec<(u32, f64)>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            self.nearest_into(at, k, &mut seen);
            let found = f(&seen[..k.min(seen.len())]);
            // A search that saw most of a large set leaves no large buffer behind it.
            if seen.capacity() > KEPT_SEEN {
                seen.clear();
                seen.shrink_to(KEPT_SEEN);
            }
            found
        })
    }

    /// [`PointGrid::nearest_k`]'s search: `out` ends with the points of the last square
    /// searched, its first `k` the answer, nearest first.
    fn nearest_into(&self, at: [f64; 2], k: usize, out: &mut Vec<(u32, f64)>) {
        let order = |a: &(u32, f64), b: &(u32, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
        // Half the square's side: from half a cell (or, from a point outside the extent, from
        // its distance to the extent along x or y, which no smaller square reaches), doubled;
        // the whole extent seen once it reaches past every point.
        let reach = (at[0] - self.origin[0])
            .abs()
            .max((self.top[0] - at[0]).abs())
            .max((at[1] - self.origin[1]).abs())
            .max((self.top[1] - at[1]).abs());
        let gap = (self.origin[0] - at[0])
            .max(at[0] - self.top[0])
            .max(self.origin[1] - at[1])
            .max(at[1] - self.top[1]);
        let mut half = (self.side / 2.0).max(gap).min(reach).max(f64::MIN_POSITIVE);
        loop {
            out.clear();
            // Once the square reaches past every point, the whole extent (the square's
            // corners, rounded, might fall short of it).
            let all = half >= reach;
            let (lo, hi) = if all {
                (self.origin, self.top)
            } else {
                ([at[0] - half, at[1] - half], [at[0] + half, at[1] + half])
            };
            self.each_slot_in_box(lo, hi, |slot| {
                let (p, n) = self.points[slot];
                out.push((n, distance_2(p, at).sqrt()));
            });
            if out.len() >= k {
                // The `k` nearest first, in order; the rest are not needed in order.
                if out.len() > k {
                    out.select_nth_unstable_by(k - 1, order);
                }
                out[..k].sort_unstable_by(order);
                // A point outside the square is farther than `half` (less the rounding of
                // the square's corners and of distances), so not as near as the kth; unless
                // the square is so small that squared distances lose their digits (under
                // about 1e-154), where the search goes on to the whole extent.
                let edge = half - slack(at, half);
                if all || (out[k - 1].1 < edge && edge * edge >= f64::MIN_POSITIVE) {
                    return;
                }
            } else if all {
                out.sort_unstable_by(order);
                return;
            }
            half *= 2.0;
        }
    }

    /// The points' numbers in the grid's order: the `k`th is the point in slot `k`.
    pub fn numbers(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.points.iter().map(|(_, n)| *n)
    }

    /// [`PointGrid::in_box`] as the slots of the points (their places in
    /// [`PointGrid::numbers`]), in increasing order: values kept in the grid's order are read
    /// a run at a time.
    pub fn each_slot_in_box(&self, lo: [f64; 2], hi: [f64; 2], mut f: impl FnMut(usize)) {
        if self.points.is_empty() || !(lo[0] <= hi[0] && lo[1] <= hi[1]) {
            return;
        }
        let (x0, x1) = (
            self.along(lo[0], 0, self.cols),
            self.along(hi[0], 0, self.cols),
        );
        let (y0, y1) = (
            self.along(lo[1], 1, self.rows),
            self.along(hi[1], 1, self.rows),
        );
        for row in y0..=y1 {
            let from = self.starts[row * self.cols + x0] as usize;
            let to = self.starts[row * self.cols + x1 + 1] as usize;
            for (slot, (p, _)) in self.points[from..to].iter().enumerate() {
                if lo[0] <= p[0] && p[0] <= hi[0] && lo[1] <= p[1] && p[1] <= hi[1] {
                    f(from + slot);
                }
            }
        }
    }
}

/// The most candidates a thread's nearest search keeps room for between searches.
const KEPT_SEEN: usize = 1 << 16;

/// More than the rounding of `at` plus or minus `d`, and of a distance of about `d`.
fn slack(at: [f64; 2], d: f64) -> f64 {
    (at[0].abs() + at[1].abs() + d.abs()) * 1e-12
}

/// The squared distance between two points, as the nearest searches compare them.
fn distance_2(p: [f64; 2], q: [f64; 2]) -> f64 {
    let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
    dx * dx + dy * dy
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(pts: &[[f64; 2]], lo: [f64; 2], hi: [f64; 2]) -> Vec<u32> {
        (0..pts.len() as u32)
            .filter(|&i| {
                let p = pts[i as usize];
                lo[0] <= p[0] && p[0] <= hi[0] && lo[1] <= p[1] && p[1] <= hi[1]
            })
            .collect()
    }

    fn grid(pts: &[[f64; 2]]) -> PointGrid {
        PointGrid::new(pts.iter().enumerate().map(|(i, p)| (*p, i as u32)))
    }

    /// The proptests' points from integers: a third in a tight cluster (as units in a town
    /// centre), scaled, and all on a line across or down when `line` says so.
    fn test_points(pts: &[(i32, i32, u8)], scale: f64, line: u8) -> Vec<[f64; 2]> {
        pts.iter()
            .map(|&(x, y, c)| {
                let (x, y) = if c == 0 {
                    (x as f64 / 97.0, y as f64 / 89.0)
                } else {
                    (x as f64, y as f64)
                };
                match line {
                    1 => [x * scale, 3.0],
                    2 => [-1.0, y * scale],
                    _ => [x * scale, y * scale],
                }
            })
            .collect()
    }

    /// The `k` nearest by measuring every point (distance, then number), and those within
    /// `r`: what an R-tree's searches gave.
    fn brute_nearest(pts: &[[f64; 2]], at: [f64; 2], k: usize) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = pts
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u32, distance_2(*p, at).sqrt()))
            .collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn nearest_far_away_and_at_tiny_scales() {
        // Squared distances below about 1e-308 are 0: the point outside the first square
        // measures as near as the one inside, and ties go to the smaller number.
        let g = PointGrid::with_density([([1e-170, 0.0], 0), ([0.0, 0.0], 1)], 0.25);
        assert_eq!(g.nearest_k([0.0, 0.0], 1), vec![(0, 0.0)]);
        // From far outside the extent, the k nearest of many, in order.
        let pts: Vec<[f64; 2]> = (0..1000)
            .map(|i| [(i % 40) as f64, (i / 40) as f64])
            .collect();
        let g = grid(&pts);
        let at = [1e9, 12.0];
        assert_eq!(g.nearest_k(at, 5), brute_nearest(&pts, at, 5));
        assert_eq!(g.nearest_k(at, 2000).len(), 1000);
        assert_eq!(g.nearest_k(at, 2000), brute_nearest(&pts, at, 2000));
    }

    proptest! {
        /// Nearest searches and searches within a radius are those of measuring every point,
        /// bit for bit (distances and the order of ties), at points near and far from the
        /// points, over clustered points with repeats, lines and single points, for grids of
        /// several densities.
        #[test]
        fn nearest_and_within_are_those_of_every_point(
            pts in proptest::collection::vec((-50i32..50, -50i32..50, 0u8..3), 1..300),
            ats in proptest::collection::vec((-400i32..400, -400i32..400), 1..20),
            k in 0usize..7,
            r in 0u32..90,
            scale in prop_oneof![Just(1.0), Just(0.001), Just(1000.0), Just(7.3)],
            line in 0u8..3,
            per_cell in prop_oneof![Just(0.25), Just(4.0), Just(50.0)],
        ) {
            let pts = test_points(&pts, scale, line);
            let g = PointGrid::with_density(pts.iter().enumerate().map(|(i, p)| (*p, i as u32)), per_cell);
            for &(x, y) in &ats {
                // Some searches from a point itself (distance 0, ties among repeats).
                let at = if x % 3 == 0 { pts[(y.unsigned_abs() as usize) % pts.len()] } else { [x as f64 / 4.0 * scale, y as f64 / 4.0 * scale] };
                let got = g.nearest_k(at, k);
                let want = brute_nearest(&pts, at, k);
                prop_assert_eq!(got.len(), want.len());
                for (a, b) in got.iter().zip(&want) {
                    prop_assert!(a.0 == b.0 && a.1.to_bits() == b.1.to_bits(), "{:?} against {:?} at {:?}", got, want, at);
                }
                let radius = r as f64 / 3.0 * scale;
                let mut within = vec![];
                g.each_within(at, radius, |n, d| within.push((n, d.to_bits())));
                within.sort_unstable();
                let mut every: Vec<(u32, u64)> = pts
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| distance_2(**p, at) <= radius * radius)
                    .map(|(i, p)| (i as u32, distance_2(*p, at).sqrt().to_bits()))
                    .collect();
                every.sort_unstable();
                prop_assert_eq!(within, every);
            }
        }

        /// The same points as testing every one, for boxes anywhere (inside, across, outside
        /// the extent, on points' coordinates exactly, reversed), over clustered points with
        /// repeats, lines and single points.
        #[test]
        fn same_as_every_point(
            pts in proptest::collection::vec((-50i32..50, -50i32..50, 0u8..3), 0..300),
            boxes in proptest::collection::vec((-60i32..60, -60i32..60, -5i32..70, -5i32..70), 1..20),
            scale in prop_oneof![Just(1.0), Just(0.001), Just(1000.0), Just(7.3)],
            line in 0u8..3,
        ) {
            let pts = test_points(&pts, scale, line);
            let g = grid(&pts);
            prop_assert_eq!(g.len(), pts.len());
            for &(x, y, w, h) in &boxes {
                let lo = [x as f64 * scale, y as f64 * scale];
                let hi = [(x + w) as f64 * scale, (y + h) as f64 * scale];
                let mut got = g.in_box(lo, hi);
                // The slots name the same points, in increasing order.
                let numbers: Vec<u32> = g.numbers().collect();
                let mut slots = vec![];
                g.each_slot_in_box(lo, hi, |s| slots.push(s));
                prop_assert!(slots.windows(2).all(|w| w[0] < w[1]));
                prop_assert_eq!(slots.iter().map(|&s| numbers[s]).collect::<Vec<_>>(), got.clone());
                got.sort_unstable();
                prop_assert_eq!(got, brute(&pts, lo, hi));
                // A box exactly on one point holds it (and its repeats).
                if let Some(p) = pts.get((x.unsigned_abs() as usize) % pts.len().max(1)) {
                    let mut got = g.in_box(*p, *p);
                    got.sort_unstable();
                    prop_assert_eq!(got, brute(&pts, *p, *p));
                }
            }
        }
    }

    /// Extents too small or too large for a double's arithmetic: bounded grids, the same
    /// answers.
    #[test]
    fn tiny_and_huge_extents() {
        for pts in [
            vec![[0.0, 0.0], [1e-170, 1e-170], [5e-171, 2e-171]],
            vec![
                [0.0, 0.0],
                [f64::MIN_POSITIVE, 0.0],
                [0.0, f64::MIN_POSITIVE],
            ],
            vec![[-1e308, -1e308], [1e308, 1e308], [0.0, 1.0]],
            vec![
                [f64::MAX, f64::MIN],
                [f64::MIN, f64::MAX],
                [3.0, 3.0],
                [3.0, 3.0],
            ],
            vec![[1e-300, 5.0], [2e-300, 5.0], [1.0, 5.0]],
        ] {
            let g = grid(&pts);
            assert!(g.starts.len() <= 67, "{pts:?}: {} cells", g.starts.len());
            for (lo, hi) in [
                ([0.0, 0.0], [1e-170, 1e-170]),
                ([-1e308, -1e308], [1e308, 1e308]),
                ([f64::NEG_INFINITY; 2], [f64::INFINITY; 2]),
                ([3.0, 3.0], [3.0, 3.0]),
                ([1e-300, 0.0], [1.5e-300, 10.0]),
            ] {
                let mut got = g.in_box(lo, hi);
                got.sort_unstable();
                assert_eq!(got, brute(&pts, lo, hi), "{pts:?} in {lo:?}..{hi:?}");
            }
        }
    }

    #[test]
    fn edges_and_odd_boxes() {
        let pts = [[0.0, 0.0], [10.0, 10.0], [10.0, 0.0], [f64::NAN, 1.0]];
        let g = grid(&pts);
        // The point that is not a number is not indexed.
        assert_eq!(g.len(), 3);
        assert_eq!(g.bounds(), Some([0.0, 0.0, 10.0, 10.0]));
        assert_eq!(PointGrid::new([]).bounds(), None);
        let all = |lo, hi| {
            let mut v = g.in_box(lo, hi);
            v.sort_unstable();
            v
        };
        assert_eq!(all([0.0, 0.0], [10.0, 10.0]), vec![0, 1, 2]);
        assert_eq!(all([10.0, 0.0], [10.0, 0.0]), vec![2]);
        assert_eq!(all([-1e300, -1e300], [1e300, 1e300]), vec![0, 1, 2]);
        assert_eq!(
            all([f64::NEG_INFINITY, 0.0], [f64::INFINITY, 0.0]),
            vec![0, 2]
        );
        // Reversed, or not a number: nothing.
        assert!(all([10.0, 0.0], [0.0, 10.0]).is_empty());
        assert!(all([f64::NAN, 0.0], [10.0, 10.0]).is_empty());
        assert!(all([10.000001, 0.0], [11.0, 10.0]).is_empty());
        assert!(PointGrid::new([]).in_box([0.0; 2], [1.0; 2]).is_empty());
    }

    /// 200,000 points in England's extent: the grid is bounded and each box's points are
    /// every point's.
    #[test]
    fn many_points_bounded() {
        let mut s = 12345u64;
        let mut r = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let pts: Vec<[f64; 2]> = (0..200_000)
            .map(|_| {
                [
                    130_000.0 + 530_000.0 * r(),
                    10_000.0 + 650_000.0 * r().powi(3),
                ]
            })
            .collect();
        let g = grid(&pts);
        assert!(g.starts.len() <= 2 * 200_000 / 4 + 65);
        for b in [
            [380_000.0, 390_000.0, 395_000.0, 400_000.0],
            [130_000.0, 10_000.0, 131_000.0, 11_000.0],
            [0.0, 0.0, 700_000.0, 700_000.0],
        ] {
            let mut got = g.in_box([b[0], b[1]], [b[2], b[3]]);
            got.sort_unstable();
            assert_eq!(got, brute(&pts, [b[0], b[1]], [b[2], b[3]]));
        }
    }
}
