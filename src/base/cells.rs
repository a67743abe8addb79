//! A uniform grid over polygons that answers most point-in-polygon questions without testing
//! a polygon: a cell that no polygon edge touches lies wholly inside the same polygons
//! everywhere, so the answer for any point in it is the answer at its centre, found once when
//! the grid is built. Only points in cells that an edge touches are tested against polygons.
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use sitefinder::base::cells::{Cell, PolygonCells};
//! // Two squares side by side, 1 km each.
//! let polys: Vec<MultiPolygon<f64>> = vec![
//!     polygon![(x: 0.0, y: 0.0), (x: 1000.0, y: 0.0), (x: 1000.0, y: 1000.0), (x: 0.0, y: 1000.0)].into(),
//!     polygon![(x: 1000.0, y: 0.0), (x: 2000.0, y: 0.0), (x: 2000.0, y: 1000.0), (x: 1000.0, y: 1000.0)].into(),
//! ];
//! // On 100 m cells, a point in the middle of either square is decided by its cell alone.
//! let cells = PolygonCells::new(&polys, 100.0, |p| {
//!     polys.iter().position(|m| geo::Intersects::intersects(m, &geo::Point::new(p[0], p[1])))
//! });
//! assert_eq!(cells.at([500.0, 500.0]), Cell::Inside(0));
//! assert_eq!(cells.at([1500.0, 420.0]), Cell::Inside(1));
//! // The shared edge at x = 1000 m: the cells it touches need a polygon test.
//! assert_eq!(cells.at([1000.0, 500.0]), Cell::Edge);
//! assert_eq!(cells.at([-5000.0, 500.0]), Cell::Outside);
//! ```

use geo::{BoundingRect, CoordsIter, MultiPolygon};

/// What a cell says about the points in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Every point of the cell gets this answer (a polygon's index).
    Inside(usize),
    /// No polygon holds any point of the cell.
    Outside,
    /// A polygon edge touches the cell: test the polygons.
    Edge,
}

/// Cell values: a polygon's index, or one of these.
const EDGE: u32 = u32::MAX;
const NONE: u32 = u32::MAX - 1;

/// The grid (see the module documentation).
#[derive(Debug, Clone)]
pub struct PolygonCells {
    origin: [f64; 2],
    cell_m: f64,
    nx: usize,
    ny: usize,
    cells: Vec<u32>,
    /// The answer outside the grid: [`Cell::Outside`], or [`Cell::Edge`] when no grid could be
    /// made (then every point is tested).
    beyond: Cell,
}

/// The most cells a grid has (5 bytes each while it is made, 4 kept: 250 MB and 200 MB):
/// a grid that would need finer cells than this allows is not made (every point is tested).
pub const MAX_CELLS: usize = 50_000_000;

impl PolygonCells {
    /// Grids the polygons' extent in cells of `cell_m` metres. `answer` is the exact test, asked
    /// once for the centre of one cell of each connected run of cells no edge touches (the
    /// index of the polygon that holds the point, by whatever rule the caller keeps for
    /// overlaps); its answer holds for the whole run.
    pub fn new(
        polys: &[MultiPolygon<f64>],
        cell_m: f64,
        answer: impl Fn([f64; 2]) -> Option<usize>,
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
            return untested(Cell::Edge);
        }
        // One cell of margin each side, so the cells around the extent are outside.
        let size = |span: f64| (span / cell_m).ceil() + 3.0;
        let (fx, fy) = (size(extent.width()), size(extent.height()));
        if !(cell_m > 0.0 && fx * fy <= MAX_CELLS as f64) || polys.len() >= NONE as usize {
            return untested(Cell::Edge);
        }
        let (nx, ny) = (fx as usize, fy as usize);
        let origin = [extent.min().x - cell_m, extent.min().y - cell_m];
        let mut grid = PolygonCells {
            origin,
            cell_m,
            nx,
            ny,
            cells: vec![NONE; nx * ny],
            beyond: Cell::Outside,
        };
        for poly in polys {
            for p in poly {
                for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                    let c: Vec<[f64; 2]> = ring.coords_iter().map(|c| [c.x, c.y]).collect();
                    for w in c.windows(2) {
                        grid.mark_edge(w[0], w[1]);
                    }
                }
            }
        }
        grid.label(answer);
        grid
    }

    /// The cell's answer for a point.
    pub fn at(&self, p: [f64; 2]) -> Cell {
        let (fx, fy) = (
            (p[0] - self.origin[0]) / self.cell_m,
            (p[1] - self.origin[1]) / self.cell_m,
        );
        // NaN fails these tests too.
        if !(fx >= 0.0 && fy >= 0.0 && fx < self.nx as f64 && fy < self.ny as f64) {
            return self.beyond;
        }
        match self.cells[fy as usize * self.nx + fx as usize] {
            EDGE => Cell::Edge,
            NONE => Cell::Outside,
            i => Cell::Inside(i as usize),
        }
    }

    /// Marks every cell the closed segment `a`-`b` touches, with a millimetre to spare so a
    /// segment on a cell's side marks the cells on both sides.
    fn mark_edge(&mut self, a: [f64; 2], b: [f64; 2]) {
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
        for cx in col(x0 - SPARE_M)..=col(x1 + SPARE_M) {
            // The part of the segment in this column of cells.
            let left = self.origin[0] + cx as f64 * self.cell_m;
            let (xa, xb) = (x0.max(left), x1.min(left + self.cell_m));
            let (ya, yb) = if b[0] == a[0] {
                (a[1].min(b[1]), a[1].max(b[1]))
            } else {
                let (p, q) = (y_at(xa.min(xb)), y_at(xb.max(xa)));
                (p.min(q), p.max(q))
            };
            for cy in row(ya - SPARE_M)..=row(yb + SPARE_M) {
                if cx >= 0 && cy >= 0 && (cx as usize) < self.nx && (cy as usize) < self.ny {
                    self.cells[cy as usize * self.nx + cx as usize] = EDGE;
                }
            }
        }
    }

    /// Gives each connected run of unmarked cells the answer at the centre of its first cell.
    fn label(&mut self, answer: impl Fn([f64; 2]) -> Option<usize>) {
        // Unmarked cells still hold NONE; a cell labelled is pushed once.
        let mut done = vec![false; self.cells.len()];
        let mut stack = vec![];
        for start in 0..self.cells.len() {
            if done[start] || self.cells[start] == EDGE {
                continue;
            }
            let (sx, sy) = (start % self.nx, start / self.nx);
            let centre = [
                self.origin[0] + (sx as f64 + 0.5) * self.cell_m,
                self.origin[1] + (sy as f64 + 0.5) * self.cell_m,
            ];
            let value = answer(centre).map_or(NONE, |i| i as u32);
            done[start] = true;
            stack.push(start);
            while let Some(i) = stack.pop() {
                self.cells[i] = value;
                let (x, y) = (i % self.nx, i / self.nx);
                let mut visit = |j: usize| {
                    if !done[j] && self.cells[j] != EDGE {
                        done[j] = true;
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
            let grid = PolygonCells::new(&polys, cell_m, |p| scan(&polys, p));
            for &(x, y) in &points {
                match grid.at([x, y]) {
                    Cell::Inside(i) => prop_assert_eq!(Some(i), scan(&polys, [x, y])),
                    Cell::Outside => prop_assert_eq!(None, scan(&polys, [x, y])),
                    Cell::Edge => {}
                }
            }
            for m in &polys {
                for c in m.coords_iter() {
                    prop_assert_eq!(grid.at([c.x, c.y]), Cell::Edge);
                }
            }
        }
    }

    #[test]
    fn a_grid_too_fine_to_make_tests_every_point() {
        let square: MultiPolygon<f64> = Polygon::new(ring([0.0, 0.0], 1e6, 4, 0.0), vec![]).into();
        let grid = PolygonCells::new(std::slice::from_ref(&square), 1e-3, |_| Some(0));
        assert_eq!(grid.at([0.0, 0.0]), Cell::Edge);
        assert_eq!(grid.at([f64::NAN, 0.0]), Cell::Edge);
        let none = PolygonCells::new(&[], 10.0, |_| None);
        assert_eq!(none.at([0.0, 0.0]), Cell::Outside);
    }
}
