//! The analysis: joins units to the reference layers ([`join`]), scores each criterion
//! ([`criteria`]), ranks ([`rank`]), groups units at the same place ([`sites`]) and chooses
//! sets of sites ([`optimise`]), computes once what a server's rankings share
//! ([`prepared`]), with existing sites fixed only where their layer has data
//! ([`fixed`]); [`chosen`] is which columns a ranking's file gives; [`calibrate`] measures the catchment approximation against real registrations.

pub mod calibrate;
pub mod chosen;
pub mod cover;
pub mod criteria;
pub mod fixed;
pub mod join;
pub mod optimise;
pub mod prepared;
pub mod rank;
pub mod sites;
