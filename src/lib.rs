//! sitefinder: find and rank vacant high-street shops in England as community vaccination and
//! health sites.
//!
//! The pipeline (see `docs/architecture.md`): [`atlas::Atlas::load`] reads the reference layers
//! in `data/`; [`import::read_units`] reads candidate units; [`join::attach`] joins each unit to
//! its LSOA, deprivation, GP catchments, stops and existing sites through R-trees;
//! [`rank::rank`] scores and orders them with a breakdown per criterion ([`criteria`]);
//! [`output`] writes CSV or GeoJSON; [`server`] serves the same ranking and every layer over
//! HTTP (OGC API - Features) to the web map in `web/`.

pub mod atlas;
pub mod catchment;
pub mod collections;
pub mod criteria;
pub mod crs;
pub mod date;
pub mod export;
pub mod geometry;
pub mod import;
pub mod join;
pub mod openapi;
pub mod optimise;
pub mod output;
pub mod overlay;
pub mod postcode;
pub mod prepare;
pub mod rank;
pub mod server;
pub mod spatial;
pub mod store;
pub mod textio;
