//! WGS84 -> British National Grid for many points at once: PROJ's answers at the nodes of a
//! lon/lat lattice [`STEP_DEG`] apart over England, interpolated bilinearly between them. The
//! transformation is smooth (a Helmert shift and a transverse Mercator projection), so between
//! nodes about 1.4 km apart it is all but linear: within [`MAX_ERROR_M`] of PROJ everywhere in
//! the table (a test checks this at points all over it), where PROJ's own Helmert
//! transformation is 0.5 to 4 m from the official one ([`crate::base::crs`]). A point is about
//! 30 ns, where PROJ takes about 1 us; the table (133,000 nodes, 2 MB) is made once by PROJ in
//! about 0.1 s, so it serves large imports only.
//!
//! ```
//! use sitefinder::base::bng_table::{BngTable, MAX_ERROR_M};
//! use sitefinder::base::crs::wgs84_to_bng;
//! let table = BngTable::new().unwrap();
//! // A TfGM bus stop (1800NC04971).
//! let (e, n) = table.get(-2.317142, 53.65113).unwrap();
//! let (pe, pn) = wgs84_to_bng(-2.317142, 53.65113).unwrap();
//! assert!((e - pe).hypot(n - pn) < MAX_ERROR_M);
//! // Outside England's box the table has no answer: ask PROJ.
//! assert_eq!(table.get(-9.0, 53.0), None);
//! ```

use crate::base::crs::{self, CrsError};

/// The lattice's spacing, in degrees of longitude and of latitude.
pub const STEP_DEG: f64 = 0.02;

/// How far an interpolated point may be from PROJ's, in metres (0.05 m at most at 20,000
/// points all over the table).
pub const MAX_ERROR_M: f64 = 0.1;

/// The table covers [`crs::plausibly_england_lonlat`]'s box, but for its east end: PROJ uses
/// its Helmert transformation (EPSG:1314) only as far east as 1.92 E, and a "ballpark" one more
/// than 100 m from it beyond, so the table stops at 1.9 E (England's most easterly point is
/// 1.76 E) and PROJ answers for points east of it itself.
const WEST: f64 = -6.6;
const EAST: f64 = 1.9;
const SOUTH: f64 = 49.8;
const NORTH: f64 = 55.95;

/// PROJ's easting and northing at each node of the lattice (see the module documentation).
#[derive(Debug, Clone)]
pub struct BngTable {
    nx: usize,
    ny: usize,
    /// Row by row from the south-west corner, west to east.
    nodes: Vec<[f64; 2]>,
}

impl BngTable {
    /// Asks PROJ for every node, a row of the lattice at a time on every core.
    pub fn new() -> Result<BngTable, CrsError> {
        let nodes_along = |span: f64| (span / STEP_DEG - 1e-9).ceil() as usize + 1;
        let (nx, ny) = (nodes_along(EAST - WEST), nodes_along(NORTH - SOUTH));
        let rows: Vec<usize> = (0..ny).collect();
        let rows = crate::base::par::map(&rows, |&y| {
            let lat = SOUTH + y as f64 * STEP_DEG;
            let mut row: Vec<(f64, f64)> =
                (0..nx).map(|x| (WEST + x as f64 * STEP_DEG, lat)).collect();
            crs::wgs84_to_bng_in_place(&mut row)?;
            Ok::<_, CrsError>(row)
        });
        let mut nodes = Vec::with_capacity(nx * ny);
        for row in rows {
            nodes.extend(row?.into_iter().map(|(e, n)| [e, n]));
        }
        Ok(BngTable { nx, ny, nodes })
    }

    /// Easting and northing of a WGS84 lon/lat, `None` outside the table (or not a number).
    pub fn get(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let fx = (lon - WEST) / STEP_DEG;
        let fy = (lat - SOUTH) / STEP_DEG;
        // NaN fails these tests too; a point on the last node's line uses the cell before it.
        if !(fx >= 0.0 && fy >= 0.0 && fx <= (self.nx - 1) as f64 && fy <= (self.ny - 1) as f64) {
            return None;
        }
        let (x, y) = (
            (fx as usize).min(self.nx - 2),
            (fy as usize).min(self.ny - 2),
        );
        let (tx, ty) = (fx - x as f64, fy - y as f64);
        let at = |x: usize, y: usize| self.nodes[y * self.nx + x];
        let (a, b, c, d) = (at(x, y), at(x + 1, y), at(x, y + 1), at(x + 1, y + 1));
        let mix = |k: usize| {
            let south = a[k] + (b[k] - a[k]) * tx;
            let north = c[k] + (d[k] - c[k]) * tx;
            south + (north - south) * ty
        };
        Some((mix(0), mix(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points all over the table, cell centres (where interpolation is furthest from the
    /// nodes) and its edges: every one within MAX_ERROR_M of PROJ.
    #[test]
    fn the_table_is_within_a_tenth_of_a_metre_of_proj() {
        let table = BngTable::new().expect("PROJ");
        let mut worst = 0.0f64;
        let mut points = vec![];
        // A pseudo-random spread (a fixed sequence), the centres of a band of cells across
        // England, and the table's corners and sides.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64;
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let v = (s >> 11) as f64 / (1u64 << 53) as f64;
            points.push((WEST + u * (EAST - WEST), SOUTH + v * (NORTH - SOUTH)));
        }
        for i in 0..400 {
            points.push((WEST + (i as f64 + 0.5) * STEP_DEG, 52.51));
            points.push((-1.51, SOUTH + (i as f64 % 300.0 + 0.5) * STEP_DEG));
        }
        points.extend([(WEST, SOUTH), (EAST, NORTH), (EAST, SOUTH), (WEST, NORTH)]);
        for &(lon, lat) in &points {
            let (e, n) = table.get(lon, lat).expect("inside the table");
            let (pe, pn) = crs::wgs84_to_bng(lon, lat).expect("PROJ");
            worst = worst.max((e - pe).hypot(n - pn));
        }
        eprintln!("worst of {} points: {worst:.4} m", points.len());
        assert!(worst < MAX_ERROR_M, "{worst} m");
        // The nodes themselves are PROJ's answers.
        let (e, n) = table.get(-2.0, 52.0).expect("a node");
        let (pe, pn) = crs::wgs84_to_bng(-2.0, 52.0).expect("PROJ");
        assert!((e - pe).abs() < 1e-6 && (n - pn).abs() < 1e-6);
    }

    #[test]
    fn outside_the_table_there_is_no_answer() {
        let table = BngTable::new().expect("PROJ");
        for (lon, lat) in [
            (-6.61, 52.0),
            (1.91, 52.0),
            (0.0, 49.79),
            (0.0, 55.96),
            (f64::NAN, 52.0),
            (0.0, f64::INFINITY),
        ] {
            assert_eq!(table.get(lon, lat), None, "{lon} {lat}");
        }
        assert!(table.get(EAST, NORTH).is_some());
    }
}
