//! sitefinder: find and rank vacant high-street shops in England as community vaccination and
//! health sites.
//!
//! The pipeline (see `docs/architecture.md`): [`atlas::Atlas::load`] reads the reference layers
//! in `data/`; [`import::read_units`] reads candidate units; [`join::attach`] joins each unit to
//! its LSOA, deprivation, GP catchments, stops and existing sites through R-trees;
//! [`rank::rank`] scores and orders them with a breakdown per criterion; [`output`] writes CSV
//! or GeoJSON.

pub mod atlas;
pub mod crs;
pub mod postcode;
pub mod prepare;
pub mod spatial;
pub mod textio;
