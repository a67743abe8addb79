//! A surface of quantities spread evenly over polygons (an LSOA's residents over its polygon),
//! on a grid of 100 m cells, summed over a disc by a precomputed kernel: the walking reach of a
//! million units in well under a second, where the exact areal interpolation (the area of each
//! polygon inside each circle, [`crate::base::spatial::disc_area`]) took seconds.
//!
//! - **Cells.** Each polygon's two totals (e.g. residents, and residents x IMD score) are spread
//!   at its density (total / area) over the cells it covers, by the exact length of each of four
//!   horizontal lines per cell inside the polygon: a cell on a boundary gets the share of each
//!   polygon that covers it.
//! - **Kernel.** A disc around a point is the sum of the cells it covers, each weighted by the
//!   exact share of the cell inside the circle. The point's place inside its cell is taken to
//!   the nearest 5 m (20 x 20 kernels per radius, built once), so the disc is moved at most 3.5 m.
//! - **Laziness.** The grid is built a strip of 1.6 km at a time, when a disc first needs it,
//!   and keeps only blocks of 16 x 16 cells that hold something: a town's run builds a few
//!   strips; all England about 110 MB.
//!
//! What it costs in accuracy is measured against the exact areal interpolation on real LSOAs
//! (`tests/joins.rs`): the grid assumes density even inside a cell, which is not so in a cell
//! that a polygon boundary crosses.
//!
//! ```
//! use geo::{MultiPolygon, Rect};
//! use sitefinder::base::surface::{Areas, Surface};
//! // One 2 km square holding 4,000 people (1,000 per km²), and the value 7 per person.
//! struct One(MultiPolygon<f64>);
//! impl Areas for One {
//!     fn meeting(&self, _: [f64; 4]) -> Vec<usize> { vec![0] }
//!     fn shape(&self, _: usize) -> &MultiPolygon<f64> { &self.0 }
//!     fn totals(&self, _: usize) -> [f64; 2] { [4_000.0, 28_000.0] }
//! }
//! let square = Rect::new((1_000.0, 1_000.0), (3_000.0, 3_000.0)).to_polygon();
//! let areas = One(MultiPolygon(vec![square]));
//! let surface = Surface::new([0.0, 0.0, 4_000.0, 4_000.0]);
//! // A disc of 500 m inside the square: pi x 0.25 km² x 1,000 per km².
//! let [people, value] = surface.disc_sum(&areas, [2_000.0, 2_000.0], 500.0).unwrap();
//! assert!((people - std::f64::consts::PI * 250.0).abs() < 1.0);
//! assert!((value / people - 7.0).abs() < 1e-9);
//! // A disc over the square's corner holds a quarter of that, less a strip of 2.5 m along
//! // two of its radii: the point is taken to the middle of its 5 m step, (3,002.5, 3,002.5).
//! let [corner, _] = surface.disc_sum(&areas, [3_000.0, 3_000.0], 500.0).unwrap();
//! assert!((corner - (std::f64::consts::PI * 62.5 - 2.5)).abs() < 0.01);
//! // Far away, nothing; past the largest radius, no answer (the caller computes it exactly).
//! assert_eq!(surface.disc_sum(&areas, [1e21, 2_000.0], 500.0), Some([0.0, 0.0]));
//! assert_eq!(surface.disc_sum(&areas, [2_000.0, 2_000.0], f64::INFINITY), None);
//! // Its strips let go, a disc builds them again, with the same answer.
//! let mut surface = surface;
//! let built = surface.built_bytes();
//! surface.release_below(2_000.0);
//! assert!(surface.built_bytes() > 0 && surface.built_bytes() < built);
//! surface.release_below(1e9);
//! assert_eq!(surface.built_bytes(), 0);
//! let again = surface.disc_sum(&areas, [3_000.0, 3_000.0], 500.0).unwrap();
//! assert_eq!(again[0].to_bits(), corner.to_bits());
//! ```

use std::sync::{Arc, Mutex, OnceLock};

use geo::{Area, MultiPolygon};

/// Cell side, metres.
pub const CELL_M: f64 = 100.0;
/// Horizontal lines per cell along which polygons are measured.
const LINES: usize = 4;
/// Cells per block side (and cell rows per strip).
const BLOCK: usize = 16;
/// Kernels per cell side: a point's place in its cell to 1/20 of a cell (5 m).
const STEPS: usize = 20;
/// The largest radius a surface sums (its kernels grow with the square of the radius: 10 km is
/// 400 kernels of 203 x 203 cells, 66 MB); [`Surface::disc_sum`] answers `None` beyond it.
pub const MAX_RADIUS_M: f64 = 10_000.0;
/// How many radiuses besides the first keep their kernels (the least recently made go first).
const OTHER_RADII: usize = 4;

/// The polygons a surface spreads, each with two totals.
pub trait Areas: Sync {
    /// The polygons whose bounding boxes meet `[min_x, min_y, max_x, max_y]`.
    fn meeting(&self, bbox: [f64; 4]) -> Vec<usize>;
    /// Polygon `i`.
    fn shape(&self, i: usize) -> &MultiPolygon<f64>;
    /// What polygon `i` holds in all, spread evenly over its area.
    fn totals(&self, i: usize) -> [f64; 2];
}

/// 16 x 16 cells, row by row, each with the two quantities inside it.
type Block = Box<[[f32; 2]; BLOCK * BLOCK]>;

/// One strip of blocks, west to east; `None` where a block holds nothing.
type Strip = Vec<Option<Block>>;

/// The weights of the cells around a point's cell, one row of cells at a time.
struct Kernel {
    /// `(row offset, first column offset, weights)`, rows with any weight only.
    rows: Vec<(i32, i32, Vec<f32>)>,
}

/// The lazily built grid (see the module's documentation).
pub struct Surface {
    /// South-west corner of the grid.
    origin: [f64; 2],
    /// Blocks west to east, and strips south to north.
    blocks_x: usize,
    strips: Vec<OnceLock<Strip>>,
    /// The first radius asked for (by its bits) and its `STEPS * STEPS` kernels, read without
    /// a lock; any other radius's in `others`.
    first: OnceLock<(u64, Vec<Kernel>)>,
    others: Mutex<Vec<(u64, Arc<Vec<Kernel>>)>>,
}

impl std::fmt::Debug for Surface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let built = self.strips.iter().filter(|s| s.get().is_some()).count();
        write!(
            f,
            "Surface({} x {} blocks, {built} strips built)",
            self.blocks_x,
            self.strips.len()
        )
    }
}

impl Surface {
    /// An empty surface over the extent `[min_x, min_y, max_x, max_y]` (nothing is built yet).
    pub fn new(extent: [f64; 4]) -> Surface {
        let side = CELL_M * BLOCK as f64;
        let origin = [
            (extent[0] / side).floor() * side,
            (extent[1] / side).floor() * side,
        ];
        let n = |lo: f64, hi: f64| (((hi - lo) / side).ceil().max(0.0) as usize) + 1;
        Surface {
            origin,
            blocks_x: n(origin[0], extent[2]),
            strips: (0..n(origin[1], extent[3]))
                .map(|_| OnceLock::new())
                .collect(),
            first: OnceLock::new(),
            others: Mutex::new(vec![]),
        }
    }

    /// The two quantities inside the disc of `radius_m` around `at` (see the module's
    /// documentation for how near to the exact areal interpolation this is); `None` for a
    /// radius that is not positive or over [`MAX_RADIUS_M`]. A point farther than the radius
    /// outside the grid (or not finite) has nothing around it.
    pub fn disc_sum(&self, areas: &dyn Areas, at: [f64; 2], radius_m: f64) -> Option<[f64; 2]> {
        if !(radius_m > 0.0 && radius_m <= MAX_RADIUS_M) {
            return None;
        }
        let size = [
            (self.blocks_x * BLOCK) as f64 * CELL_M,
            (self.strips.len() * BLOCK) as f64 * CELL_M,
        ];
        let outside = |i: usize| {
            let d = at[i] - self.origin[i];
            !(d > -radius_m - CELL_M && d < size[i] + radius_m + CELL_M)
        };
        if outside(0) || outside(1) {
            return Some([0.0, 0.0]);
        }
        let key = radius_m.to_bits();
        let first = self.first.get_or_init(|| (key, kernels(radius_m)));
        let other;
        let kernels = if first.0 == key {
            &first.1
        } else {
            other = self.other_kernels(radius_m);
            &*other
        };
        let gx = (at[0] - self.origin[0]) / CELL_M;
        let gy = (at[1] - self.origin[1]) / CELL_M;
        let (cx, cy) = (gx.floor(), gy.floor());
        let q = |f: f64| ((f * STEPS as f64) as usize).min(STEPS - 1);
        let kernel = &kernels[q(gy - cy) * STEPS + q(gx - cx)];
        let (cx, cy) = (cx as i64, cy as i64);
        let (width, height) = (
            (self.blocks_x * BLOCK) as i64,
            (self.strips.len() * BLOCK) as i64,
        );
        let (mut people, mut value) = (0.0f64, 0.0f64);
        for (dy, dx0, weights) in &kernel.rows {
            let row = cy + *dy as i64;
            if row < 0 || row >= height {
                continue;
            }
            // The row's cells inside the grid, a block's run at a time.
            let first = cx + *dx0 as i64;
            let skip = (-first).max(0) as usize;
            let end = (first + weights.len() as i64).min(width);
            if first.max(0) >= end {
                continue;
            }
            let strip = self.strip(areas, row as usize / BLOCK);
            let in_block = (row as usize % BLOCK) * BLOCK;
            let mut col = (first.max(0)) as usize;
            let mut k = skip;
            while (col as i64) < end {
                let off = col % BLOCK;
                let n = (BLOCK - off).min((end - col as i64) as usize);
                if let Some(b) = &strip[col / BLOCK] {
                    let cells = &b[in_block + off..in_block + off + n];
                    for (w, v) in weights[k..k + n].iter().zip(cells) {
                        people += f64::from(*w) * f64::from(v[0]);
                        value += f64::from(*w) * f64::from(v[1]);
                    }
                }
                col += n;
                k += n;
            }
        }
        Some([people, value])
    }

    /// The memory the strips built so far hold, in bytes.
    pub fn built_bytes(&self) -> usize {
        let block = std::mem::size_of::<[[f32; 2]; BLOCK * BLOCK]>();
        self.strips
            .iter()
            .filter_map(OnceLock::get)
            .map(|strip| {
                strip.capacity() * std::mem::size_of::<Option<Block>>()
                    + strip.iter().flatten().count() * block
            })
            .sum()
    }

    /// Lets go of the strips built that lie wholly south of northing `y` (all England's hold
    /// about 110 MB), keeping the kernels: for an owner summing discs from south to north (the
    /// join's walking reaches), which needs only a few strips at a time. A disc asked for later
    /// builds its strips again, with the same answers.
    pub fn release_below(&mut self, y: f64) {
        let side = BLOCK as f64 * CELL_M;
        let below = ((y - self.origin[1]) / side).floor();
        if below <= 0.0 {
            return;
        }
        let n = (below as usize).min(self.strips.len());
        for strip in &mut self.strips[..n] {
            strip.take();
        }
    }

    fn strip(&self, areas: &dyn Areas, s: usize) -> &Strip {
        self.strips[s].get_or_init(|| self.build_strip(areas, s))
    }

    /// Spreads every polygon meeting strip `s` over its cells.
    fn build_strip(&self, areas: &dyn Areas, s: usize) -> Strip {
        let cols = self.blocks_x * BLOCK;
        let y0 = self.origin[1] + (s * BLOCK) as f64 * CELL_M;
        let y1 = y0 + BLOCK as f64 * CELL_M;
        let x_end = self.origin[0] + cols as f64 * CELL_M;
        let line_h = CELL_M / LINES as f64;
        let mut cells = vec![[0.0f64; 2]; BLOCK * cols];
        let mut crossings: Vec<(u32, f64)> = vec![];
        for i in areas.meeting([self.origin[0], y0, x_end, y1]) {
            let shape = areas.shape(i);
            let area = shape.unsigned_area();
            if area <= 0.0 {
                continue;
            }
            let t = areas.totals(i);
            let density = [t[0] / area, t[1] / area];
            // Where each ring crosses each line of the strip (line k at y0 + (k + 0.5) h).
            crossings.clear();
            for p in &shape.0 {
                for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                    for e in ring.0.windows(2) {
                        let (a, b) = (e[0], e[1]);
                        let (lo, hi) = (a.y.min(b.y), a.y.max(b.y));
                        if hi <= y0 || lo >= y1 || a.y == b.y {
                            continue;
                        }
                        // Lines with lo <= y < hi (half-open: a vertex on a line counts once).
                        let first = ((lo - y0) / line_h - 0.5).ceil().max(0.0) as usize;
                        let mut k = first;
                        while k < BLOCK * LINES {
                            let y = y0 + (k as f64 + 0.5) * line_h;
                            if y >= hi {
                                break;
                            }
                            if y >= lo {
                                let x = a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y);
                                crossings.push((k as u32, x));
                            }
                            k += 1;
                        }
                    }
                }
            }
            crossings.sort_unstable_by(|p, q| p.0.cmp(&q.0).then(p.1.total_cmp(&q.1)));
            // Inside between each pair of crossings on a line (even-odd: holes are outside).
            for line in crossings.chunk_by(|p, q| p.0 == q.0) {
                if line.len() % 2 == 1 {
                    continue; // an odd count: a broken ring; leave the line out
                }
                let row = line[0].0 as usize / LINES;
                for pair in line.chunks_exact(2) {
                    let (xa, xb) = (pair[0].1, pair[1].1);
                    let col = |x: f64| ((x - self.origin[0]) / CELL_M).floor().max(0.0) as usize;
                    for c in col(xa)..=col(xb).min(cols - 1) {
                        let cx0 = self.origin[0] + c as f64 * CELL_M;
                        let len = xb.min(cx0 + CELL_M) - xa.max(cx0);
                        if len > 0.0 {
                            let cell = &mut cells[row * cols + c];
                            cell[0] += density[0] * len * line_h;
                            cell[1] += density[1] * len * line_h;
                        }
                    }
                }
            }
        }
        (0..self.blocks_x)
            .map(|bx| {
                let mut block = [[0.0f32; 2]; BLOCK * BLOCK];
                let mut any = false;
                for r in 0..BLOCK {
                    for c in 0..BLOCK {
                        let v = cells[r * cols + bx * BLOCK + c];
                        any |= v[0] != 0.0 || v[1] != 0.0;
                        block[r * BLOCK + c] = [v[0] as f32, v[1] as f32];
                    }
                }
                any.then(|| Box::new(block))
            })
            .collect()
    }

    /// The kernels of a radius other than the first, built the first time it is asked for.
    fn other_kernels(&self, radius_m: f64) -> Arc<Vec<Kernel>> {
        let key = radius_m.to_bits();
        let mut cache = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, k)) = cache.iter().find(|(r, _)| *r == key) {
            return k.clone();
        }
        let k = Arc::new(kernels(radius_m));
        if cache.len() == OTHER_RADII {
            cache.remove(0);
        }
        cache.push((key, k.clone()));
        k
    }
}

/// The `STEPS * STEPS` kernels of one radius, for each place of a point in its cell.
fn kernels(radius_m: f64) -> Vec<Kernel> {
    let step = |i: usize| (i as f64 + 0.5) / STEPS as f64 * CELL_M;
    (0..STEPS * STEPS)
        .map(|q| kernel([step(q % STEPS), step(q / STEPS)], radius_m))
        .collect()
}

/// The share of each cell inside the disc of `radius_m` around a point `at` metres east and
/// north of its cell's south-west corner.
fn kernel(at: [f64; 2], radius_m: f64) -> Kernel {
    let reach = (radius_m / CELL_M).ceil() as i32 + 1;
    let cell_area = CELL_M * CELL_M;
    let mut rows = vec![];
    for dy in -reach..=reach {
        let mut weights = vec![];
        let mut first = None;
        for dx in -reach..=reach {
            let (x0, y0) = (dx as f64 * CELL_M, dy as f64 * CELL_M);
            let corners = [
                [x0, y0],
                [x0 + CELL_M, y0],
                [x0 + CELL_M, y0 + CELL_M],
                [x0, y0 + CELL_M],
            ];
            let inside = |c: &[f64; 2]| {
                (c[0] - at[0]).powi(2) + (c[1] - at[1]).powi(2) <= radius_m * radius_m
            };
            let w = if corners.iter().all(inside) {
                1.0
            } else {
                let square = geo::Rect::new((x0, y0), (x0 + CELL_M, y0 + CELL_M)).to_polygon();
                crate::base::spatial::disc_area(&MultiPolygon(vec![square]), at, radius_m)
                    / cell_area
            };
            // (A cell wholly outside has a share of rounding error only.)
            if w > 1e-9 {
                first.get_or_insert(dx);
                let start = first.unwrap_or(dx);
                weights.resize((dx - start) as usize, 0.0);
                weights.push(w as f32);
            }
        }
        if let Some(start) = first {
            rows.push((dy, start, weights));
        }
    }
    Kernel { rows }
}
