//! How long each phase of a run takes, logged (tracing, at `info`) when the phase ends:
//! `RUST_LOG=sitefinder=info sitefinder rank ...` prints them on standard error.
//!
//! ```
//! let t = sitefinder::base::timing::Phase::start("import");
//! assert_eq!(t.name(), "import");
//! drop(t); // logs "import: N ms"
//! ```

use std::time::Instant;

/// A phase under way; logs its duration when dropped.
pub struct Phase {
    name: &'static str,
    started: Instant,
}

impl Phase {
    pub fn start(name: &'static str) -> Phase {
        Phase {
            name,
            started: Instant::now(),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        tracing::info!(
            target: "sitefinder::timing",
            "{}: {:.0} ms",
            self.name,
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }
}
