//! Building blocks every stage uses: coordinates (PROJ), spatial indexes, text files, dates and
//! GeoJSON geometries. Nothing here knows about units, deprivation or practices.

pub mod crs;
pub mod date;
pub mod geometry;
pub mod params;
pub mod spatial;
pub mod textio;
