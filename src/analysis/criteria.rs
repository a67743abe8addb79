//! The seven ranking criteria. Each turns a unit's joined [`Context`] into a raw value (in its
//! own unit), a normalised value in 0..1 (1 = better site), and a sentence that explains it.
//! A criterion whose layer does not cover the unit's area is "no data" (`None`), never zero.
//!
//! Normalisation uses fixed, documented scales (not the spread of the current candidates), so a
//! unit's score does not change when other units are added, and scores from different runs
//! compare. The scales are in [`Scales`] with the reasoning for each.

use std::fmt;
use std::sync::Arc;

use crate::analysis::join::{Context, JoinParams};
use crate::base::date::Date;
use crate::base::display::Writes;
use crate::base::figures::{Distance, Fixed, Thousands};
use crate::ingest::overlay::Overlay;
use crate::ingest::units::Unit;
use crate::reference::atlas::Atlas;

/// A ranking criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Criterion {
    Deprivation,
    Reach,
    Demand,
    Gap,
    Access,
    Suitability,
    /// Inside or near an area of a council plan overlay (Future High Streets, regeneration).
    Plan,
}

/// How many criteria there are.
pub const N_CRITERIA: usize = 7;

/// Every criterion, in output order.
pub const CRITERIA: [Criterion; N_CRITERIA] = [
    Criterion::Deprivation,
    Criterion::Reach,
    Criterion::Demand,
    Criterion::Gap,
    Criterion::Access,
    Criterion::Suitability,
    Criterion::Plan,
];

impl Criterion {
    /// Whether the criterion's value depends only on the join (the unit's context and the
    /// reference data), not on a ranking's date or plan overlay, so that it can be computed
    /// once and re-weighted by every ranking (a server prepares them).
    pub const fn settled(self) -> bool {
        !matches!(self, Criterion::Suitability | Criterion::Plan)
    }

    pub fn name(self) -> &'static str {
        match self {
            Criterion::Deprivation => "deprivation",
            Criterion::Reach => "reach",
            Criterion::Demand => "demand",
            Criterion::Gap => "gap",
            Criterion::Access => "access",
            Criterion::Suitability => "suitability",
            Criterion::Plan => "plan",
        }
    }

    pub fn parse(s: &str) -> Option<Criterion> {
        CRITERIA
            .into_iter()
            .find(|c| c.name() == s.trim().to_ascii_lowercase())
    }

    /// The unit of the raw value.
    pub fn raw_unit(self) -> &'static str {
        match self {
            Criterion::Deprivation => "IMD score",
            Criterion::Reach => "residents",
            Criterion::Demand => "registered patients",
            Criterion::Gap => "m",
            Criterion::Access => "stops",
            Criterion::Suitability => "0..1",
            Criterion::Plan => "m",
        }
    }

    /// Default weights: deprivation counts most because the mission is to reach the patients
    /// who most need a site (vaccine uptake falls with deprivation); reach, demand and gap
    /// describe how many people a site would serve and whether it fills a hole, and weigh the
    /// same; access and suitability separate otherwise similar high-street units, and
    /// suitability's inputs (floor area, floor level) are often missing from rates lists.
    /// `plan` counts only when a plan overlay is chosen (otherwise it is "no data" and leaves
    /// the score alone); a council's own plan then weighs like reach or gap.
    pub fn default_weight(self) -> f64 {
        match self {
            Criterion::Deprivation => 3.0,
            Criterion::Reach => 2.0,
            Criterion::Demand => 2.0,
            Criterion::Gap => 2.0,
            Criterion::Access => 1.0,
            Criterion::Suitability => 1.0,
            Criterion::Plan => 2.0,
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One criterion's value for one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub criterion: Criterion,
    /// In the criterion's own unit; `None` = no data.
    pub raw: Option<f64>,
    /// 0..1, 1 = better; `None` = no data.
    pub norm: Option<f64>,
    /// A sentence for people.
    pub why: String,
}

/// The fixed scales that map raw values to 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scales {
    /// `reach`, `demand`, `gap` and `access` grow with diminishing returns, `1 − exp(−x / scale)`:
    /// 0.63 at the scale, 0.86 at twice it, 0.95 at three times. More always counts, so the
    /// busy town centres of a real list (which a linear scale sent to 1 together) still differ.
    ///
    /// Residents within walking reach for `reach`: 10,000 (in 800 m, about 5,000 per km², a
    /// town centre; inner Manchester or Portsmouth reach 20,000 to 25,000, about 0.9).
    pub reach_scale_residents: f64,
    /// Registered patients in catchment for `demand`: 40,000, the list of a typical PCN (most
    /// serve 30,000 to 50,000; a city catchment of several practices reaches 100,000, 0.92).
    pub demand_scale_patients: f64,
    /// Distance to the nearest existing site for `gap`, with the same diminishing returns:
    /// 2 km (0.39 at 1 km, 0.78 at 3 km, beyond a walk for most people); a unit next to an
    /// existing site scores 0, and rural units 5 to 15 km from one still differ.
    pub gap_scale_m: f64,
    /// Stops within the stop radius for `access`: 10 (both directions of five routes, 0.63);
    /// a town-centre interchange with 30 stops scores 0.95.
    pub access_scale_stops: f64,
    /// Floor area at or below which a unit scores 0 on that part of suitability: 40 m² holds
    /// one socially distanced vaccination bay with a small wait.
    pub floor_min_m2: f64,
    /// Floor area at which it scores 1: 500 m², a large store that holds a mass-vaccination
    /// layout (a dozen bays, a separate queue and the 15-minute observation area). Between the
    /// two the score grows with the logarithm of the area, so each doubling counts the same:
    /// the first bays matter most (150 m², four bays of about 3 x 3 m with 2 m spacing, a
    /// queue and the observation area, scores 0.52; 265 m² scores 0.75). Few high-street units
    /// reach 500 m², so the part keeps telling units apart instead of giving most of them 1.
    pub floor_full_m2: f64,
    /// Rateable value per square metre used to estimate the floor area of a unit that gives
    /// none: £100/m². A rateable value is the VOA's estimate of a year's rent, and for shops it
    /// is set per square metre of floor, so RV ÷ £/m² is the area. The VOA's own statistics
    /// ("Non-domestic rating: stock of properties including business floorspace", retail
    /// floorspace and RV per m² by area) put all rated floorspace at about £86/m² (31 March
    /// 2022) with shops above that average, highest in London and the South East and below it
    /// in the northern towns where the shipped lists are; a round £100/m² is that order of
    /// magnitude. It is an estimate: a unit on a prime pitch is smaller than it looks (a £30k
    /// RV is 300 m² here but perhaps 150 m² at £200/m²) and a back-street one larger, and it
    /// says so in the breakdown.
    pub rv_per_m2: f64,
    /// Months empty at which vacancy age scores 1: 24. A unit empty that long is more likely to
    /// be offered for a short meanwhile use at low rent.
    pub vacancy_full_months: f64,
    /// Distance from a plan area at which `plan` falls to 0: 400 m, about five minutes' walk,
    /// so a shop across the road from a regeneration area still counts for most of it.
    pub plan_near_m: f64,
}

impl Default for Scales {
    fn default() -> Self {
        Scales {
            reach_scale_residents: 10_000.0,
            demand_scale_patients: 40_000.0,
            gap_scale_m: 2_000.0,
            access_scale_stops: 10.0,
            floor_min_m2: 40.0,
            floor_full_m2: 500.0,
            rv_per_m2: 100.0,
            vacancy_full_months: 24.0,
            plan_near_m: 400.0,
        }
    }
}

/// What every criterion needs besides the unit and its context. Built in one place,
/// [`Settings::new`] (the engine calls it; tests and benches do too).
#[derive(Debug, Clone)]
pub struct Settings {
    pub scales: Scales,
    pub join: JoinParams,
    /// The date vacancy age is measured at when `as_of_given`; otherwise each unit's list date,
    /// and this date (today) only for units without one.
    pub as_of: Date,
    /// Whether `as_of` was given for the ranking (`--as-of`, `as_of=`): it then overrides the
    /// units' list dates.
    pub as_of_given: bool,
    /// The catchment source's kind, for the sentences.
    pub catchment_kind: &'static str,
    /// The council plan overlay that the `plan` criterion (and the plan filter) use, if any.
    pub plan: Option<Arc<Overlay>>,
    /// Whether to write the sentences. A ranking computes every score but needs words only
    /// for the rows it writes or returns: those are explained afterwards.
    pub words: bool,
}

impl Settings {
    /// The default scales, with sentences, measuring vacancy at `as_of` for every unit.
    pub fn new(join: JoinParams, as_of: Date, catchment_kind: &'static str) -> Settings {
        Settings {
            scales: Scales::default(),
            join,
            as_of,
            as_of_given: true,
            catchment_kind,
            plan: None,
            words: true,
        }
    }

    /// The date vacancy age is measured at for a unit whose list date is `list_date`, and how
    /// it was chosen (for the sentence).
    pub fn vacancy_date_of(&self, list_date: Option<Date>) -> (Date, &'static str) {
        match (self.as_of_given, list_date) {
            (true, _) => (self.as_of, "at the date asked for"),
            (false, Some(d)) => (d, "at the date of its list"),
            (false, None) => (self.as_of, "to today (no list date)"),
        }
    }

    /// The date in words for a ranking's metadata: the date asked for, else the list dates.
    pub fn as_of_words(&self) -> String {
        if self.as_of_given {
            self.as_of.to_string()
        } else {
            format!("each unit's list date (today, {}, without one)", self.as_of)
        }
    }

    /// The same settings, asking for every criterion's sentence.
    pub fn with_words(&self) -> Settings {
        Settings {
            words: true,
            ..self.clone()
        }
    }

    /// The same settings with this plan overlay.
    pub fn with_plan(mut self, plan: Option<Arc<Overlay>>) -> Settings {
        self.plan = plan;
        self
    }
}

/// `format!` when the settings ask for words, else an empty string (no formatting cost).
macro_rules! say {
    ($s:expr, $($arg:tt)*) => {
        if $s.words { format!($($arg)*) } else { String::new() }
    };
}

/// A criterion's sentence of several parts, each written in place with "; " between them;
/// nothing at all when the settings ask for no words.
struct Words {
    on: bool,
    parts: usize,
    text: String,
}

impl Words {
    fn new(s: &Settings) -> Words {
        Words {
            on: s.words,
            parts: 0,
            text: String::new(),
        }
    }

    fn part(&mut self, words: fmt::Arguments<'_>) {
        if self.on {
            if self.parts > 0 {
                self.text.push_str("; ");
            }
            self.parts += 1;
            // Writing to a string cannot fail.
            let _ = fmt::Write::write_fmt(&mut self.text, words);
        }
    }

    /// The parts after "no data: ".
    fn no_data(mut self) -> String {
        if self.on {
            self.text.insert_str(0, "no data: ");
        }
        self.text
    }
}

fn clamp01(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

/// Evaluates every criterion for one unit, in [`CRITERIA`] order.
pub fn evaluate(atlas: &Atlas, unit: &Unit, ctx: &Context, s: &Settings) -> [Value; N_CRITERIA] {
    CRITERIA.map(|c| evaluate_one(c, atlas, unit, ctx, s))
}

/// Evaluates one criterion for one unit.
pub fn evaluate_one(
    c: Criterion,
    atlas: &Atlas,
    unit: &Unit,
    ctx: &Context,
    s: &Settings,
) -> Value {
    match c {
        Criterion::Deprivation => deprivation(atlas, ctx, s),
        Criterion::Reach => reach(ctx, s),
        Criterion::Demand => demand(atlas, ctx, s),
        Criterion::Gap => gap(atlas, ctx, s),
        Criterion::Access => access(ctx, s),
        Criterion::Suitability => suitability(unit, s),
        Criterion::Plan => plan(unit, s),
    }
}

fn plan(u: &Unit, s: &Settings) -> Value {
    let none = |why: String| Value {
        criterion: Criterion::Plan,
        raw: None,
        norm: None,
        why,
    };
    let Some(o) = s.plan.as_deref() else {
        return none(say!(s, "no data: no plan overlay chosen"));
    };
    let Some((i, d)) = o.nearest(u.pos) else {
        return none(say!(s, "no data: plan overlay \"{}\" has no areas", o.name));
    };
    let label = &o.features[i].label;
    if d <= 0.0 {
        return Value {
            criterion: Criterion::Plan,
            raw: Some(0.0),
            norm: Some(1.0),
            why: say!(
                s,
                "inside \"{label}\" (feature {i}) of plan overlay \"{}\"",
                o.name
            ),
        };
    }
    let v = clamp01(1.0 - d / s.scales.plan_near_m);
    Value {
        criterion: Criterion::Plan,
        raw: Some(d),
        norm: Some(v),
        why: say!(s,
            "{} from \"{label}\" (feature {i}) of plan overlay \"{}\" ({}; 1 inside, 0 from {} away)",
            Distance(d),
            o.name,
            Fixed(v, 2),
            Distance(s.scales.plan_near_m)
        ),
    }
}

fn deprivation(atlas: &Atlas, ctx: &Context, s: &Settings) -> Value {
    let l = &atlas.lsoas[ctx.lsoa];
    let reach_score = ctx.reach.imd_score.unwrap_or(l.imd_score);
    // Half the unit's own LSOA, half the people within walking reach: a shop on the edge of a
    // deprived area serves it even if its own LSOA is less deprived.
    let raw = 0.5 * l.imd_score + 0.5 * reach_score;
    let norm = atlas.imd_percentile(raw);
    Value {
        criterion: Criterion::Deprivation,
        raw: Some(raw),
        norm: Some(clamp01(norm)),
        why: say!(s,
            "LSOA {} ({}) in IMD decile {} ({} score {}{}); population-weighted IMD score within {} is {}; more deprived than {}% of England's LSOAs",
            l.code,
            l.name,
            l.imd_decile,
            atlas.imd.label(),
            Fixed(l.imd_score, 1),
            Writes(|f: &mut fmt::Formatter<'_>| match l.imd2019_decile {
                Some(d) => write!(f, "; decile {d} in IMD 2019"),
                None => Ok(()),
            }),
            Distance(s.join.reach_radius_m),
            Fixed(reach_score, 1),
            Fixed(norm * 100.0, 0)
        ),
    }
}

/// `1 − exp(−x / scale)`, 0 for no x: diminishing returns that never quite reach 1.
fn diminishing(x: f64, scale: f64) -> f64 {
    clamp01(1.0 - (-x.max(0.0) / scale).exp())
}

fn reach(ctx: &Context, s: &Settings) -> Value {
    let raw = ctx.reach.population;
    Value {
        criterion: Criterion::Reach,
        raw: Some(raw),
        norm: Some(diminishing(raw, s.scales.reach_scale_residents)),
        why: say!(
            s,
            "about {} residents within {} (walking reach, straight line)",
            Thousands(raw),
            Distance(s.join.reach_radius_m)
        ),
    }
}

fn demand(atlas: &Atlas, ctx: &Context, s: &Settings) -> Value {
    if ctx.catchment.is_empty() {
        return Value {
            criterion: Criterion::Demand,
            raw: None,
            norm: None,
            why: say!(s, "no data: no GP practice catchment covers this place"),
        };
    }
    let raw = ctx.catchment_patients as f64;
    // Each practice by code and name, so the sentence reads without a lookup.
    let codes = Writes(|f: &mut fmt::Formatter<'_>| {
        for (k, c) in ctx.catchment.iter().enumerate() {
            let p = &atlas.practices[c.practice];
            let sep = if k > 0 { ", " } else { "" };
            write!(f, "{sep}{} {}", p.practice_code, p.name)?;
        }
        Ok(())
    });
    let pcns = Writes(|f: &mut fmt::Formatter<'_>| {
        for (k, p) in ctx.pcns(atlas).iter().enumerate() {
            f.write_str(if k > 0 { ", " } else { "; PCN: " })?;
            f.write_str(p)?;
        }
        Ok(())
    });
    Value {
        criterion: Criterion::Demand,
        raw: Some(raw),
        norm: Some(diminishing(raw, s.scales.demand_scale_patients)),
        why: say!(
            s,
            "{} GP practice{} ({}), {} registered patients in catchment ({}){}",
            ctx.catchment.len(),
            if ctx.catchment.len() == 1 { "" } else { "s" },
            codes,
            Thousands(raw),
            catchment_words(s.catchment_kind),
            pcns
        ),
    }
}

/// How the catchments were found, in words, for the demand sentence.
fn catchment_words(kind: &str) -> &'static str {
    match kind {
        "huff" => "catchments estimated from list sizes and distance",
        "registrations" => "catchments from patients registered by LSOA",
        "polygons" => "catchment polygons supplied",
        _ => "catchments",
    }
}

fn gap(atlas: &Atlas, ctx: &Context, s: &Settings) -> Value {
    let mut words = Words::new(s);
    let mut best: Option<f64> = None;
    match ctx.nearest_vaccination_site {
        Some((i, d)) => {
            words.part(format_args!(
                "nearest vaccination site {} ({}, February 2021)",
                Distance(d),
                atlas.vaccination_sites.sites[i as usize].name
            ));
            best = Some(best.map_or(d, |b: f64| b.min(d)));
        }
        None => words.part(format_args!("vaccination sites: no data for this area")),
    }
    match ctx.nearest_pharmacy {
        Some((i, d)) => {
            words.part(format_args!(
                "nearest pharmacy {} ({})",
                Distance(d),
                atlas.pharmacies.sites[i as usize].name
            ));
            best = Some(best.map_or(d, |b: f64| b.min(d)));
        }
        None => words.part(format_args!("pharmacies: no data for this area")),
    }
    let Some(raw) = best else {
        return Value {
            criterion: Criterion::Gap,
            raw: None,
            norm: None,
            why: words.no_data(),
        };
    };
    Value {
        criterion: Criterion::Gap,
        raw: Some(raw),
        norm: Some(diminishing(raw, s.scales.gap_scale_m)),
        why: words.text,
    }
}

fn access(ctx: &Context, s: &Settings) -> Value {
    match ctx.stops_near {
        Some(n) => Value {
            criterion: Criterion::Access,
            raw: Some(n as f64),
            norm: Some(diminishing(n as f64, s.scales.access_scale_stops)),
            why: say!(s,
                "{n} public transport stop{} within {}",
                if n == 1 { "" } else { "s" },
                Distance(s.join.stop_radius_m)
            ),
        },
        None => Value {
            criterion: Criterion::Access,
            raw: None,
            norm: None,
            why: say!(
                s,
                "no data: the stop layer (NaPTAN) here covers Greater Manchester and the West Midlands only"
            ),
        },
    }
}

/// What suitability reads of a unit, measured apart from a ranking's date: a server keeps it
/// for every unit beside the settled criteria, so a ranking scores suitability without
/// reading the unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuitabilityParts {
    /// The floor area's part of the score (the area given, or estimated from the rateable
    /// value).
    pub size: Option<f64>,
    pub ground_floor: Option<bool>,
    pub vacant_since: Option<Date>,
    pub list_date: Option<Date>,
}

/// A unit's floor area: given, or estimated from its rateable value.
fn floor_area(u: &Unit, sc: &Scales) -> Option<f64> {
    match (u.floor_area_m2, u.rateable_value) {
        (Some(a), _) => Some(a),
        (None, Some(rv)) if rv > 0.0 => Some(rv / sc.rv_per_m2),
        _ => None,
    }
}

impl SuitabilityParts {
    pub fn of(u: &Unit, sc: &Scales) -> SuitabilityParts {
        let size = |a: f64| {
            clamp01((a.max(1.0) / sc.floor_min_m2).ln() / (sc.floor_full_m2 / sc.floor_min_m2).ln())
        };
        SuitabilityParts {
            size: floor_area(u, sc).map(size),
            ground_floor: u.ground_floor,
            vacant_since: u.vacant_since,
            list_date: u.list_date,
        }
    }

    /// Months vacant and that part of the score, at the date `s` measures vacancy at, and how
    /// that date was chosen; `None` without a vacancy date.
    fn vacancy(&self, s: &Settings) -> Option<(Date, Date, &'static str, f64, f64)> {
        let d = self.vacant_since?;
        let (at, how) = s.vacancy_date_of(self.list_date);
        let months = (at.days_since(d) as f64 / 30.44).max(0.0);
        Some((
            d,
            at,
            how,
            months,
            clamp01(months / s.scales.vacancy_full_months),
        ))
    }

    /// The suitability score with `s`'s date: the mean of the parts known, `None` if none is.
    pub fn value(&self, s: &Settings) -> Option<f64> {
        let vacancy = self.vacancy(s).map(|v| v.4);
        mean_of_parts(self.size, self.ground_floor, vacancy)
    }
}

/// The mean of the parts known (in this order), `None` if none is.
fn mean_of_parts(size: Option<f64>, ground: Option<bool>, vacancy: Option<f64>) -> Option<f64> {
    let mut parts = [0.0; 3];
    let mut n = 0;
    let ground = ground.map(|g| if g { 1.0 } else { 0.0 });
    for v in [size, ground, vacancy].into_iter().flatten() {
        parts[n] = v;
        n += 1;
    }
    (n > 0).then(|| parts[..n].iter().sum::<f64>() / n as f64)
}

fn suitability(u: &Unit, s: &Settings) -> Value {
    let sc = &s.scales;
    let p = SuitabilityParts::of(u, sc);
    // No allocation when the settings ask for no words.
    let mut words = Words::new(s);
    match (
        floor_area(u, sc).zip(p.size),
        u.floor_area_m2,
        u.rateable_value,
    ) {
        (Some((a, v)), Some(_), _) => words.part(format_args!(
            "floor area {} m² ({})",
            Fixed(a, 0),
            Fixed(v, 2)
        )),
        (Some((a, v)), None, Some(rv)) => words.part(format_args!(
            "floor area about {} m², estimated from rateable value (£{} at £{}/m²) ({})",
            Fixed(a, 0),
            Thousands(rv),
            Fixed(sc.rv_per_m2, 0),
            Fixed(v, 2)
        )),
        _ => words.part(format_args!("floor area unknown")),
    }
    match p.ground_floor {
        Some(g) => words.part(format_args!(
            "{}",
            if g {
                "ground floor / step-free (1)"
            } else {
                "not on the ground floor (0)"
            }
        )),
        None => words.part(format_args!("floor level unknown")),
    }
    match p.vacancy(s) {
        Some((d, at, how, months, v)) => words.part(format_args!(
            "vacant since {d}: {} months {how}, {at} ({})",
            Fixed(months, 0),
            Fixed(v, 2)
        )),
        None => words.part(format_args!("vacancy date unknown")),
    }
    match p.value(s) {
        None => Value {
            criterion: Criterion::Suitability,
            raw: None,
            norm: None,
            why: words.no_data(),
        },
        Some(v) => Value {
            criterion: Criterion::Suitability,
            raw: Some(v),
            norm: Some(v),
            why: words.text,
        },
    }
}
