//! The reference layers in `data/` (LSOAs with deprivation, GP practices and PCNs, stops,
//! pharmacies, vaccination sites, postcodes), loaded once into an [`atlas::Atlas`].

pub mod atlas;
pub mod edition;
pub mod location;
pub mod postcode;
