//! Ranking: weights and filters, the weighted score, and a deterministic order.
//!
//! A unit's score is the weighted mean of the normalised values of the criteria that have data
//! for it: `sum(w_c * v_c) / sum(w_c)` over those criteria. A criterion without data leaves the
//! sum and the divisor alike (and the breakdown says so), so missing data neither pulls a unit
//! down nor lifts it. Units are ordered by score, highest first, ties by id.
//!
//! ```
//! use sitefinder::analysis::rank::Weights;
//! use sitefinder::analysis::criteria::Criterion;
//! let w = Weights::parse_list("deprivation=5, access:0").unwrap();
//! assert_eq!(w.get(Criterion::Deprivation), 5.0);
//! assert_eq!(w.get(Criterion::Access), 0.0);
//! assert_eq!(w.get(Criterion::Reach), 2.0); // unchanged default
//! assert!(Weights::parse_list("beauty=1").is_err());
//! ```

use std::path::{Path, PathBuf};

use crate::analysis::criteria::{evaluate, Criterion, Settings, Value, CRITERIA, N_CRITERIA};
use crate::analysis::join::Context;
use crate::analysis::prepared::Prepared;
use crate::ingest::units::Unit;
use crate::reference::atlas::{pcn_key, Atlas};

/// Errors in weights or filters, naming the parameter and what is allowed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RankError {
    #[error("unknown criterion `{0}` in weights; the criteria are deprivation, reach, demand, gap, access, suitability, plan")]
    UnknownCriterion(String),
    #[error("weight for `{criterion}` is `{value}`; a weight must be a number from 0 to 100")]
    BadWeight { criterion: String, value: String },
    #[error("weights `{0}`: write criterion=weight pairs separated by commas, e.g. deprivation=3,access=1")]
    WeightSyntax(String),
    #[error("all weights are zero; at least one criterion needs a positive weight (plan counts only with a plan overlay)")]
    AllZero,
    #[error("{file}: {reason}")]
    WeightsFile { file: PathBuf, reason: String },
    #[error("unknown PCN `{query}`{hint}")]
    UnknownPcn { query: String, hint: String },
    #[error(
        "unknown local authority `{0}`; give a local authority code (E08000005) or name (Rochdale)"
    )]
    UnknownLad(String),
    #[error("IMD decile `{0}` must be a whole number from 1 (most deprived) to 10")]
    BadDecile(String),
    #[error("bbox `{0}`: {1}")]
    BadBbox(String, &'static str),
    #[error("plan_within_m needs a plan overlay: choose one with overlay=ID (or --overlay)")]
    PlanFilterWithoutOverlay,
    #[error("plan_within_m `{0}` must be a distance in metres, 0 (inside) or more")]
    BadPlanDistance(String),
    #[error("min_floor_area_m2 `{0}` must be a number of square metres, 0 or more")]
    BadFloorArea(String),
    #[error("`{name}` is not a property of a ranked unit; these are: {known}")]
    UnknownProperty { name: String, known: String },
    #[error("name at least one property of a ranked unit, e.g. rank,id,score")]
    NoProperties,
}

/// One weight per criterion (0..=100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights([f64; N_CRITERIA]);

impl Default for Weights {
    fn default() -> Self {
        Weights(CRITERIA.map(Criterion::default_weight))
    }
}

impl Weights {
    pub fn get(&self, c: Criterion) -> f64 {
        self.0[c as usize]
    }

    /// Sets one weight, checking its range.
    pub fn set(&mut self, c: Criterion, w: f64) -> Result<(), RankError> {
        if !(0.0..=100.0).contains(&w) || !w.is_finite() {
            return Err(RankError::BadWeight {
                criterion: c.name().into(),
                value: w.to_string(),
            });
        }
        self.0[c as usize] = w;
        Ok(())
    }

    fn set_str(&mut self, name: &str, value: &str) -> Result<(), RankError> {
        let c = Criterion::parse(name)
            .ok_or_else(|| RankError::UnknownCriterion(name.trim().into()))?;
        let w: f64 = value.trim().parse().map_err(|_| RankError::BadWeight {
            criterion: c.name().into(),
            value: value.trim().into(),
        })?;
        self.set(c, w)
    }

    /// Defaults overridden by `name=weight` (or `name:weight`) pairs separated by commas.
    pub fn parse_list(s: &str) -> Result<Weights, RankError> {
        let mut w = Weights::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once(['=', ':'])
                .ok_or_else(|| RankError::WeightSyntax(pair.into()))?;
            w.set_str(k, v)?;
        }
        w.check()?;
        Ok(w)
    }

    /// Defaults overridden by a TOML file: either top-level `deprivation = 3` keys or the same
    /// under a `[weights]` table.
    pub fn from_toml_file(path: &Path) -> Result<Weights, RankError> {
        let bad = |reason: String| RankError::WeightsFile {
            file: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let doc: toml::Table = text
            .parse()
            .map_err(|e| bad(format!("not valid TOML: {e}")))?;
        let table = match doc.get("weights") {
            Some(toml::Value::Table(t)) => t.clone(),
            Some(_) => return Err(bad("`weights` must be a table".into())),
            None => doc,
        };
        let mut w = Weights::default();
        for (k, v) in &table {
            let num = match v {
                toml::Value::Integer(i) => *i as f64,
                toml::Value::Float(f) => *f,
                other => return Err(bad(format!("weight `{k}` must be a number, found {other}"))),
            };
            let c = Criterion::parse(k).ok_or_else(|| RankError::UnknownCriterion(k.clone()))?;
            w.set(c, num)?;
        }
        w.check()?;
        Ok(w)
    }

    fn check(&self) -> Result<(), RankError> {
        if self.0.iter().all(|w| *w == 0.0) {
            return Err(RankError::AllZero);
        }
        Ok(())
    }

    /// `deprivation=3,reach=2,...` (the form `parse_list` reads).
    pub fn to_list(&self) -> String {
        CRITERIA
            .iter()
            .map(|c| format!("{}={}", c.name(), self.get(*c)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Which units to rank at all.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Units whose covering practices include one in this PCN (name or code).
    pub pcn: Option<String>,
    /// Units in this local authority (code or name, of the LADs of the IMD edition in use).
    pub lad: Option<String>,
    /// Units with at least this floor area; units of unknown area are left out.
    pub min_floor_area_m2: Option<f64>,
    /// Units whose LSOA is in one of these IMD deciles.
    pub imd_deciles: Option<Vec<u8>>,
    /// Units inside this WGS84 box `[minlon, minlat, maxlon, maxlat]`.
    pub bbox: Option<[f64; 4]>,
    /// Units within this distance of the chosen plan overlay (0 = inside one of its areas).
    pub plan_within_m: Option<f64>,
    /// Rank units that cannot hold a clinic (market stalls, kiosks, advertising rights...)
    /// too; by default they are left out and listed in [`Ranking::unsuitable`].
    pub include_unsuitable: bool,
    /// Keep only the best unit of each site (units at the same arcade, building or position);
    /// the others are left out as `one_per_site`.
    pub one_per_site: bool,
}

impl Filters {
    /// The box, when it is the only filter that reads the units.
    fn bbox_alone(&self) -> Option<[f64; 4]> {
        // Every field named, so that a new filter is decided here.
        let Filters {
            pcn: None,
            lad: None,
            min_floor_area_m2: None,
            imd_deciles: None,
            bbox: Some(b),
            plan_within_m: None,
            include_unsuitable: _,
            one_per_site: _,
        } = self
        else {
            return None;
        };
        Some(*b)
    }

    /// Parses `minlon,minlat,maxlon,maxlat` (WGS84).
    ///
    /// ```
    /// use sitefinder::analysis::rank::Filters;
    /// assert_eq!(Filters::parse_bbox("-2.2,53.6,-2.1,53.65").unwrap(), [-2.2, 53.6, -2.1, 53.65]);
    /// assert!(Filters::parse_bbox("53.6,-2.2,53.65,-2.1,0").is_err());
    /// assert!(Filters::parse_bbox("-2.1,53.6,-2.2,53.65").is_err());
    /// ```
    pub fn parse_bbox(s: &str) -> Result<[f64; 4], RankError> {
        let bad = |why: &'static str| RankError::BadBbox(s.to_string(), why);
        let v: Vec<f64> = s
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("must be four numbers: minlon,minlat,maxlon,maxlat"))?;
        if v.len() != 4 || v.iter().any(|x| !x.is_finite()) {
            return Err(bad("must be four numbers: minlon,minlat,maxlon,maxlat"));
        }
        let [x0, y0, x1, y1] = [v[0], v[1], v[2], v[3]];
        let lon = -180.0..=180.0;
        let lat = -90.0..=90.0;
        if !lon.contains(&x0) || !lon.contains(&x1) || !lat.contains(&y0) || !lat.contains(&y1) {
            return Err(bad(
                "longitudes must be within -180..180 and latitudes within -90..90",
            ));
        }
        if x0 > x1 || y0 > y1 {
            return Err(bad(
                "the minimum must not exceed the maximum (minlon,minlat,maxlon,maxlat)",
            ));
        }
        Ok([x0, y0, x1, y1])
    }

    /// Parses a plan distance in metres (0 = inside).
    pub fn parse_plan_within(s: &str) -> Result<f64, RankError> {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && (0.0..=50_000.0).contains(v))
            .ok_or_else(|| RankError::BadPlanDistance(s.trim().into()))
    }

    /// Parses `1,2,3` or `1-3` into deciles.
    pub fn parse_deciles(s: &str) -> Result<Vec<u8>, RankError> {
        let mut out = vec![];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let one = |t: &str| -> Result<u8, RankError> {
                t.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|d| (1..=10).contains(d))
                    .ok_or_else(|| RankError::BadDecile(t.trim().into()))
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (one(a)?, one(b)?);
                    out.extend(a.min(b)..=a.max(b));
                }
                None => out.push(one(part)?),
            }
        }
        if out.is_empty() {
            return Err(RankError::BadDecile(s.into()));
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// One ranked unit.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// 1-based.
    pub rank: usize,
    /// Index into the units.
    pub unit: usize,
    /// 0..1.
    pub score: f64,
    /// Each criterion's value, in [`CRITERIA`] order.
    pub values: [Value; N_CRITERIA],
    /// Each criterion's share of the score (`w_c * v_c / sum(w)`), 0 where no data.
    pub contributions: [f64; N_CRITERIA],
    /// The user's note, for rows of a shortlist (then every row has one, maybe empty).
    pub note: Option<String>,
    /// Columns written after the name (e.g. an optimised site's marginal gain).
    pub extra: Vec<(String, serde_json::Value)>,
}

impl Ranked {
    /// A row of unit `unit` with no score, values or words: what a row's columns are named
    /// from before any is ranked.
    pub fn blank(unit: usize) -> Ranked {
        Ranked {
            rank: 0,
            unit,
            score: 0.0,
            values: CRITERIA.map(|c| Value {
                criterion: c,
                raw: None,
                norm: None,
                why: String::new(),
            }),
            contributions: [0.0; N_CRITERIA],
            note: None,
            extra: vec![],
        }
    }
}

/// The result of ranking.
#[derive(Debug, Clone)]
pub struct Ranking {
    pub rows: Vec<Ranked>,
    /// The name of the rank column: `rank`, or `order` for sites chosen in order.
    pub rank_column: &'static str,
    pub weights: Weights,
    /// The settings the rows were scored with (date, plan overlay, join distances), so that
    /// rows can be explained in words later ([`explain_rows`]).
    pub settings: Settings,
    /// How many units each filter left out (`one_per_site` for units behind a better one at
    /// the same site).
    pub filtered_out: LeftOut,
    /// Units left out because they cannot hold a clinic, with the reason (empty when
    /// `include_unsuitable`).
    pub unsuitable: Vec<(usize, &'static str)>,
    /// The columns its files give (`properties`): every one unless some are named.
    pub columns: crate::analysis::chosen::Chosen,
}

impl Ranking {
    /// The settings a writer puts each row into words with as it writes it: none when the
    /// rows are in words already or no column kept is in words (`reasons_in_breakdown`: see
    /// [`crate::analysis::chosen::Chosen::needs_words`]).
    pub fn words_for(&self, reasons_in_breakdown: bool) -> Option<Settings> {
        (!self.settings.words && self.columns.needs_words(reasons_in_breakdown))
            .then(|| self.settings.with_words())
    }

    /// Row `k`, in words with `words` ([`Ranking::words_for`]; as it is without).
    pub fn row_in_words(
        &self,
        atlas: &Atlas,
        units: &[Unit],
        contexts: &[Context],
        words: Option<&Settings>,
        k: usize,
    ) -> Ranked {
        explained_row(atlas, units, contexts, words, &self.rows[k])
    }
}

/// How many units each filter left out, by filter name. The filters are applied in one order
/// (`bbox` first, so that an index can leave out the units outside the box without looking at
/// them), and a unit is counted under the first that leaves it out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeftOut(Vec<(&'static str, usize)>);

impl LeftOut {
    /// Counts `n` more units left out by `filter`.
    pub fn add(&mut self, filter: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        match self.0.binary_search_by(|(f, _)| (*f).cmp(filter)) {
            Ok(k) => self.0[k].1 += n,
            Err(k) => self.0.insert(k, (filter, n)),
        }
    }

    /// Units left out by any filter.
    pub fn len(&self) -> usize {
        self.0.iter().map(|(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Units left out by `filter`.
    pub fn by(&self, filter: &str) -> usize {
        self.0
            .iter()
            .find(|(f, _)| *f == filter)
            .map_or(0, |(_, n)| *n)
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// The weighted score and each criterion's contribution.
pub fn score(values: &[Value; N_CRITERIA], weights: &Weights) -> (f64, [f64; N_CRITERIA]) {
    debug_assert!(values.iter().zip(CRITERIA).all(|(v, c)| v.criterion == c));
    let norms = values.each_ref().map(|v| {
        debug_assert!(!v.norm.is_some_and(f64::is_nan));
        v.norm.unwrap_or(f64::NAN)
    });
    weighted(&norms, weights)
}

/// [`score`] of each criterion's normalised value in [`CRITERIA`] order (NaN: no data; a
/// normalised value is never NaN), as [`score`] makes it: a ranking that reads prepared values
/// scores with it ([`Weighting`]), bit for bit.
pub fn weighted(norms: &[f64; N_CRITERIA], weights: &Weights) -> (f64, [f64; N_CRITERIA]) {
    weighted_by(norms, weights, weight_of(present(norms), weights))
}

/// Which criteria have a value: bit `i` for `CRITERIA[i]`.
fn present(norms: &[f64; N_CRITERIA]) -> usize {
    norms
        .iter()
        .enumerate()
        .fold(0, |m, (i, n)| if n.is_nan() { m } else { m | 1 << i })
}

/// The weights of the criteria in `present` ([`present`]), summed in [`CRITERIA`] order.
fn weight_of(present: usize, weights: &Weights) -> f64 {
    weights
        .0
        .iter()
        .enumerate()
        .filter(|(i, _)| present >> i & 1 == 1)
        .map(|(_, w)| *w)
        .sum()
}

/// [`weighted`] with the sum of the weights of the criteria with values, `denom`.
fn weighted_by(
    norms: &[f64; N_CRITERIA],
    weights: &Weights,
    denom: f64,
) -> (f64, [f64; N_CRITERIA]) {
    let mut contrib = [0.0; N_CRITERIA];
    if denom <= 0.0 {
        return (0.0, contrib);
    }
    for ((c, n), w) in contrib.iter_mut().zip(norms).zip(&weights.0) {
        if !n.is_nan() {
            *c = w * n / denom;
        }
    }
    (contrib.iter().sum::<f64>().clamp(0.0, 1.0), contrib)
}

/// Weights that score many units: the sums of the weights of every set of criteria made
/// once, so that a unit's score is [`weighted`]'s (bit for bit) at the cost of its terms.
pub struct Weighting {
    weights: Weights,
    sums: [f64; 1 << N_CRITERIA],
}

impl Weighting {
    pub fn new(weights: &Weights) -> Weighting {
        Weighting {
            weights: *weights,
            sums: std::array::from_fn(|present| weight_of(present, weights)),
        }
    }

    /// [`weighted`]'s score.
    pub fn score(&self, norms: &[f64; N_CRITERIA]) -> f64 {
        weighted_by(norms, &self.weights, self.sums[present(norms)]).0
    }
}

/// Checks filters against the atlas (unknown PCN or local authority is an error, with a hint).
pub fn check_filters(atlas: &Atlas, f: &Filters) -> Result<(), RankError> {
    if let Some(q) = &f.pcn {
        if atlas.practices_in_pcn(q).is_empty() {
            let similar = similar_names(&atlas.pcn_names(), q);
            let hint = if similar.is_empty() {
                "; give a PCN code (U12345) or name as in the NHS ePCN list".to_string()
            } else {
                format!("; similar names: {}", similar.join(", "))
            };
            return Err(RankError::UnknownPcn {
                query: q.clone(),
                hint,
            });
        }
    }
    if let Some(l) = &f.lad {
        if !atlas
            .lsoas
            .iter()
            .any(|x| lad_matches(&x.lad_code, &x.lad_name, l))
        {
            return Err(RankError::UnknownLad(l.clone()));
        }
    }
    Ok(())
}

/// Up to five names that share the most words (or word beginnings) with the query.
fn similar_names(names: &[String], query: &str) -> Vec<String> {
    let key = pcn_key(query);
    let words: Vec<&str> = key.split(' ').filter(|w| w.len() > 2).collect();
    let score = |n: &str| {
        let nk = pcn_key(n);
        words
            .iter()
            .filter(|w| nk.split(' ').any(|x| x.starts_with(*w)))
            .count()
    };
    let best = names.iter().map(|n| score(n)).max().unwrap_or(0);
    if best == 0 {
        return vec![];
    }
    names
        .iter()
        .filter(|n| score(n) == best)
        .take(5)
        .cloned()
        .collect()
}

fn lad_matches(code: &str, name: &str, q: &str) -> bool {
    code.eq_ignore_ascii_case(q.trim()) || name.eq_ignore_ascii_case(q.trim())
}

fn filtered_by(
    atlas: &Atlas,
    u: &Unit,
    c: &Context,
    f: &Filters,
    s: &Settings,
) -> Option<&'static str> {
    let l = &atlas.lsoas[c.lsoa];
    if let Some(b) = f.bbox {
        let inside = c
            .lonlat
            .is_some_and(|[lon, lat]| (b[0]..=b[2]).contains(&lon) && (b[1]..=b[3]).contains(&lat));
        if !inside {
            return Some("bbox");
        }
    }
    if let Some(q) = &f.pcn {
        let key = pcn_key(q);
        let in_pcn = c.catchment.iter().any(|cv| {
            let p = &atlas.practices[cv.practice];
            p.pcn.as_deref().is_some_and(|n| pcn_key(n) == key)
                || p.pcn_code.as_deref().is_some_and(|n| pcn_key(n) == key)
        });
        if !in_pcn {
            return Some("pcn");
        }
    }
    if let Some(q) = &f.lad {
        if !lad_matches(&l.lad_code, &l.lad_name, q) {
            return Some("lad");
        }
    }
    if let Some(min) = f.min_floor_area_m2 {
        if u.floor_area_m2.is_none_or(|a| a < min) {
            return Some("min_floor_area_m2");
        }
    }
    if let Some(d) = &f.imd_deciles {
        if !d.contains(&l.imd_decile) {
            return Some("imd_deciles");
        }
    }
    if let (Some(within), Some(o)) = (f.plan_within_m, s.plan.as_deref()) {
        if o.nearest(u.pos).is_none_or(|(_, d)| d > within) {
            return Some("plan_within_m");
        }
    }
    None
}

/// Reorders `items` in place so that item `i` becomes what was at `from[i]` (`from` a
/// permutation), moving each item along its cycle: no second copy of a large vector.
fn permute<T>(items: &mut [T], mut from: Vec<usize>) {
    for start in 0..items.len() {
        let mut cur = start;
        while from[cur] != start {
            let next = from[cur];
            items.swap(cur, next);
            from[cur] = cur;
            cur = next;
        }
        from[cur] = cur;
    }
}

/// Filters, scores and orders the units. `contexts[i]` belongs to `units[i]`. With
/// `prepared` (made over these units), a `bbox` looks only at the units in the box and the
/// settled criteria are read, not evaluated: the same ranking, at the cost of the units kept.
pub fn rank(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    weights: &Weights,
    filters: &Filters,
    settings: &Settings,
    prepared: Option<&Prepared>,
) -> Result<Ranking, RankError> {
    let mut sel = select(atlas, units, contexts, weights, filters, settings, prepared)?;
    // Every unit is scored on its own: on every core.
    let scored = crate::base::par::map(&sel.kept, |&i| sel.scoring.row(i));
    // Ordered by score, ties by id, sorting small keys and then moving each row once.
    let mut order: Vec<(f64, usize)> = scored
        .iter()
        .enumerate()
        .map(|(k, r)| (r.score, k))
        .collect();
    order.sort_unstable_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| units[scored[a.1].unit].id.cmp(&units[scored[b.1].unit].id))
    });
    let mut rows = scored;
    permute(&mut rows, order.into_iter().map(|(_, k)| k).collect());
    if filters.one_per_site {
        first_of_each_site(&mut rows, |r| r.unit, units, &mut sel.filtered_out);
    }
    Ok(sel.ranking(rows))
}

/// The first `k` rows of the ranking [`rank`] makes, and how many rows it has in all, holding
/// a score per unit kept rather than a row (a page of a national ranking: a million rows are
/// about 0.6 GB). With `one_per_site`, whose rows depend on the order of all of them, it orders
/// every score and keeps the first of each site, still without a row for each.
#[allow(clippy::too_many_arguments)]
pub fn rank_top(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    weights: &Weights,
    filters: &Filters,
    settings: &Settings,
    prepared: Option<&Prepared>,
    k: usize,
) -> Result<(Ranking, usize), RankError> {
    let mut sel = select(atlas, units, contexts, weights, filters, settings, prepared)?;
    let mut scores = kept_scores(&mut sel);
    let order = by_rank(units);
    if filters.one_per_site {
        // As [`rank`] does: every score in order, then the first of each site.
        scores.sort_unstable_by(order);
        first_of_each_site(&mut scores, |&(_, i)| i, units, &mut sel.filtered_out);
    }
    let matched = scores.len();
    if k < scores.len() {
        if !filters.one_per_site {
            scores.select_nth_unstable_by(k, order);
        }
        scores.truncate(k);
    }
    scores.sort_unstable_by(order);
    let rows = crate::base::par::map(&scores, |&(_, i)| sel.scoring.row(i));
    Ok((sel.ranking(rows), matched))
}

/// Each unit the selection kept, with its score, on every core (its list of units let go).
fn kept_scores(sel: &mut Selection<'_>) -> Vec<(f64, usize)> {
    let kept = std::mem::take(&mut sel.kept);
    if let Some(scores) = sel.scores.take() {
        return scores.into_iter().zip(kept).collect();
    }
    crate::base::par::map(&kept, |&i| (sel.scoring.score(i), i))
}

/// The order of [`rank`] over (score, unit) pairs: score, then id (ids are unique, so the
/// order is total).
fn by_rank(
    units: &[Unit],
) -> impl Fn(&(f64, usize), &(f64, usize)) -> std::cmp::Ordering + Sync + Copy + '_ {
    move |a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| units[a.1].id.cmp(&units[b.1].id))
    }
}

/// A ranking held as its order: each row's score and unit, in rank order, with what its
/// filters left out; its rows are made when asked for ([`Ordered::rows`], [`Ordered::row`],
/// [`Ordered::rows_at`]), so a national file is written, or filtered, without a row per unit
/// held (a million rows are about 0.5 GB).
pub struct Ordered<'a> {
    /// The ranking without its rows: its weights, settings and what was left out.
    pub ranking: Ranking,
    atlas: &'a Atlas,
    units: &'a [Unit],
    contexts: &'a [Context],
    prepared: Option<&'a Prepared>,
    /// Score and unit of each row, in rank order, from the row ranked `first + 1`.
    order: Vec<(f64, usize)>,
    first: usize,
}

impl Ordered<'_> {
    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Rows `range` (0 is the first held; the range is clamped to the rows held), as [`rank`]
    /// makes them, each with its rank.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Vec<Ranked> {
        let end = range.end.min(self.order.len());
        let positions: Vec<usize> = (range.start.min(end)..end).collect();
        crate::base::par::map(&positions, |&p| self.make(p, None))
    }

    /// The rows at these positions (0 is the first held; positions past the end are left
    /// out), in the order given, each with its rank: a page of rows chosen by what they hold
    /// (a `filter` or `sortby` over a national ranking) without making the others again.
    pub fn rows_at(&self, positions: &[usize]) -> Vec<Ranked> {
        let positions: Vec<usize> = positions
            .iter()
            .copied()
            .filter(|&p| p < self.order.len())
            .collect();
        crate::base::par::map(&positions, |&p| self.make(p, None))
    }

    /// The row at position `p` (0 is the first held), with its rank, as [`Ordered::rows`]
    /// makes it; put into words when `words` (the ranking's settings
    /// [`Settings::with_words`]) is given, as [`explained_row`] would, with its criteria
    /// evaluated once: the score is made from the worded values (the numbers do not depend on
    /// the words), or from the prepared values when the order used them. `None` past the end.
    pub fn row(&self, p: usize, words: Option<&Settings>) -> Option<Ranked> {
        (p < self.order.len()).then(|| self.make(p, words))
    }

    /// The row at position `p` (0 is the first held) with its rank and score but no criterion
    /// evaluated: each value `None`, no words, contributions 0. For a file or a filter that
    /// reads no criterion's column ([`crate::analysis::chosen::Chosen::needs_values`]); the
    /// score is the one the order was sorted by, which [`Ordered::row`] makes again. `None`
    /// past the end.
    pub fn row_without_values(&self, p: usize) -> Option<Ranked> {
        let &(score, unit) = self.order.get(p)?;
        let mut r = Ranked::blank(unit);
        r.rank = self.first + p + 1;
        r.score = score;
        Some(r)
    }

    /// The row at position `p` as what reads it needs it: in words with `words`
    /// ([`Ranking::words_for`]), else with its criteria's values when `values` (a column or a
    /// filter reads one: [`crate::analysis::chosen::Chosen::needs_values`], asked once by the
    /// caller, not per row), else without them ([`Ordered::row_without_values`]).
    pub fn row_needing(&self, p: usize, words: Option<&Settings>, values: bool) -> Option<Ranked> {
        if words.is_none() && !values {
            self.row_without_values(p)
        } else {
            self.row(p, words)
        }
    }

    /// The row at position `p`, in words with `words`.
    fn make(&self, p: usize, words: Option<&Settings>) -> Ranked {
        let scoring = Scoring {
            atlas: self.atlas,
            units: self.units,
            contexts: self.contexts,
            weights: &self.ranking.weights,
            // A row is made from its values, not scored from the prepared ones alone.
            weighting: None,
            settings: &self.ranking.settings,
            prepared: self.prepared,
        };
        let i = self.order[p].1;
        let mut r = match words {
            None => scoring.row(i),
            Some(w) => scoring.row_in_words(i, w),
        };
        r.rank = self.first + p + 1;
        r
    }

    /// Keeps `limit` rows from `offset` (their ranks unchanged), as a page of the ranking.
    pub fn page(&mut self, offset: usize, limit: usize) {
        let from = offset.min(self.order.len());
        self.order.drain(..from);
        self.order.truncate(limit);
        self.first += from;
    }
}

/// The ranking [`rank`] makes, as its order ([`Ordered`]): every unit kept is scored on every
/// core, and the scores are sorted, but no row is held.
#[allow(clippy::too_many_arguments)]
pub fn rank_ordered<'a>(
    atlas: &'a Atlas,
    units: &'a [Unit],
    contexts: &'a [Context],
    weights: &Weights,
    filters: &Filters,
    settings: &Settings,
    prepared: Option<&'a Prepared>,
) -> Result<Ordered<'a>, RankError> {
    let mut sel = select(atlas, units, contexts, weights, filters, settings, prepared)?;
    let mut order = kept_scores(&mut sel);
    // The order is total, so a parallel sort gives it.
    {
        use rayon::slice::ParallelSliceMut as _;
        order.par_sort_unstable_by(by_rank(units));
    }
    if filters.one_per_site {
        first_of_each_site(&mut order, |&(_, i)| i, units, &mut sel.filtered_out);
    }
    // The rows are scored as the order was: with the prepared values only if the selection
    // read them (they fit the settings and the length of the units).
    let used = sel.scoring.prepared.is_some();
    Ok(Ordered {
        ranking: sel.ranking(vec![]),
        atlas,
        units,
        contexts,
        prepared: prepared.filter(|_| used),
        order,
        first: 0,
    })
}

/// Keeps the first of each site's units in `items` (in ranking order), counting the others as
/// left out by `one_per_site`. A unit alone at its site (`site_units` 1, as
/// [`crate::analysis::sites::group`] counts them, over units with unique ids as every engine's
/// are) is its site's first without looking its site up: a national ranking hashes only the
/// units that share a site.
fn first_of_each_site<T>(
    items: &mut Vec<T>,
    unit_of: impl Fn(&T) -> usize,
    units: &[Unit],
    filtered_out: &mut LeftOut,
) {
    let mut seen = std::collections::HashSet::new();
    items.retain(|item| {
        let u = &units[unit_of(item)];
        let first = u.site_units <= 1 || seen.insert(u.site_id.as_str());
        if !first {
            filtered_out.add("one_per_site", 1);
        }
        first
    });
}

/// The units a ranking scores, those its filters left out, and how they are scored.
struct Selection<'a> {
    kept: Vec<usize>,
    /// The score of each unit kept, when the selection scored them as it went (a box read
    /// from the prepared values).
    scores: Option<Vec<f64>>,
    filtered_out: LeftOut,
    unsuitable: Vec<(usize, &'static str)>,
    scoring: Scoring<'a>,
}

impl Selection<'_> {
    /// The ranking of these rows, in order: ranks 1, 2, ... .
    fn ranking(self, mut rows: Vec<Ranked>) -> Ranking {
        for (i, r) in rows.iter_mut().enumerate() {
            r.rank = i + 1;
        }
        Ranking {
            rows,
            rank_column: "rank",
            weights: *self.scoring.weights,
            settings: self.scoring.settings.clone(),
            filtered_out: self.filtered_out,
            unsuitable: self.unsuitable,
            columns: Default::default(),
        }
    }
}

/// Checks the weights and filters, and applies the filters (through `prepared`'s index for a
/// `bbox`).
fn select<'a>(
    atlas: &'a Atlas,
    units: &'a [Unit],
    contexts: &'a [Context],
    weights: &'a Weights,
    filters: &Filters,
    settings: &'a Settings,
    prepared: Option<&'a Prepared>,
) -> Result<Selection<'a>, RankError> {
    weights.check()?;
    // `plan` has data only with an overlay: without one, its weight alone scores nothing.
    if settings.plan.is_none()
        && CRITERIA
            .iter()
            .all(|c| *c == Criterion::Plan || weights.get(*c) == 0.0)
    {
        return Err(RankError::AllZero);
    }
    check_filters(atlas, filters)?;
    if filters.plan_within_m.is_some() && settings.plan.is_none() {
        return Err(RankError::PlanFilterWithoutOverlay);
    }
    let prepared = prepared.filter(|p| p.len() == units.len());
    // Prepared values have no sentences: a ranking that writes them evaluates.
    let reads = prepared.filter(|p| p.fits(settings) && !settings.words);
    let scoring = Scoring {
        atlas,
        units,
        contexts,
        weights,
        weighting: reads
            .filter(|p| p.scores(settings))
            .map(|_| Weighting::new(weights)),
        settings,
        prepared: reads,
    };
    let mut filtered_out = LeftOut::default();
    // A box alone, scored from the prepared values in the grid's order, without reading a
    // unit: what a map's or a PCN's `/rank` asks.
    if let (Some(p), Some(b), Some(w)) = (reads, filters.bbox_alone(), &scoring.weighting) {
        if p.scores(settings) {
            let got = p.scores_in_box(b, settings, filters.include_unsuitable, |n| w.score(n));
            filtered_out.add("bbox", units.len() - got.inside);
            let (scores, kept) = got.scored.into_iter().unzip();
            return Ok(Selection {
                kept,
                scores: Some(scores),
                filtered_out,
                unsuitable: got
                    .unsuitable
                    .into_iter()
                    .filter_map(|i| Some((i, units[i].unsuitable?)))
                    .collect(),
                scoring,
            });
        }
    }
    let mut unsuitable = vec![];
    let in_box = match (prepared, filters.bbox) {
        (Some(p), Some(b)) => {
            let inside = p.in_bbox(b);
            filtered_out.add("bbox", units.len() - inside.len());
            Some(inside)
        }
        _ => None,
    };
    let candidates: Box<dyn Iterator<Item = usize>> = match &in_box {
        Some(v) => Box::new(v.iter().copied()),
        None => Box::new(0..units.len()),
    };
    let mut kept = Vec::with_capacity(in_box.as_ref().map_or(units.len(), Vec::len));
    for i in candidates {
        let (u, c) = (&units[i], &contexts[i]);
        if let Some(why) = filtered_by(atlas, u, c, filters, settings) {
            filtered_out.add(why, 1);
            continue;
        }
        if let (Some(why), false) = (u.unsuitable, filters.include_unsuitable) {
            unsuitable.push((i, why));
            continue;
        }
        kept.push(i);
    }
    Ok(Selection {
        kept,
        scores: None,
        filtered_out,
        unsuitable,
        scoring,
    })
}

/// What every unit of a ranking is scored with.
struct Scoring<'a> {
    atlas: &'a Atlas,
    units: &'a [Unit],
    contexts: &'a [Context],
    weights: &'a Weights,
    /// The weights, to score from the prepared values alone, when they can be.
    weighting: Option<Weighting>,
    settings: &'a Settings,
    /// Settled values to read (`None`: evaluate every criterion).
    prepared: Option<&'a Prepared>,
}

impl Scoring<'_> {
    /// Unit `i` scored (its rank still 0).
    fn row(&self, i: usize) -> Ranked {
        let (u, c) = (&self.units[i], &self.contexts[i]);
        let values = match self.prepared {
            Some(p) => p.values(i, self.atlas, u, c, self.settings),
            None => evaluate(self.atlas, u, c, self.settings),
        };
        self.scored(i, values)
    }

    /// Unit `i`'s score, as [`Scoring::row`] makes it: read from the prepared values without
    /// the unit when they can give it.
    fn score(&self, i: usize) -> f64 {
        match (self.prepared, &self.weighting) {
            (Some(p), Some(w)) => w.score(&p.norms(i, self.settings)),
            _ => self.row(i).score,
        }
    }

    /// Unit `i` scored and in words (`words`: the settings with words), as [`explained_row`]
    /// of [`Scoring::row`] but evaluated once without prepared values (the numbers do not
    /// depend on the words); with them, the score is the prepared values'.
    fn row_in_words(&self, i: usize, words: &Settings) -> Ranked {
        let values = evaluate(self.atlas, &self.units[i], &self.contexts[i], words);
        match self.prepared {
            Some(_) => Ranked {
                values,
                ..self.row(i)
            },
            None => self.scored(i, values),
        }
    }

    /// Unit `i`'s row of these values, weighted.
    fn scored(&self, i: usize, values: [Value; N_CRITERIA]) -> Ranked {
        let (score, contributions) = score(&values, self.weights);
        Ranked {
            rank: 0,
            unit: i,
            score,
            values,
            contributions,
            note: None,
            extra: vec![],
        }
    }
}

/// Writes the sentences of these rows (a ranking made without words scores every unit but
/// explains only the rows that are written or returned). Rows that have words are left alone.
pub fn explain_rows(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    settings: &Settings,
    rows: &mut [Ranked],
) {
    if settings.words {
        return;
    }
    let s = settings.with_words();
    crate::base::par::for_each_mut(rows, |r| {
        r.values = evaluate(atlas, &units[r.unit], &contexts[r.unit], &s);
    });
}

/// One row in words, for a writer that explains rows as it writes them: `words` is the
/// ranking's settings with words on ([`Settings::with_words`], made once by the writer), or
/// `None` for a ranking whose rows have their words already (the row is returned as it is).
pub fn explained_row(
    atlas: &Atlas,
    units: &[Unit],
    contexts: &[Context],
    words: Option<&Settings>,
    r: &Ranked,
) -> Ranked {
    let mut out = r.clone();
    if let Some(s) = words {
        out.values = evaluate(atlas, &units[r.unit], &contexts[r.unit], s);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn permute_moves_each_item_to_its_place() {
        let mut v = vec!['a', 'b', 'c', 'd', 'e'];
        super::permute(&mut v, vec![2, 0, 1, 4, 3]);
        assert_eq!(v, ['c', 'a', 'b', 'e', 'd']);
        let mut w: Vec<usize> = (0..1000).collect();
        let from: Vec<usize> = (0..1000).map(|i| (i * 7 + 3) % 1000).collect();
        super::permute(&mut w, from.clone());
        assert_eq!(w, from);
    }
}
