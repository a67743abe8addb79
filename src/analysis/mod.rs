//! The analysis: joins units to the reference layers ([`join`]), scores each criterion
//! ([`criteria`]), ranks ([`rank`]) and chooses sets of sites ([`optimise`]), with existing
//! sites fixed only where their layer has data ([`fixed`]).

pub mod criteria;
pub mod fixed;
pub mod join;
pub mod optimise;
pub mod rank;
