//! The reference layers in `data/` (LSOAs with deprivation, GP practices and PCNs, stops,
//! pharmacies, vaccination sites, places, postcodes), loaded once into an [`atlas::Atlas`];
//! where each layer is complete, in words ([`coverage`]).

pub mod atlas;
pub mod coverage;
pub mod edition;
pub mod location;
pub mod places;
pub mod postcode;
pub mod postcode_cache;
