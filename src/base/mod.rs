//! Building blocks every stage uses: coordinates (PROJ), spatial indexes, text files, dates,
//! GeoJSON geometries and plain-text tables. Nothing here knows about units, deprivation or practices.

pub mod cells;
pub mod crs;
pub mod date;
pub mod display;
pub mod figures;
pub mod geometry;
pub mod grid;
pub mod ids;
pub mod intern;
pub mod par;
pub mod params;
pub mod spatial;
pub mod surface;
pub mod table;
pub mod text;
pub mod textio;
pub mod timing;
pub mod valid;

/// A map keyed by unit or item id: a million of them are hashed at import and start-up, with
/// a fast seeded hash (foldhash) rather than the standard library's SipHash.
pub type IdMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;
