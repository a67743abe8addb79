//! The PDF site report of a shortlist, for a board paper: a cover page (the shortlist, when it
//! and the report were made, the weights and query it was ranked with, the sites, the data
//! editions and the attribution), then one A4 page per site: a map of the site and its
//! surroundings drawn from the shipped data as vector graphics (LSOAs within 1.5 km coloured by
//! IMD decile, the walking-reach circle, GP practices, existing vaccination sites and
//! pharmacies where that layer has data, a scale bar and a north arrow; no web tiles), the
//! address, the score and each criterion's weight, value and sentence, the residents within
//! reach by IMD decile (the join's own reach, split by [`reach_parts`]), the nearest practices,
//! the existing sites nearby and the user's note.

use serde_json::{Map, Value as Json};

use crate::analysis::criteria::{Criterion, CRITERIA};
use crate::analysis::join::{reach_parts, Context, Reach};
use crate::analysis::rank::{Ranked, Ranking};
use crate::base::date::Date;
use crate::base::figures::{Distance, Thousands};
use crate::base::spatial::circle;
use crate::base::table::short_time;
use crate::export::columns::criterion_words;
use crate::export::pdf::{
    document, fit, hex, on_white, width, wrap, Page, Rgb, BLACK, GREY, PAGE_H, PAGE_W, WHITE,
};
use crate::ingest::units::Unit;
use crate::reference::atlas::{Atlas, Layer};

/// IMD decile 1 (most deprived) to 10, the web map's ramp.
pub const DECILE_COLOURS: [u32; 10] = [
    0x67001f, 0xb2182b, 0xd6604d, 0xf4a582, 0xfddbc7, 0xd1e5f0, 0x92c5de, 0x4393c3, 0x2166ac,
    0x053061,
];

/// Half the side of the map square, metres: the map shows 3 km by 3 km around the site.
pub const MAP_HALF_M: f64 = 1_500.0;

const MARGIN: f32 = 36.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Nothing is written below this line but the footer.
const BOTTOM: f32 = PAGE_H - 40.0;
const MAP_SIDE: f32 = 290.0;

const UNIT_FILL: Rgb = hex(0xffd400);
const PRACTICE: Rgb = hex(0x00703c);
const VACCINATION: Rgb = hex(0x6a3d9a);
const PHARMACY: Rgb = hex(0x00a3a3);
const REACH: Rgb = hex(0x111111);
const RULE: Rgb = [0.75, 0.75, 0.75];

/// What the report is made from: the joined units, the shortlist's ranking in words (each row
/// with its note) and the export's metadata (the shortlist's name and times, weights, date,
/// catchments, attribution; `filters` holds the query it was made from).
pub struct Report<'a> {
    pub atlas: &'a Atlas,
    pub units: &'a [Unit],
    pub contexts: &'a [Context],
    pub ranking: &'a Ranking,
    pub members: &'a Map<String, Json>,
    pub filters: &'a [(String, String)],
    /// The units files ranked, by name (no folders).
    pub units_files: Vec<String>,
    /// The day the report is made.
    pub made: Date,
}

impl Report<'_> {
    fn member(&self, key: &str) -> String {
        match self.members.get(key) {
            Some(Json::String(s)) => s.clone(),
            Some(Json::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    fn name(&self) -> String {
        let n = self.member("shortlist");
        if n.is_empty() {
            "sitefinder sites".into()
        } else {
            n
        }
    }

    fn reach_m(&self) -> f64 {
        self.ranking.settings.join.reach_radius_m
    }
}

/// The report's bytes: the cover, then one page per row of the ranking.
/// A stored query (`k=v&...`, URL-encoded) as a reader would write it: `k v; k v`.
fn query_words(q: &str) -> String {
    form_urlencoded::parse(q.as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The most sites a report takes (a page or two each): a board paper, not a national list.
pub const MAX_SITES: usize = 200;

pub fn pdf(r: &Report) -> Vec<u8> {
    // Each site from a new page, going on to more pages when its text is long; the cover lists
    // the page each site starts on, so it is laid out once the sites are (twice if it runs to
    // a second page itself).
    let sites: Vec<Vec<Page>> = r
        .ranking
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| site_pages(r, i, row))
        .collect();
    let starts = |cover_pages: usize| -> Vec<usize> {
        let mut next = cover_pages + 1;
        sites
            .iter()
            .map(|s| {
                let at = next;
                next += s.len();
                at
            })
            .collect()
    };
    let mut front = cover(r, &starts(1));
    if front.len() > 1 {
        front = cover(r, &starts(front.len()));
    }
    let mut pages: Vec<Page> = front
        .into_iter()
        .chain(sites.into_iter().flatten())
        .collect();
    let total = pages.len();
    for (k, p) in pages.iter_mut().enumerate() {
        footer(p, r, k + 1, total);
    }
    document(&format!("Site report: {}", r.name()), pages)
}

/// A running column of text; at the bottom of a page it goes on to a new page headed `cont`
/// (the full pages are kept in `done`), so nothing is cut.
struct Flow {
    y: f32,
    cont: String,
    done: Vec<Page>,
}

/// Where text starts on a page that continues another.
const CONT_TOP: f32 = 58.0;

impl Flow {
    fn new(y: f32, cont: String) -> Flow {
        Flow {
            y,
            cont,
            done: vec![],
        }
    }

    /// Room for `h` more points: on this page, or else on a new one (`p` becomes it). False
    /// only for a block taller than a page.
    fn room(&mut self, p: &mut Page, h: f32) -> bool {
        if self.y + h <= BOTTOM {
            return true;
        }
        if CONT_TOP + h > BOTTOM {
            return false;
        }
        self.done.push(std::mem::take(p));
        p.text(
            MARGIN,
            40.0,
            8.0,
            false,
            GREY,
            &fit(&self.cont, CONTENT_W, 8.0, false),
        );
        self.y = CONT_TOP;
        true
    }

    /// The pages, the last being `p`.
    fn finish(mut self, p: Page) -> Vec<Page> {
        self.done.push(p);
        self.done
    }

    /// A section heading with a rule under it, kept with the first lines that follow it.
    fn heading(&mut self, p: &mut Page, s: &str) -> bool {
        if !self.room(p, 45.0) {
            return false;
        }
        self.y += 16.0;
        p.text(MARGIN, self.y, 10.5, true, BLACK, s);
        p.line(
            [MARGIN, self.y + 3.0],
            [MARGIN + CONTENT_W, self.y + 3.0],
            RULE,
            0.5,
        );
        self.y += 5.0;
        true
    }

    /// Wrapped text at `x`, `w` wide, at most `max_lines` lines (the last ends in "..." if cut).
    #[allow(clippy::too_many_arguments)]
    fn para(
        &mut self,
        p: &mut Page,
        x: f32,
        w: f32,
        size: f32,
        bold: bool,
        colour: Rgb,
        s: &str,
        max_lines: usize,
    ) {
        let lead = size * 1.25;
        let lines = wrap(s, w, size, bold);
        let n = lines.len();
        for (i, l) in lines.into_iter().enumerate() {
            if !self.room(p, lead) {
                return;
            }
            self.y += lead;
            if i + 1 == max_lines && n > max_lines {
                p.text(
                    x,
                    self.y,
                    size,
                    bold,
                    colour,
                    &fit(&format!("{l} ..."), w, size, bold),
                );
                return;
            }
            p.text(x, self.y, size, bold, colour, &l);
        }
    }
}

/// A table's column: header, width, right-aligned or not.
struct Col {
    head: &'static str,
    w: f32,
    right: bool,
}

fn c(head: &'static str, w: f32, right: bool) -> Col {
    Col { head, w, right }
}

/// A table at `x`: a bold header row, then rows; a cell of the column `wrap_col` wraps, the
/// others are cut to fit. Stops at the bottom of the page.
fn table(
    p: &mut Page,
    f: &mut Flow,
    x: f32,
    cols: &[Col],
    rows: &[Vec<String>],
    wrap_col: Option<usize>,
    size: f32,
) {
    let lead = size * 1.25;
    if !f.room(p, lead * 2.0) {
        return;
    }
    f.y += lead;
    let mut cx = x;
    for col in cols {
        if col.right {
            p.text_right(cx + col.w - 4.0, f.y, size, true, GREY, col.head);
        } else {
            p.text(
                cx,
                f.y,
                size,
                true,
                GREY,
                &fit(col.head, col.w - 4.0, size, true),
            );
        }
        cx += col.w;
    }
    for row in rows {
        let lines: Vec<Vec<String>> = cols
            .iter()
            .zip(row)
            .enumerate()
            .map(|(i, (col, cell))| {
                if Some(i) == wrap_col {
                    wrap(cell, col.w - 4.0, size, false)
                } else {
                    vec![fit(cell, col.w - 4.0, size, false)]
                }
            })
            .collect();
        let height = lines.iter().map(Vec::len).max().unwrap_or(1);
        if !f.room(p, lead * height as f32 + 2.0) {
            return;
        }
        f.y += 2.0;
        let top = f.y;
        let mut cx = x;
        for (col, cell) in cols.iter().zip(&lines) {
            for (k, l) in cell.iter().enumerate() {
                let y = top + lead * (k as f32 + 1.0);
                if col.right {
                    p.text_right(cx + col.w - 4.0, y, size, false, BLACK, l);
                } else {
                    p.text(cx, y, size, false, BLACK, l);
                }
            }
            cx += col.w;
        }
        f.y = top + lead * height as f32;
    }
}

/// The score as the map and `/rank` show it: the four-decimal value to three decimals.
pub fn score_text(score: f64) -> String {
    format!("{:.3}", (score * 1e4).round() / 1e4)
}

/// The criteria a report explains: all but `plan` when no plan overlay was chosen (as the
/// reasons in words do).
fn shown(r: &Ranked) -> Vec<usize> {
    (0..CRITERIA.len())
        .filter(|&i| CRITERIA[i] != Criterion::Plan || r.values[i].norm.is_some())
        .collect()
}

fn footer(p: &mut Page, r: &Report, page: usize, total: usize) {
    let y = PAGE_H - 22.0;
    p.line(
        [MARGIN, y - 10.0],
        [MARGIN + CONTENT_W, y - 10.0],
        RULE,
        0.5,
    );
    let left = format!(
        "sitefinder {} - shortlist \"{}\" - report made {} - data sources and attribution on page 1",
        env!("CARGO_PKG_VERSION"),
        r.name(),
        r.made
    );
    p.text(
        MARGIN,
        y,
        7.0,
        false,
        GREY,
        &fit(&left, CONTENT_W - 70.0, 7.0, false),
    );
    p.text_right(
        MARGIN + CONTENT_W,
        y,
        7.0,
        false,
        GREY,
        &format!("page {page} of {total}"),
    );
}

/// The cover: what the report is, how it was made, the sites with the page each starts on
/// (`starts`), the data and the attribution.
fn cover(r: &Report, starts: &[usize]) -> Vec<Page> {
    let mut p = Page::new();
    let a = r.atlas;
    let mut f = Flow::new(50.0, format!("Site report \"{}\" (continued)", r.name()));
    p.text(MARGIN, f.y, 11.0, false, GREY, "sitefinder site report");
    f.y += 8.0;
    f.para(&mut p, MARGIN, CONTENT_W, 20.0, true, BLACK, &r.name(), 2);
    let n = r.ranking.rows.len();
    f.y += 4.0;
    f.para(
        &mut p,
        MARGIN,
        CONTENT_W,
        10.0,
        false,
        BLACK,
        &format!(
            "{n} site{} from the shortlist, each from a new page (listed below), in score order: ranked with the weights, date and GP catchments the shortlist was made with.",
            if n == 1 { "" } else { "s" }
        ),
        3,
    );

    f.heading(&mut p, "How it was made");
    let weights = CRITERIA
        .iter()
        .filter(|c| **c != Criterion::Plan || r.ranking.settings.plan.is_some())
        .map(|c| format!("{} {}", criterion_words(*c), r.ranking.weights.get(*c)))
        .collect::<Vec<_>>()
        .join(", ");
    let made_from = r
        .filters
        .iter()
        .find(|(k, _)| k == "made from")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut facts = vec![
        ("Shortlist made", short_time(&r.member("shortlist_created"))),
        (
            "Shortlist last changed",
            short_time(&r.member("shortlist_updated")),
        ),
        ("Report made", r.made.to_string()),
        ("Weights", weights),
        (
            "Made from the query",
            if made_from.is_empty() {
                "(units added by id)".into()
            } else {
                query_words(&made_from)
            },
        ),
        ("Vacancy measured at", r.member("as_of")),
        ("GP catchments", r.member("catchments")),
        (
            "Walking reach",
            format!("{} (straight line)", Distance(r.reach_m())),
        ),
    ];
    if let Some(o) = &r.ranking.settings.plan {
        facts.push(("Council plan overlay", o.name.clone()));
    }
    facts.push(("Units file", r.units_files.join(", ")));
    facts.push(("sitefinder", r.member("sitefinder")));
    for (k, v) in facts {
        let top = f.y;
        p.text(MARGIN, top + 10.0, 8.5, true, BLACK, k);
        f.para(
            &mut p,
            MARGIN + 130.0,
            CONTENT_W - 130.0,
            8.5,
            false,
            BLACK,
            &v,
            8,
        );
        f.y = f.y.max(top + 10.6);
    }

    f.heading(&mut p, "Sites");
    let rows: Vec<Vec<String>> = r
        .ranking
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let u = &r.units[row.unit];
            let l = &a.lsoas[r.contexts[row.unit].lsoa];
            vec![
                row.rank.to_string(),
                u.name.to_string(),
                u.address.to_string(),
                score_text(row.score),
                l.imd_decile.to_string(),
                starts[i].to_string(),
            ]
        })
        .collect();
    let cols = [
        c("#", 20.0, false),
        c("Name", 150.0, false),
        c("Address", 223.0, false),
        c("Score", 45.0, true),
        c("IMD decile", 50.0, true),
        c("Page", 35.0, true),
    ];
    table(&mut p, &mut f, MARGIN, &cols, &rows, None, 8.0);

    f.heading(&mut p, "Data");
    let imd = a.imd;
    let mut data = vec![
        format!(
            "Deprivation: {} ({}; deciles: 1 = the most deprived 10% of England's LSOAs).",
            imd.source(),
            imd.label()
        ),
        format!("Where each layer has data: {}.", a.coverage_in_words()),
        format!("{}.", r.member("gp_list_sizes")),
    ];
    let used = [
        imd.boundary_file(),
        imd.lsoa_file(),
        "gp_practices.csv.gz",
        "vaccination_sites.csv.gz",
        "pharmacies.csv.gz",
        "stops.csv.gz",
    ];
    for l in &a.manifest.layers {
        if used.contains(&l.file.as_str()) {
            data.push(format!(
                "{} ({}): {}; {}.",
                l.name, l.vintage, l.source, l.licence
            ));
        }
    }
    for d in data {
        f.para(&mut p, MARGIN, CONTENT_W, 7.5, false, BLACK, &d, 3);
    }

    f.heading(&mut p, "Attribution");
    for line in &a.manifest.attribution {
        f.para(&mut p, MARGIN, CONTENT_W, 7.5, false, BLACK, line, 3);
    }

    f.heading(&mut p, "How to read a site page");
    f.para(
        &mut p,
        MARGIN,
        CONTENT_W,
        7.5,
        false,
        BLACK,
        "Each criterion is scaled 0 to 1 on a fixed, documented scale (1 = a better site); a criterion whose layer has no data for the place is left out rather than counted as 0. The score is the weighted mean of the scaled values, so it runs from 0 to 1, and each criterion's contribution is its share of it. Distances are straight lines. The map shows 3 km by 3 km around the site, north up, drawn from the data shipped with sitefinder.",
        6,
    );
    f.finish(p)
}

/// Draws a marker of `kind` centred on `at` (page points).
fn marker(p: &mut Page, kind: Marker, at: [f32; 2]) {
    let [x, y] = at;
    match kind {
        Marker::Unit => p.rings(
            &[vec![[x, y - 8.0], [x + 8.0, y], [x, y + 8.0], [x - 8.0, y]]],
            Some(UNIT_FILL),
            Some((BLACK, 1.2)),
        ),
        Marker::OtherUnit => p.rings(
            &[vec![[x, y - 5.0], [x + 5.0, y], [x, y + 5.0], [x - 5.0, y]]],
            Some(WHITE),
            Some((BLACK, 0.9)),
        ),
        Marker::Practice => p.rect(
            x - 3.2,
            y - 3.2,
            6.4,
            6.4,
            Some(PRACTICE),
            Some((WHITE, 0.7)),
        ),
        Marker::Vaccination => p.rings(
            &[vec![[x, y - 4.5], [x + 4.2, y + 3.2], [x - 4.2, y + 3.2]]],
            Some(VACCINATION),
            Some((WHITE, 0.7)),
        ),
        Marker::Pharmacy => {
            let ring: Vec<[f32; 2]> = (0..16)
                .map(|i| {
                    let t = i as f32 / 16.0 * std::f32::consts::TAU;
                    [x + 3.0 * t.cos(), y + 3.0 * t.sin()]
                })
                .collect();
            p.rings(&[ring], Some(PHARMACY), Some((WHITE, 0.7)));
        }
    }
}

#[derive(Clone, Copy)]
enum Marker {
    Unit,
    OtherUnit,
    Practice,
    Vaccination,
    Pharmacy,
}

/// A small label with a white box behind it.
fn label(p: &mut Page, at: [f32; 2], s: &str) {
    let w = width(s, 7.0, true);
    p.rect(at[0] - 1.0, at[1] - 6.5, w + 2.0, 8.0, Some(WHITE), None);
    p.text(at[0], at[1], 7.0, true, BLACK, s);
}

/// The sites of a layer within the map, if the layer has data for the site's local authority.
fn in_view(layer: &Layer, lad: &str, at: [f64; 2]) -> Option<Vec<(usize, f64)>> {
    layer.coverage.covers(lad).then(|| {
        layer
            .index
            .within(at, MAP_HALF_M * std::f64::consts::SQRT_2)
    })
}

/// The map square with its top-left corner at `(mx, my)`.
fn map(p: &mut Page, r: &Report, row: &Ranked, mx: f32, my: f32) {
    let a = r.atlas;
    let u = &r.units[row.unit];
    let ctx = &r.contexts[row.unit];
    let lad = &a.lsoas[ctx.lsoa].lad_code;
    let [cx, cy] = u.pos;
    let k = MAP_SIDE as f64 / (2.0 * MAP_HALF_M);
    let to = |q: [f64; 2]| -> [f32; 2] {
        [
            mx + ((q[0] - cx + MAP_HALF_M) * k) as f32,
            my + ((cy + MAP_HALF_M - q[1]) * k) as f32,
        ]
    };
    let inside =
        |q: [f32; 2]| q[0] >= mx && q[0] <= mx + MAP_SIDE && q[1] >= my && q[1] <= my + MAP_SIDE;
    p.rect(mx, my, MAP_SIDE, MAP_SIDE, Some([0.96, 0.96, 0.94]), None);
    p.clip(mx, my, MAP_SIDE, MAP_SIDE);
    let reach = MAP_HALF_M * std::f64::consts::SQRT_2;
    for i in a.lsoa_index.candidates_near(u.pos, reach) {
        let colour = on_white(
            hex(DECILE_COLOURS[(a.lsoas[i].imd_decile.clamp(1, 10) - 1) as usize]),
            0.55,
        );
        for poly in &a.lsoa_shapes[i].0 {
            let rings: Vec<Vec<[f32; 2]>> = std::iter::once(poly.exterior())
                .chain(poly.interiors())
                .map(|ring| ring.0.iter().map(|c| to([c.x, c.y])).collect())
                .collect();
            p.rings(&rings, Some(colour), Some((WHITE, 0.5)));
        }
    }
    // The walking-reach circle: white under a dark dashed line, visible on any colour.
    let ring: Vec<[f32; 2]> = circle(u.pos, r.reach_m(), 96).into_iter().map(to).collect();
    let mut closed = ring.clone();
    if let Some(first) = ring.first() {
        closed.push(*first);
    }
    p.polyline(&closed, WHITE, 2.6, None);
    p.polyline(&closed, REACH, 1.2, Some([4.0, 2.5]));
    if let Some(sites) = in_view(&a.pharmacies, lad, u.pos) {
        for (i, _) in sites {
            marker(p, Marker::Pharmacy, to(a.pharmacies.sites[i].pos));
        }
    }
    if let Some(sites) = in_view(&a.vaccination_sites, lad, u.pos) {
        for (i, _) in sites {
            marker(p, Marker::Vaccination, to(a.vaccination_sites.sites[i].pos));
        }
    }
    for (i, _) in a.practice_index.within(u.pos, reach) {
        marker(p, Marker::Practice, to(a.practices[i].pos));
    }
    // The nearest practices' numbers; practices at one spot (a shared health centre) share
    // one label, "1, 2".
    let mut labels: Vec<([f32; 2], Vec<String>)> = vec![];
    for (n, (i, _)) in ctx.nearest_practices.iter().enumerate() {
        let at = to(a.practices[i].pos);
        match labels
            .iter_mut()
            .find(|(q, _)| (q[0] - at[0]).abs() < 6.0 && (q[1] - at[1]).abs() < 6.0)
        {
            Some((_, names)) => names.push((n + 1).to_string()),
            None => labels.push((at, vec![(n + 1).to_string()])),
        }
    }
    for (at, names) in labels {
        if inside(at) {
            label(p, [at[0] + 4.5, at[1] - 2.0], &names.join(", "));
        }
    }
    // The shortlist's other sites in view, with their numbers.
    for other in &r.ranking.rows {
        if other.unit == row.unit || r.units[other.unit].pos == u.pos {
            continue;
        }
        let at = to(r.units[other.unit].pos);
        if inside(at) {
            marker(p, Marker::OtherUnit, at);
            label(p, [at[0] + 6.0, at[1] - 3.0], &format!("#{}", other.rank));
        }
    }
    marker(p, Marker::Unit, to(u.pos));
    p.unclip();

    // Scale bar, 0 - 500 m - 1 km, on a white box at the bottom left.
    let km = (1000.0 * k) as f32;
    let (sx, sy) = (mx + 8.0, my + MAP_SIDE - 12.0);
    p.rect(
        sx - 4.0,
        sy - 16.0,
        km + 26.0,
        24.0,
        Some(WHITE),
        Some((RULE, 0.4)),
    );
    p.rect(sx, sy, km / 2.0, 3.5, Some(BLACK), Some((BLACK, 0.5)));
    p.rect(
        sx + km / 2.0,
        sy,
        km / 2.0,
        3.5,
        Some(WHITE),
        Some((BLACK, 0.5)),
    );
    p.text_centred(sx, sy - 3.0, 6.5, false, BLACK, "0");
    p.text_centred(sx + km / 2.0, sy - 3.0, 6.5, false, BLACK, "500 m");
    p.text_centred(sx + km, sy - 3.0, 6.5, false, BLACK, "1 km");
    // North arrow at the top right.
    let (nx, ny) = (mx + MAP_SIDE - 16.0, my + 10.0);
    p.rect(
        nx - 9.0,
        ny - 4.0,
        18.0,
        30.0,
        Some(WHITE),
        Some((RULE, 0.4)),
    );
    p.rings(
        &[vec![
            [nx, ny],
            [nx + 5.0, ny + 14.0],
            [nx, ny + 11.0],
            [nx - 5.0, ny + 14.0],
        ]],
        Some(BLACK),
        None,
    );
    p.text_centred(nx, ny + 23.0, 7.5, true, BLACK, "N");
    p.rect(mx, my, MAP_SIDE, MAP_SIDE, None, Some((BLACK, 0.8)));
}

/// The legend and the residents within reach by decile, in the column right of the map.
/// The legend and residents by decile beside the map; returns where the column ends.
/// The residents within `radius_m` of `at` by IMD decile (index 0 = decile 1) and how many
/// LSOAs they live in: the ranking's `reach` (the residents' surface) split in the shares the
/// exact areal interpolation gives each decile, so the table adds up to the figure the ranking
/// scores. Where the exact computation finds nobody, its own (zero) parts.
pub fn residents_by_decile(
    a: &crate::reference::atlas::Atlas,
    at: [f64; 2],
    radius_m: f64,
    reach: &Reach,
) -> ([f64; 10], usize) {
    let parts = reach_parts(a, at, radius_m);
    let exact: f64 = parts.iter().map(|p| p.1).sum();
    let scale = if exact > 0.0 {
        reach.population / exact
    } else {
        1.0
    };
    let mut by = [0.0f64; 10];
    for (i, pop) in &parts {
        by[(a.lsoas[*i].imd_decile.clamp(1, 10) - 1) as usize] += pop * scale;
    }
    (by, parts.len())
}

fn beside_map(p: &mut Page, r: &Report, row: &Ranked, x: f32, top: f32) -> f32 {
    let a = r.atlas;
    let u = &r.units[row.unit];
    let ctx = &r.contexts[row.unit];
    let lad = &a.lsoas[ctx.lsoa].lad_code;
    let w = PAGE_W - MARGIN - x;
    let mut y = top + 9.0;
    p.text(x, y, 9.0, true, BLACK, "Map");
    y += 11.0;
    p.text(
        x,
        y,
        7.0,
        false,
        BLACK,
        &format!(
            "{} decile of each {} (1 = most deprived)",
            a.imd.label(),
            a.imd.lsoa_label()
        ),
    );
    for (d, colour) in DECILE_COLOURS.iter().enumerate() {
        let (col, rw) = (d / 5, d % 5);
        let (sx, sy) = (x + col as f32 * 100.0, y + 4.0 + rw as f32 * 10.0);
        p.rect(
            sx,
            sy,
            12.0,
            7.5,
            Some(on_white(hex(*colour), 0.55)),
            Some((GREY, 0.3)),
        );
        let words = match d {
            0 => "1 most deprived".to_string(),
            9 => "10 least deprived".to_string(),
            _ => (d + 1).to_string(),
        };
        p.text(sx + 16.0, sy + 6.5, 7.0, false, BLACK, &words);
    }
    y += 58.0;
    let pharmacies = if a.pharmacies.coverage.covers(lad) {
        "Pharmacy".to_string()
    } else {
        format!(
            "Pharmacies: no data here (the layer covers {})",
            a.describe_coverage(&a.pharmacies.coverage)
        )
    };
    let items: [(Option<Marker>, String); 6] = [
        (Some(Marker::Unit), format!("This site ({})", u.id)),
        (
            None,
            format!("Walking reach, {} straight line", Distance(r.reach_m())),
        ),
        (
            Some(Marker::Practice),
            "GP practice (1-3: nearest, as listed below)".into(),
        ),
        (
            Some(Marker::Vaccination),
            "Vaccination site (February 2021)".into(),
        ),
        (
            a.pharmacies
                .coverage
                .covers(lad)
                .then_some(Marker::Pharmacy),
            pharmacies,
        ),
        (
            Some(Marker::OtherUnit),
            "Another site of this shortlist (#rank)".into(),
        ),
    ];
    for (m, text) in items {
        let cy = y + 5.0;
        match m {
            Some(m) => marker(p, m, [x + 6.0, cy - 2.5]),
            None => {
                p.polyline(
                    &[[x, cy - 2.5], [x + 12.0, cy - 2.5]],
                    REACH,
                    1.2,
                    Some([3.0, 2.0]),
                );
            }
        }
        p.text(
            x + 18.0,
            cy,
            7.0,
            false,
            BLACK,
            &fit(&text, w - 18.0, 7.0, false),
        );
        y += 12.0;
    }

    // Residents within reach by IMD decile: the join's own reach.
    y += 12.0;
    p.text(
        x,
        y,
        9.0,
        true,
        BLACK,
        &format!("Residents within {} by IMD decile", Distance(r.reach_m())),
    );
    let (by, lsoas) = residents_by_decile(a, u.pos, r.reach_m(), &ctx.reach);
    let total: f64 = by.iter().sum();
    y += 12.0;
    let (c1, c2, c3) = (x, x + 120.0, x + w - 2.0);
    p.text(c1, y, 7.5, true, GREY, "IMD decile");
    p.text_right(c2, y, 7.5, true, GREY, "Residents");
    p.text_right(c3, y, 7.5, true, GREY, "Share");
    for (d, pop) in by.iter().enumerate() {
        if pop.round() < 1.0 {
            continue;
        }
        y += 9.5;
        p.rect(
            c1,
            y - 6.5,
            7.0,
            7.0,
            Some(on_white(hex(DECILE_COLOURS[d]), 0.55)),
            None,
        );
        p.text(c1 + 11.0, y, 7.5, false, BLACK, &(d + 1).to_string());
        p.text_right(c2, y, 7.5, false, BLACK, &Thousands(*pop).to_string());
        p.text_right(
            c3,
            y,
            7.5,
            false,
            BLACK,
            &format!("{:.0}%", 100.0 * pop / total.max(1e-9)),
        );
    }
    y += 3.0;
    p.line([c1, y], [c3, y], RULE, 0.5);
    y += 9.5;
    p.text(c1, y, 7.5, true, BLACK, "All");
    p.text_right(c2, y, 7.5, true, BLACK, &Thousands(total).to_string());
    p.text_right(c3, y, 7.5, true, BLACK, "100%");
    y += 11.0;
    for l in wrap(
        &format!(
            "{} ({}), each LSOA's share by the part of its area inside the circle (on a 100 m grid; split by decile exactly).",
            a.imd.population_label(),
            lsoas.to_string() + " LSOAs"
        ),
        w,
        6.5,
        false,
    ) {
        p.text(x, y, 6.5, false, GREY, &l);
        y += 8.0;
    }
    y
}

/// A site's page (and more pages when its text runs on).
fn site_pages(r: &Report, i: usize, row: &Ranked) -> Vec<Page> {
    let mut p = Page::new();
    let a = r.atlas;
    let u = &r.units[row.unit];
    let ctx = &r.contexts[row.unit];
    let l = &a.lsoas[ctx.lsoa];
    let n = r.ranking.rows.len();
    let mut f = Flow::new(
        40.0,
        format!(
            "Site {} of {n} (continued) - {} - shortlist \"{}\"",
            i + 1,
            u.name.trim(),
            r.name()
        ),
    );
    p.text(
        MARGIN,
        f.y,
        8.0,
        false,
        GREY,
        &fit(
            &format!("Site {} of {n} - shortlist \"{}\"", i + 1, r.name()),
            CONTENT_W,
            8.0,
            false,
        ),
    );
    f.y += 18.0;
    let title = if u.name.trim().is_empty() {
        &u.id
    } else {
        &u.name
    };
    p.text(
        MARGIN,
        f.y,
        15.0,
        true,
        BLACK,
        &fit(title, CONTENT_W, 15.0, true),
    );
    f.y += 14.0;
    let postcode = u.postcode.as_deref().unwrap_or_default().to_string();
    let address = if u.address.trim().is_empty() {
        postcode
    } else if postcode.is_empty() || u.address.contains(postcode.as_str()) {
        u.address.to_string()
    } else {
        format!("{}, {postcode}", u.address)
    };
    p.text(
        MARGIN,
        f.y,
        10.0,
        false,
        BLACK,
        &fit(&address, CONTENT_W, 10.0, false),
    );
    f.y += 12.0;
    let (lon, lat) = crate::export::table::lonlat(u, ctx).unwrap_or((f64::NAN, f64::NAN));
    p.text(
        MARGIN,
        f.y,
        7.5,
        false,
        GREY,
        &fit(
            &format!(
                "Unit {} - {} {} ({}) - {} - {:.5}, {:.5} (E {:.0}, N {:.0})",
                u.id,
                a.imd.lsoa_label(),
                l.code,
                l.name,
                l.lad_name,
                lat,
                lon,
                u.pos[0],
                u.pos[1]
            ),
            CONTENT_W,
            7.5,
            false,
        ),
    );
    f.y += 20.0;
    let score = format!("Score {}", score_text(row.score));
    p.text(MARGIN, f.y, 13.0, true, BLACK, &score);
    p.text(
        MARGIN + width(&score, 13.0, true) + 10.0,
        f.y,
        9.5,
        false,
        BLACK,
        &format!(
            "rank {} of {n} in this shortlist - {} decile {} (1 = most deprived)",
            row.rank,
            a.imd.label(),
            l.imd_decile
        ),
    );
    let map_top = f.y + 10.0;
    map(&mut p, r, row, MARGIN, map_top);
    let column_end = beside_map(&mut p, r, row, MARGIN + MAP_SIDE + 14.0, map_top);
    // The caption under the map, and under the column beside it when that runs longer.
    f.y = (map_top + MAP_SIDE).max(column_end - 6.0);
    f.para(
        &mut p,
        MARGIN,
        CONTENT_W,
        6.5,
        false,
        GREY,
        "Map drawn from the data shipped with sitefinder (no web map tiles); 3 km by 3 km, north up. Boundaries: ONS; contains OS data (Crown copyright).",
        2,
    );

    f.heading(&mut p, "Why it scores as it does");
    let weights = &r.ranking.weights;
    let rows: Vec<Vec<String>> = shown(row)
        .into_iter()
        .map(|i| {
            let v = &row.values[i];
            vec![
                criterion_words(CRITERIA[i]).to_string(),
                format!("{}", weights.get(CRITERIA[i])),
                v.norm.map_or("no data".into(), |x| format!("{x:.2}")),
                if v.norm.is_some() {
                    format!("{:.3}", row.contributions[i])
                } else {
                    "not counted".into()
                },
                v.why.clone(),
            ]
        })
        .collect();
    let cols = [
        c("Criterion", 104.0, false),
        c("Weight", 34.0, true),
        c("Value 0-1", 44.0, true),
        c("Contribution", 54.0, true),
        c("Why", 287.0, false),
    ];
    table(&mut p, &mut f, MARGIN, &cols, &rows, Some(4), 7.5);
    if f.room(&mut p, 12.0) {
        f.y += 11.0;
        p.text(
            MARGIN,
            f.y,
            7.5,
            true,
            BLACK,
            "Score (the sum of the contributions)",
        );
        p.text_right(
            MARGIN + 232.0,
            f.y,
            7.5,
            true,
            BLACK,
            &score_text(row.score),
        );
    }

    f.heading(&mut p, "Nearest GP practices");
    let rows: Vec<Vec<String>> = ctx
        .nearest_practices
        .iter()
        .enumerate()
        .map(|(n, (pi, d))| {
            let pr = &a.practices[pi];
            vec![
                (n + 1).to_string(),
                pr.name.clone(),
                pr.practice_code.clone(),
                pr.pcn.clone().unwrap_or_else(|| "(no PCN)".into()),
                Distance(d).to_string(),
                pr.list_size
                    .map_or("not known".into(), |s| Thousands(s as f64).to_string()),
            ]
        })
        .collect();
    let cols = [
        c("Map", 24.0, false),
        c("Practice", 160.0, false),
        c("Code", 44.0, false),
        c("PCN", 150.0, false),
        c("Distance", 55.0, true),
        c("Patients (Jan 2021)", 90.0, true),
    ];
    table(&mut p, &mut f, MARGIN, &cols, &rows, None, 7.5);

    f.heading(&mut p, "Existing sites nearby");
    let lad = &l.lad_code;
    let mut rows: Vec<Vec<String>> = vec![];
    for (layer, what) in [
        (&a.vaccination_sites, "Vaccination site (Feb 2021)"),
        (&a.pharmacies, "Pharmacy"),
    ] {
        if layer.coverage.covers(lad) {
            let near = layer.index.nearest_k(u.pos, 2);
            if near.is_empty() {
                rows.push(vec![
                    what.into(),
                    "none in the layer".into(),
                    String::new(),
                    String::new(),
                ]);
            }
            for (si, d) in near {
                let s = &layer.sites[si];
                rows.push(vec![
                    what.into(),
                    s.name.clone(),
                    s.postcode.clone(),
                    Distance(d).to_string(),
                ]);
            }
        } else {
            rows.push(vec![
                what.into(),
                format!(
                    "no data for {} (the layer covers {})",
                    l.lad_name,
                    a.describe_coverage(&layer.coverage)
                ),
                String::new(),
                String::new(),
            ]);
        }
    }
    let cols = [
        c("Kind", 130.0, false),
        c("Name", 273.0, false),
        c("Postcode", 70.0, false),
        c("Distance", 50.0, true),
    ];
    table(&mut p, &mut f, MARGIN, &cols, &rows, None, 7.5);

    f.heading(&mut p, "Note");
    match row.note.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // Every line of the note (at most 10,000 characters), on as many pages as it takes.
        Some(note) => f.para(
            &mut p,
            MARGIN,
            CONTENT_W,
            9.0,
            false,
            BLACK,
            note,
            usize::MAX,
        ),
        None => f.para(&mut p, MARGIN, CONTENT_W, 9.0, false, GREY, "No note.", 1),
    }
    f.finish(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_on_the_map() {
        assert_eq!(Thousands(12345.4).to_string(), "12,345");
        assert_eq!(Thousands(999.0).to_string(), "999");
        assert_eq!(Thousands(-1234.0).to_string(), "-1,234");
        assert_eq!(score_text(0.61234), "0.612");
        // The four-decimal value /rank returns, to three decimals, as the map shows it.
        assert_eq!(score_text(0.61249), format!("{:.3}", 0.6125));
        assert_eq!(score_text(0.5), "0.500");
    }
}
