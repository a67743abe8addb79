//! What users bring: candidate units ([`units`]), GP catchments ([`catchment`]) and council
//! plan overlays ([`overlay`]), each read, checked and put in British National Grid metres.

pub mod catchment;
pub mod files;
pub mod overlay;
pub mod premises;
pub mod units;
