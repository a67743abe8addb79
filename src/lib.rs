//! sitefinder: find and rank vacant high-street shops in England as community vaccination and
//! health sites.
//!
//! The folders follow the data flow (see `docs/architecture.md`):
//! [`base`] (coordinates, indexes, files) -> [`reference`] (the atlas of `data/`) ->
//! [`ingest`] (units, catchments, plan overlays) -> [`analysis`] (join, criteria, rank,
//! optimise) -> [`export`] (CSV, GeoJSON, XLSX, GeoPackage) and [`store`] (shortlists,
//! overlays) -> [`engine`] (one pipeline, opened once, that the CLI, the server and the
//! benches share) -> [`serve`] (the HTTP API and the web map). [`prepare`] builds `data/`
//! from the raw open data.

pub mod analysis;
pub mod base;
pub mod engine;
pub mod export;
pub mod ingest;
pub mod prepare;
pub mod reference;
pub mod serve;
pub mod store;
