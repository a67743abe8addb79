//! How well the default catchment approximation ([`Huff`]) matches real GP registrations, and
//! the search that tuned it: `sitefinder calibrate-catchments --registrations FILE`.
//!
//! For each LSOA of the registrations file where the file's practices hold nearly all its
//! residents (registered patients at least [`INTERIOR_SHARE`] of the LSOA's Census residents,
//! so LSOAs on the file's edge, whose people also register with practices outside it, are left
//! out), it compares:
//! - the **covering practices** (those holding at least the source's `min_share` of the
//!   LSOA's patients; the largest always covers): the Jaccard index of the two sets, how often
//!   they are identical and how often the largest practice is the same;
//! - the **patient shares** of every practice either side names: Pearson's r over all
//!   (LSOA, practice) pairs.
//!
//! The grid search tunes on half the LSOAs (alternate ones, by code) and reports the other
//! half too, so the figures are not only those it was fitted to.

use crate::ingest::catchment::{CatchmentSource, Decay, Huff, Registrations};
use crate::reference::atlas::Atlas;

/// The share of an LSOA's Census residents that must be registered with the file's practices
/// for the LSOA to be compared (list inflation puts most interior LSOAs above 100%).
pub const INTERIOR_SHARE: f64 = 0.8;

/// Agreement between an approximation and the real registrations over a set of LSOAs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    pub lsoas: usize,
    /// Mean Jaccard index of the covering practice sets (1 = identical everywhere).
    pub jaccard: f64,
    /// Share of LSOAs whose covering sets are identical.
    pub exact: f64,
    /// Share of LSOAs whose largest practice is the same.
    pub top: f64,
    /// Pearson's r between estimated and real shares over all (LSOA, practice) pairs.
    pub share_r: f64,
}

impl Agreement {
    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "{} LSOAs: covering practices Jaccard {:.3}, identical sets {:.1}%, same largest practice {:.1}%, patient shares r = {:.3}",
            self.lsoas,
            self.jaccard,
            self.exact * 100.0,
            self.top * 100.0,
            self.share_r
        )
    }
}

/// The LSOAs to compare: in the file, with at least [`INTERIOR_SHARE`] of their residents
/// registered with the file's practices. Ascending.
pub fn interior_lsoas(atlas: &Atlas, real: &Registrations) -> Vec<usize> {
    real.lsoas()
        .into_iter()
        .filter(|&l| {
            let people = atlas.lsoas[l].population;
            people > 0.0 && real.patients_in(l) as f64 >= INTERIOR_SHARE * people
        })
        .collect()
}

/// How well `huff` matches `real` over `lsoas`.
pub fn agreement(atlas: &Atlas, huff: &Huff, real: &Registrations, lsoas: &[usize]) -> Agreement {
    let (mut jac, mut exact, mut top) = (0.0, 0usize, 0usize);
    let mut pairs: Vec<(f64, f64)> = vec![];
    for &l in lsoas {
        let at = atlas.lsoas[l].centroid;
        let est = huff.covering(atlas, at, l);
        let obs = real.covering(atlas, at, l);
        let mut a: Vec<usize> = est.iter().map(|c| c.practice).collect();
        let mut b: Vec<usize> = obs.iter().map(|c| c.practice).collect();
        if est.first().map(|c| c.practice) == obs.first().map(|c| c.practice) {
            top += 1;
        }
        a.sort_unstable();
        b.sort_unstable();
        let inter = a.iter().filter(|p| b.binary_search(p).is_ok()).count();
        let union = a.len() + b.len() - inter;
        jac += if union == 0 {
            1.0
        } else {
            inter as f64 / union as f64
        };
        if a == b {
            exact += 1;
        }
        let hs = huff.shares(atlas, l);
        let rs = real.shares(l);
        let mut practices: Vec<usize> = hs.iter().chain(&rs).map(|x| x.0).collect();
        practices.sort_unstable();
        practices.dedup();
        let get = |v: &[(usize, f64)], p: usize| v.iter().find(|x| x.0 == p).map_or(0.0, |x| x.1);
        pairs.extend(practices.into_iter().map(|p| (get(&hs, p), get(&rs, p))));
    }
    let n = lsoas.len().max(1) as f64;
    Agreement {
        lsoas: lsoas.len(),
        jaccard: jac / n,
        exact: exact as f64 / n,
        top: top as f64 / n,
        share_r: pearson(&pairs),
    }
}

fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 0.0 || syy <= 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// The grid searched: both decay forms, the radius and the minimum share.
pub const EXPONENTIAL_SCALES_M: [f64; 7] = [400.0, 500.0, 600.0, 700.0, 800.0, 1_000.0, 1_200.0];
pub const POWER_BETAS: [f64; 5] = [1.0, 1.5, 2.0, 2.5, 3.0];
pub const POWER_FLOORS_M: [f64; 3] = [100.0, 200.0, 400.0];
pub const RADII_M: [f64; 3] = [3_000.0, 5_000.0, 8_000.0];
pub const MIN_SHARES: [f64; 4] = [0.05, 0.10, 0.15, 0.20];

fn decays() -> Vec<Decay> {
    let mut v: Vec<Decay> = EXPONENTIAL_SCALES_M
        .iter()
        .map(|&scale_m| Decay::Exponential { scale_m })
        .collect();
    for &beta in &POWER_BETAS {
        for &floor_m in &POWER_FLOORS_M {
            v.push(Decay::Power { beta, floor_m });
        }
    }
    v
}

/// The outcome of a calibration.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Each model compared (the untuned one, the default, the best on the grid) with its
    /// agreement over all compared LSOAs and over the held-out half.
    pub rows: Vec<Compared>,
    /// The best on the grid, tuned on the other half.
    pub best: Huff,
    /// LSOAs of the file left out as on its edge.
    pub edge_lsoas: usize,
}

/// One model's agreement.
#[derive(Debug, Clone)]
pub struct Compared {
    pub label: String,
    pub huff: Huff,
    pub all: Agreement,
    pub held_out: Agreement,
}

impl Calibration {
    /// The report `calibrate-catchments` prints.
    pub fn report(&self, real: &Registrations) -> String {
        let n = self.rows.first().map_or(0, |r| r.all.lsoas);
        let mut out = format!(
            "Huff approximation against real registrations: {n} LSOAs compared ({} on the file's edge left out: fewer than {:.0}% of their residents registered with its practices). Real covering practices: those with at least {:.0}% of an LSOA's patients.\n",
            self.edge_lsoas,
            INTERIOR_SHARE * 100.0,
            real.min_share * 100.0
        );
        for r in &self.rows {
            out += &format!(
                "\n{} ({}):\n  all       {}\n  held out  {}\n",
                r.label,
                r.huff.params_words(),
                r.all.line(),
                r.held_out.line()
            );
        }
        out
    }
}

/// Compares the untuned model and the default with the registrations, then searches the grid
/// for the parameters with the best mean Jaccard on alternate LSOAs (ties: higher share r, then
/// the grid order), reporting every figure on the other half too.
pub fn calibrate(atlas: &Atlas, real: &Registrations) -> Calibration {
    let all = interior_lsoas(atlas, real);
    let edge_lsoas = real.lsoas().len() - all.len();
    let tune: Vec<usize> = all.iter().copied().step_by(2).collect();
    let held: Vec<usize> = all.iter().copied().skip(1).step_by(2).collect();
    let given = Huff::default();
    let mut best: Option<(Huff, Agreement)> = None;
    for decay in decays() {
        for &radius_m in &RADII_M {
            for &min_share in &MIN_SHARES {
                let h = Huff {
                    decay,
                    radius_m,
                    min_share,
                    ..given.clone()
                };
                let a = agreement(atlas, &h, real, &tune);
                let better = best.as_ref().is_none_or(|(_, b)| {
                    a.jaccard > b.jaccard + 1e-12
                        || ((a.jaccard - b.jaccard).abs() <= 1e-12 && a.share_r > b.share_r)
                });
                if better {
                    best = Some((h, a));
                }
            }
        }
    }
    let best = best.map_or_else(|| given.clone(), |b| b.0);
    let row = |label: &str, huff: Huff| Compared {
        label: label.into(),
        all: agreement(atlas, &huff, real, &all),
        held_out: agreement(atlas, &huff, real, &held),
        huff,
    };
    Calibration {
        rows: vec![
            row("before tuning (power law)", Huff::untuned()),
            row("the default", given),
            row("best on the grid, tuned on the other half", best.clone()),
        ],
        best,
        edge_lsoas,
    }
}
