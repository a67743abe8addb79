//! A uniform grid over polygons that answers point-in-polygon questions with few polygon
//! tests: a cell that no polygon edge touches lies wholly inside the same polygons everywhere,
//! so the answer for any point in it is the answer at its centre, found once when the grid is
//! built. A cell that an edge touches keeps the few polygons that can hold a point of it (those
//! whose edges touch it, and any that holds it whole), in the order of preference, so a point
//! there is tested against those alone, the first that holds it being the answer.
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use sitefinder::base::cells::{Cell, PolygonCells};
//! // Two squares side by side, 1 km each.
//! let polys: Vec<MultiPolygon<f64>> = vec![
//!     polygon![(x: 0.0, y: 0.0), (x: 1000.0, y: 0.0), (x: 1000.0, y: 1000.0), (x: 0.0, y: 1000.0)].into(),
//!     polygon![(x: 1000.0, y: 0.0), (x: 2000.0, y: 0.0), (x: 2000.0, y: 1000.0), (x: 1000.0, y: 1000.0)].into(),
//! ];
//! // On 100 m cells, lower indexes preferred where polygons meet.
//! let cells = PolygonCells::new(&polys, 100.0, |i| i);
//! // A point in the middle of either square is decided by its cell alone.
//! assert_eq!(cells.at([500.0, 500.0]), Cell::Inside(0));
//! assert_eq!(cells.at([1500.0, 420.0]), Cell::Inside(1));
//! // The shared edge at x = 1000 m: the cells it touches keep both squares, to be tested.
//! assert_eq!(cells.at([1000.0, 500.0]), Cell::Edge(&[0, 1]));
//! assert_eq!(cells.holding(&polys, [1000.0, 500.0]), Some(Some(0)));
//! assert_eq!(cells.holding(&polys, [1030.0, 500.0]), Some(Some(1)));
//! assert_eq!(cells.at([-5000.0, 500.0]), Cell::Outside);
//! assert_eq!(cells.holding(&polys, [-5000.0, 500.0]), Some(None));
//! ```

use geo::{BoundingRect, CoordsIter, MultiPolygon};

use crate::base::spatial::covers;

/// What a cell says about the points in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Every point of the cell gets this answer (a polygon's index).
    Inside(usize),
    /// No polygon holds any point of the cell.
    Outside,
    /// A polygon edge touches the cell: only these polygons can hold a point of it, in order
    /// of preference (test them in turn; the first that holds the point is the answer).
    Edge(&'a [u32]),
    /// No grid could be made: test every polygon.
    Untested,
}

/// Cell values: a polygon's index, [`NONE`], or [`EDGE`] plus the cell's place in
/// `PolygonCells::starts`.
const EDGE: u32 = 1 << 31;
const NONE: u32 = EDGE - 1;

/// The grid (see the module documentation).
#[derive(Debug, Clone)]
pub struct PolygonCells {
    origin: [f64; 2],
    cell_m: f64,
    nx: usize,
    ny: usize,
    cells: Vec<u32>,
    /// Where each edge cell's polygons start in `polygons` (one more than the edge cells).
    starts: Vec<u32>,
    /// The polygons that can hold a point of each edge cell, cell after cell, each cell's in
    /// order of preference.
    polygons: Vec<u32>,
    /// Each polygon's box, `[min_x, min_y, max_x, max_y]` (a point outside it is not tested).
    boxes: Vec<[f64; 4]>,
    /// The answer outside the grid: [`Cell::Outside`], or [`Cell::Untested`] when no grid
    /// could be made.
    beyond: Cell<'static>,
}

/// The most cells a grid has (4 bytes each, 200 MB, with 4 more for each polygon kept by an
/// edge cell): a grid that would need finer cells than this allows is not made (every point is
/// tested).
pub const MAX_CELLS: usize = 50_000_000;

impl PolygonCells {
    /// Grids the polygons' extent in cells of `cell_m` metres. Where polygons overlap (or
    /// share a boundary, which counts as inside both), the one with the least `preference` is
    /// the answer. Each polygon is tested at the centre of one cell of each connected run of
    /// cells no edge touches that its box meets, and at the centres of the cells its box meets
    /// that other polygons' edges touch (whether it holds them whole).
    pub fn new<K: Ord>(
        polys: &[MultiPolygon<f64>],
        cell_m: f64,
        preference: impl Fn(usize) -> K,
    ) -> PolygonCells {
        let extent = polys
            .iter()
            .filter_map(BoundingRect::bounding_rect)
            .reduce(|a, b| {
                geo::Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            });
        let untested = |beyond| PolygonCells {
            origin: [0.0, 0.0],
            cell_m: 1.0,
            nx: 0,
            ny: 0,
            cells: vec![],
            starts: vec![],
            polygons: vec![],
            boxes: vec![],
            beyond,
        };
        let Some(extent) = extent else {
            return untested(Cell::Outside);
        };
        // A vertex that is not a number would leave its edges unmarked.
        let finite = polys
            .iter()
            .all(|m| m.coords_iter().all(|c| c.x.is_finite() && c.y.is_finite()));
        if !finite {
            return untested(Cell::Untested);
        }
        // One cell of margin each side, so the cells around the extent are outside.
        let size = |span: f64| (span / cell_m).ceil() + 3.0;
        let (fx, fy) = (size(extent.width()), size(extent.height()));
        if !(cell_m > 0.0 && fx * fy <= MAX_CELLS as f64) || polys.len() >= NONE as usize {
            return untested(Cell::Untested);
        }
        let (nx, ny) = (fx as usize, fy as usize);
        let origin = [extent.min().x - cell_m, extent.min().y - cell_m];
        let mut grid = PolygonCells {
            origin,
            cell_m,
            nx,
            ny,
            cells: vec![NONE; nx * ny],
            starts: vec![],
            polygons: vec![],
            boxes: polys
                .iter()
                .map(|m| {
                    m.bounding_rect().map_or([f64::NAN; 4], |b| {
                        [b.min().x, b.min().y, b.max().x, b.max().y]
                    })
                })
                .collect(),
            beyond: Cell::Outside,
        };
        // Each polygon's edges mark the cells they touch, which keep it: (cell, polygon).
        let (mut touched, mut mine): (Vec<(u32, u32)>, Vec<u32>) = (vec![], vec![]);
        for (i, poly) in polys.iter().enumerate() {
            mine.clear();
            for p in poly {
                for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                    for w in ring.0.windows(2) {
                        grid.mark_edge([w[0].x, w[0].y], [w[1].x, w[1].y], |c| mine.push(c as u32));
                    }
                }
            }
            mine.sort_unstable();
            mine.dedup();
            touched.extend(mine.iter().map(|&c| (c, i as u32)));
        }
        let runs = grid.runs();
        // Each polygon against the cells its box meets that it does not touch: the first cell
        // of each run (does it hold the run?) and the edge cells (does it hold them whole?).
        let by_polygon = {
            let grid = &grid;
            let (touched, runs) = (&touched, &runs);
            let ids: Vec<usize> = (0..polys.len()).collect();
            crate::base::par::map_chunks(&ids, 256, move |ids| {
                let mut holds = vec![];
                for &i in ids {
                    grid.held_whole(&polys[i], i as u32, touched, runs, &mut holds);
                }
                holds
            })
        };
        let rank = {
            let mut order: Vec<usize> = (0..polys.len()).collect();
            order.sort_by_key(|&i| (preference(i), i));
            let mut rank = vec![0u32; polys.len()];
            for (r, i) in order.into_iter().enumerate() {
                rank[i] = r as u32;
            }
            rank
        };
        // A run's answer: the most preferred polygon that holds its first cell.
        let mut answers = vec![NONE; runs.len()];
        let mut edges = touched;
        for (cell, i) in by_polygon.into_iter().flatten() {
            match grid.cells[cell as usize] {
                EDGE => edges.push((cell, i)),
                run => {
                    let a = &mut answers[run as usize];
                    if *a == NONE || rank[i as usize] < rank[*a as usize] {
                        *a = i;
                    }
                }
            }
        }
        for c in grid.cells.iter_mut().filter(|c| **c != EDGE) {
            *c = answers[*c as usize];
        }
        edges.sort_unstable_by_key(|&(cell, i)| (cell, rank[i as usize]));
        edges.dedup();
        // Polygons kept by edge cells are counted in u32 (polygons piled on one another could
        // need more): such a grid is not made.
        if edges.len() >= u32::MAX as usize {
            return untested(Cell::Untested);
        }
        grid.starts.reserve(edges.len() / 2);
        let mut last = None;
        for (cell, i) in edges {
            if last != Some(cell) {
                last = Some(cell);
                grid.cells[cell as usize] = EDGE + grid.starts.len() as u32;
                grid.starts.push(grid.polygons.len() as u32);
            }
            grid.polygons.push(i);
        }
        grid.starts.push(grid.polygons.len() as u32);
        grid
    }

    /// The cell's answer for a point.
    pub fn at(&self, p: [f64; 2]) -> Cell<'_> {
        let (fx, fy) = (
            (p[0] - self.origin[0]) / self.cell_m,
            (p[1] - self.origin[1]) / self.cell_m,
        );
        // NaN fails these tests too.
        if !(fx >= 0.0 && fy >= 0.0 && fx < self.nx as f64 && fy < self.ny as f64) {
            return self.beyond;
        }
        match self.cells[fy as usize * self.nx + fx as usize] {
            NONE => Cell::Outside,
            e if e >= EDGE => {
                let k = (e - EDGE) as usize;
                Cell::Edge(&self.polygons[self.starts[k] as usize..self.starts[k + 1] as usize])
            }
            i => Cell::Inside(i as usize),
        }
    }

    /// The most preferred of `polys` (those the grid was made from) that holds the point
    /// (boundary included), `Some(None)` if none does; `None` if no grid could be made.
    pub fn holding(&self, polys: &[MultiPolygon<f64>], p: [f64; 2]) -> Option<Option<usize>> {
        match self.at(p) {
            Cell::Inside(i) => Some(Some(i)),
            Cell::Outside => Some(None),
            Cell::Edge(some) => Some(some.iter().map(|&i| i as usize).find(|&i| {
                let b = &self.boxes[i];
                p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3] && covers(&polys[i], p)
            })),
            Cell::Untested => None,
        }
    }

    /// The bytes the grid holds.
    pub fn heap_bytes(&self) -> usize {
        4 * (self.cells.len() + self.starts.len() + self.polygons.len()) + 32 * self.boxes.len()
    }

    fn centre(&self, cell: usize) -> [f64; 2] {
        let (x, y) = (cell % self.nx, cell / self.nx);
        [
            self.origin[0] + (x as f64 + 0.5) * self.cell_m,
            self.origin[1] + (y as f64 + 0.5) * self.cell_m,
        ]
    }

    /// Calls `mark` with every cell the closed segment `a`-`b` touches, with a millimetre to
    /// spare so a segment on a cell's side marks the cells on both sides, and marks them edges.
    fn mark_edge(&mut self, a: [f64; 2], b: [f64; 2], mut mark: impl FnMut(usize)) {
        const SPARE_M: f64 = 1e-3;
        let (x0, x1) = (a[0].min(b[0]), a[0].max(b[0]));
        let col = |x: f64| ((x - self.origin[0]) / self.cell_m).floor() as isize;
        let row = |y: f64| ((y - self.origin[1]) / self.cell_m).floor() as isize;
        let y_at = |x: f64| {
            if b[0] == a[0] {
                a[1]
            } else {
                a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
            }
        };
        // Only cells of the grid (a near-vertical segment's rows, extrapolated across the spare
        // millimetre, could run far beyond it).
        let (cols, rows) = (self.nx as isize - 1, self.ny as isize - 1);
        for cx in col(x0 - SPARE_M).max(0)..=col(x1 + SPARE_M).min(cols) {
            // The part of the segment in this column of cells.
            let left = self.origin[0] + cx as f64 * self.cell_m;
            let (xa, xb) = (x0.max(left), x1.min(left + self.cell_m));
            let (ya, yb) = if b[0] == a[0] {
                (a[1].min(b[1]), a[1].max(b[1]))
            } else {
                let (p, q) = (y_at(xa.min(xb)), y_at(xb.max(xa)));
                (p.min(q), p.max(q))
            };
            for cy in row(ya - SPARE_M).max(0)..=row(yb + SPARE_M).min(rows) {
                let c = cy as usize * self.nx + cx as usize;
                self.cells[c] = EDGE;
                mark(c);
            }
        }
    }

    /// Numbers each connected run of unmarked cells (its cells hold the number) and returns
    /// the first cell of each.
    fn runs(&mut self) -> Vec<u32> {
        let mut first = vec![];
        let mut stack = vec![];
        for start in 0..self.cells.len() {
            if self.cells[start] != NONE {
                continue;
            }
            let run = first.len() as u32;
            first.push(start as u32);
            self.cells[start] = run;
            stack.push(start);
            while let Some(i) = stack.pop() {
                let (x, y) = (i % self.nx, i / self.nx);
                let mut visit = |j: usize| {
                    if self.cells[j] == NONE {
                        self.cells[j] = run;
                        stack.push(j);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < self.nx {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - self.nx);
                }
                if y + 1 < self.ny {
                    visit(i + self.nx);
                }
            }
        }
        first
    }

    /// Pushes `(cell, i)` for each cell polygon `i` holds whole that its box meets, its edges
    /// do not touch (`touched`, sorted), and that is an edge cell or the first of its run.
    fn held_whole(
        &self,
        poly: &MultiPolygon<f64>,
        i: u32,
        touched: &[(u32, u32)],
        runs: &[u32],
        out: &mut Vec<(u32, u32)>,
    ) {
        let b = self.boxes[i as usize];
        if b[0].is_nan() {
            return; // an empty polygon
        }
        let clamp = |v: f64, n: usize| ((v / self.cell_m).floor().max(0.0) as usize).min(n - 1);
        let (x0, x1) = (
            clamp(b[0] - self.origin[0], self.nx),
            clamp(b[2] - self.origin[0], self.nx),
        );
        let (y0, y1) = (
            clamp(b[1] - self.origin[1], self.ny),
            clamp(b[3] - self.origin[1], self.ny),
        );
        let own = {
            let from = touched.partition_point(|t| t.1 < i);
            let to = touched.partition_point(|t| t.1 <= i);
            &touched[from..to]
        };
        for y in y0..=y1 {
            for x in x0..=x1 {
                let c = y * self.nx + x;
                let v = self.cells[c];
                let wanted = if v == EDGE {
                    own.binary_search(&(c as u32, i)).is_err()
                } else {
                    runs[v as usize] == c as u32
                };
                if wanted && covers(poly, self.centre(c)) {
                    out.push((c as u32, i));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Intersects, LineString, Point, Polygon};
    use proptest::prelude::*;

    /// The lowest-numbered polygon holding the point (boundary included), by testing them all.
    fn scan(polys: &[MultiPolygon<f64>], p: [f64; 2]) -> Option<usize> {
        polys
            .iter()
            .position(|m| m.intersects(&Point::new(p[0], p[1])))
    }

    fn ring(c: [f64; 2], r: f64, k: usize, turn: f64) -> LineString<f64> {
        (0..=k)
            .map(|i| {
                let a = turn + std::f64::consts::TAU * (i % k) as f64 / k as f64;
                (c[0] + r * a.cos(), c[1] + r * a.sin())
            })
            .collect()
    }

    proptest! {
        /// Overlapping polygons (some with a hole), cells of any size: every point the grid
        /// decides gets the scan's answer, and every vertex is in a cell marked as an edge.
        #[test]
        fn a_decided_cell_gives_the_scans_answer(
            shapes in prop::collection::vec(
                ((0.0..1000.0f64, 0.0..1000.0f64), 20.0..400.0f64, 3usize..9, 0.0..6.3f64, any::<bool>()),
                1..8),
            cell_m in 7.0..300.0f64,
            points in prop::collection::vec((-100.0..1100.0f64, -100.0..1100.0f64), 200),
        ) {
            let polys: Vec<MultiPolygon<f64>> = shapes
                .iter()
                .map(|&((x, y), r, k, turn, holed)| {
                    let holes = if holed { vec![ring([x, y], r / 3.0, k, turn)] } else { vec![] };
                    MultiPolygon::new(vec![Polygon::new(ring([x, y], r, k, turn), holes)])
                })
                .collect();
            let grid = PolygonCells::new(&polys, cell_m, |i| i);
            for &(x, y) in &points {
                let want = scan(&polys, [x, y]);
                prop_assert_eq!(grid.holding(&polys, [x, y]), Some(want));
                match grid.at([x, y]) {
                    Cell::Inside(i) => prop_assert_eq!(Some(i), want),
                    Cell::Outside => prop_assert_eq!(None, want),
                    Cell::Edge(some) => {
                        // Every polygon that holds the point is kept, in order.
                        let holding: Vec<u32> = (0..polys.len() as u32)
                            .filter(|&i| polys[i as usize].intersects(&Point::new(x, y)))
                            .collect();
                        prop_assert!(holding.iter().all(|i| some.contains(i)));
                        prop_assert!(some.windows(2).all(|w| w[0] < w[1]));
                    }
                    Cell::Untested => prop_assert!(false, "a grid was made"),
                }
            }
            for m in &polys {
                for c in m.coords_iter() {
                    prop_assert!(matches!(grid.at([c.x, c.y]), Cell::Edge(_)));
                    prop_assert_eq!(grid.holding(&polys, [c.x, c.y]), Some(scan(&polys, [c.x, c.y])));
                }
            }
        }

        /// The polygons preferred in another order than their indexes (the last first): the
        /// answer is the most preferred polygon holding the point, wherever it is.
        #[test]
        fn the_most_preferred_polygon_is_the_answer(
            shapes in prop::collection::vec(
                ((0.0..600.0f64, 0.0..600.0f64), 50.0..400.0f64, 3usize..9, 0.0..6.3f64),
                1..8),
            cell_m in 7.0..300.0f64,
            points in prop::collection::vec((-100.0..800.0f64, -100.0..800.0f64), 200),
        ) {
            let polys: Vec<MultiPolygon<f64>> = shapes
                .iter()
                .map(|&((x, y), r, k, turn)| MultiPolygon::new(vec![Polygon::new(ring([x, y], r, k, turn), vec![])]))
                .collect();
            let grid = PolygonCells::new(&polys, cell_m, std::cmp::Reverse);
            for &(x, y) in &points {
                let want = (0..polys.len())
                    .rev()
                    .find(|&i| polys[i].intersects(&Point::new(x, y)));
                prop_assert_eq!(grid.holding(&polys, [x, y]), Some(want));
            }
        }
    }

    #[test]
    fn a_grid_too_fine_to_make_tests_every_point() {
        let square: MultiPolygon<f64> = Polygon::new(ring([0.0, 0.0], 1e6, 4, 0.0), vec![]).into();
        let grid = PolygonCells::new(std::slice::from_ref(&square), 1e-3, |i| i);
        assert_eq!(grid.at([0.0, 0.0]), Cell::Untested);
        assert_eq!(
            grid.holding(std::slice::from_ref(&square), [0.0, 0.0]),
            None
        );
        assert_eq!(grid.at([f64::NAN, 0.0]), Cell::Untested);
        let none = PolygonCells::new(&[], 10.0, |i| i);
        assert_eq!(none.at([0.0, 0.0]), Cell::Outside);
        assert_eq!(none.holding(&[], [0.0, 0.0]), Some(None));
    }
}
