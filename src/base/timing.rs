//! How long each phase of a run takes, and the process's memory then, logged (tracing, at
//! `info`) when the phase ends: `RUST_LOG=sitefinder=info sitefinder rank ...` prints them on
//! standard error.
//!
//! ```
//! let t = sitefinder::base::timing::Phase::start("import");
//! assert_eq!(t.name(), "import");
//! drop(t); // logs "import: N ms (resident now R MB, peak P MB)"
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
        if !tracing::enabled!(target: "sitefinder::timing", tracing::Level::INFO) {
            return;
        }
        // Linux says the resident and peak resident memory in /proc; elsewhere, nothing.
        let memory = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let kb = |key: &str| -> Option<u64> {
                    let line = s.lines().find(|l| l.starts_with(key))?;
                    line[key.len()..]
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .ok()
                };
                Some(format!(
                    " (resident now {} MB, peak {} MB)",
                    kb("VmRSS:")? / 1024,
                    kb("VmHWM:")? / 1024
                ))
            })
            .unwrap_or_default();
        tracing::info!(
            target: "sitefinder::timing",
            "{}: {:.0} ms{memory}",
            self.name,
            self.started.elapsed().as_secs_f64() * 1e3
        );
    }
}
