//! Units at the same place. Rates lists rate every stall, unit and floor separately, so one
//! arcade or shopping centre can fill a top ten. [`group`] gives every unit a `site_id` (the
//! smallest unit id of its site) and `site_units` (how many units the site has), and the
//! ranking's `one_per_site` option keeps the best unit of each site.
//!
//! Two units are at the same site when any of these holds (and it is transitive):
//!
//! - **same building**: their addresses name the same building (a phrase ending in Arcade,
//!   Centre, Mall, Precinct, Market, Hall, House, Mill, Buildings, Chambers, Plaza, Exchange,
//!   Galleries or Works, e.g. "UNIT 4, THE WHEATSHEAF CENTRE" and "SU40 WHEATSHEAF CENTRE",
//!   or "CAFE NO 1 MARKET HALL") and they lie within [`BUILDING_M`] of each other;
//! - **same number**: the same street and house number ("19 BAILLIE STREET" and "1ST FLR 19,
//!   BAILLIE STREET": two floors of one building) within [`NUMBER_M`];
//! - **next door at one position**: the same street, positions within [`SAME_POSITION_M`]
//!   (rates lists are often positioned by postcode, so a parade shares one point) and house
//!   numbers at most two apart ("303" and "305 EDENFIELD ROAD") or both without one.

use std::collections::HashMap;

use crate::ingest::units::Unit;

/// How far apart two units naming the same building may be (the same name in another town is
/// another building).
pub const BUILDING_M: f64 = 300.0;
/// How far apart two units with the same street and number may be (floors of one building are
/// sometimes given different postcodes).
pub const NUMBER_M: f64 = 200.0;
/// "The same position": a few metres.
pub const SAME_POSITION_M: f64 = 5.0;

const BUILDING: &[&str] = &[
    "ARCADE",
    "CENTRE",
    "CENTER",
    "MALL",
    "PRECINCT",
    "MARKET",
    "HALL",
    "HOUSE",
    "MILL",
    "MILLS",
    "BUILDINGS",
    "CHAMBERS",
    "PLAZA",
    "EXCHANGE",
    "GALLERIES",
    "WORKS",
];

const STREET: &[&str] = &[
    "STREET",
    "ST",
    "ROAD",
    "RD",
    "LANE",
    "LN",
    "WAY",
    "PLACE",
    "SQUARE",
    "ROW",
    "GATE",
    "AVENUE",
    "TERRACE",
    "WALK",
    "CLOSE",
    "HILL",
    "PARADE",
    "DRIVE",
    "GREEN",
    "CRESCENT",
    "BROW",
    "BRIDGE",
    "GARDENS",
    "GROVE",
    "ESPLANADE",
];

/// Words that name a unit or floor, not a building or street.
const DESIGNATOR: &[&str] = &[
    "UNIT", "UNITS", "NO", "NOS", "STALL", "STALLS", "SHOP", "SU", "LSU", "KA", "K", "A", "THE",
    "AT", "ADJ", "OPP", "PT", "PART", "GND", "GRD", "GROUND", "FLR", "FLOOR", "FLOORS", "FIRST",
    "BST", "BASEMENT", "AND", "LOWER", "UPPER", "LWR", "LEVEL", "SUITE", "CAFE",
];

fn has_digit(t: &str) -> bool {
    t.bytes().any(|b| b.is_ascii_digit())
}

/// The comma-separated parts of an address, each as upper-case words, without the postcode.
fn parts(u: &Unit) -> Vec<Vec<String>> {
    let pc: Vec<String> = u
        .postcode
        .as_deref()
        .map(|p| p.split_whitespace().map(str::to_uppercase).collect())
        .unwrap_or_default();
    u.address
        .split(',')
        .map(|p| {
            p.to_uppercase()
                .replace('&', " AND ")
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '/')
                .map(|t| t.trim_matches(['-', '/']))
                .filter(|t| !t.is_empty() && !pc.iter().any(|x| x == t))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// The building an address names, e.g. "WHEATSHEAF CENTRE", "MARKET HALL", "MARKET ARCADE".
fn building(parts: &[Vec<String>]) -> Option<String> {
    let is_building = |p: &[String], i: usize| {
        BUILDING.contains(&p[i].as_str())
            && !(p[i] == "MARKET" && p.get(i + 1).is_some_and(|n| STREET.contains(&n.as_str())))
    };
    for (k, part) in parts.iter().enumerate() {
        // A part that is only the building word ("UNIT 17A MIDDLETON SHOPPING, CENTRE")
        // continues the part before it.
        let merged: Vec<String>;
        let p: &[String] = if k > 0 && part.iter().all(|t| BUILDING.contains(&t.as_str())) {
            merged = parts[k - 1].iter().chain(part).cloned().collect();
            &merged
        } else {
            part
        };
        let Some(b) = (0..p.len()).find(|&i| is_building(p, i)) else {
            continue;
        };
        let mut end = b;
        while end + 1 < p.len() && BUILDING.contains(&p[end + 1].as_str()) {
            end += 1;
        }
        let start = (0..b)
            .rev()
            .find(|&i| has_digit(&p[i]) || DESIGNATOR.contains(&p[i].as_str()))
            .map_or(0, |i| i + 1);
        let name: Vec<&str> = p[start..=end]
            .iter()
            .map(String::as_str)
            .filter(|t| *t != "THE")
            .collect();
        if !name.is_empty() {
            return Some(name.join(" "));
        }
    }
    None
}

/// A street and the house number on it (a range), if any.
type Street = (String, Option<(u32, u32)>);

fn ordinal(t: &str) -> bool {
    t.len() >= 3
        && t[..t.len() - 2].bytes().all(|b| b.is_ascii_digit())
        && matches!(&t[t.len() - 2..], "ST" | "ND" | "RD" | "TH")
}

/// The street ("BAILLIE STREET") and the house number before it as a range (`8-12` is 8..=12,
/// `6A` is 6), when the address has them. A number after a unit word ("UNIT 3") is not a house
/// number, nor is an ordinal ("1ST").
fn street_and_number(parts: &[Vec<String>]) -> Option<Street> {
    let name_word = |t: &String| !has_digit(t) && !DESIGNATOR.contains(&t.as_str());
    for (k, p) in parts.iter().enumerate() {
        if !p.iter().any(|t| STREET.contains(&t.as_str())) {
            continue;
        }
        let Some(first) = p.iter().position(name_word) else {
            continue;
        };
        let street: Vec<&str> = p[first..]
            .iter()
            .filter(|t| name_word(t))
            .map(String::as_str)
            .collect();
        // The number: the last word before the street's name, in its part or the one before.
        let (before, candidate) = match first {
            0 if k > 0 => {
                let q = &parts[k - 1];
                (q.len().checked_sub(2).map(|i| q[i].as_str()), q.last())
            }
            0 => (None, None),
            i => (i.checked_sub(2).map(|j| p[j].as_str()), p.get(i - 1)),
        };
        let unit_no = matches!(
            before,
            Some("UNIT" | "UNITS" | "NO" | "NOS" | "STALL" | "STALLS" | "SU" | "LSU" | "SUITE")
        );
        let number = candidate
            .filter(|t| has_digit(t) && !ordinal(t) && !unit_no)
            .and_then(|t| {
                let nums: Vec<u32> = t
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|x| x.parse().ok())
                    .collect();
                match nums.as_slice() {
                    [] => None,
                    [a] => Some((*a, *a)),
                    [a, .., b] => Some(((*a).min(*b), (*a).max(*b))),
                }
            });
        return Some((street.join(" "), number));
    }
    None
}

fn dist(a: &Unit, b: &Unit) -> f64 {
    ((a.pos[0] - b.pos[0]).powi(2) + (a.pos[1] - b.pos[1]).powi(2)).sqrt()
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

/// Joins the units of each bucket that `near` says are at the same site.
fn join_buckets<K: std::hash::Hash + Eq>(
    units: &[Unit],
    parent: &mut [usize],
    keys: impl Iterator<Item = (usize, K)>,
    near: impl Fn(&Unit, &Unit) -> bool,
) {
    let mut buckets: HashMap<K, Vec<usize>> = HashMap::new();
    for (i, k) in keys {
        buckets.entry(k).or_default().push(i);
    }
    for members in buckets.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if near(&units[a], &units[b]) {
                    union(parent, a, b);
                }
            }
        }
    }
}

/// Sets every unit's `site_id` and `site_units` (see the module documentation).
pub fn group(units: &mut [Unit]) {
    let n = units.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // Reading the addresses is per unit: on every core.
    let (buildings, streets): (Vec<Option<String>>, Vec<Option<Street>>) =
        crate::base::par::map(units, |u| {
            let p = parts(u);
            (building(&p), street_and_number(&p))
        })
        .into_iter()
        .unzip();
    join_buckets(
        units,
        &mut parent,
        buildings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.as_deref().map(|b| (i, b))),
        |a, b| dist(a, b) <= BUILDING_M,
    );
    join_buckets(
        units,
        &mut parent,
        streets.iter().enumerate().filter_map(|(i, s)| match s {
            Some((st, Some(num))) => Some((i, (st.as_str(), *num))),
            _ => None,
        }),
        |a, b| dist(a, b) <= NUMBER_M,
    );
    // Next door at one position: same street, same 5 m cell, numbers at most two apart.
    let cell = |u: &Unit| {
        (
            (u.pos[0] / SAME_POSITION_M).floor() as i64,
            (u.pos[1] / SAME_POSITION_M).floor() as i64,
        )
    };
    let number_of = |i: usize| streets[i].as_ref().and_then(|(_, n)| *n);
    let mut buckets: HashMap<(&str, (i64, i64)), Vec<usize>> = HashMap::new();
    for (i, s) in streets.iter().enumerate() {
        if let Some((st, _)) = s {
            buckets
                .entry((st.as_str(), cell(&units[i])))
                .or_default()
                .push(i);
        }
    }
    for members in buckets.values() {
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                let next_door = match (number_of(a), number_of(b)) {
                    (None, None) => true,
                    (Some((a0, a1)), Some((b0, b1))) => a0.max(b0).saturating_sub(a1.min(b1)) <= 2,
                    _ => false,
                };
                if next_door && dist(&units[a], &units[b]) <= SAME_POSITION_M {
                    union(&mut parent, a, b);
                }
            }
        }
    }
    // Each site's size and its unit with the smallest id, by the site's root (a million
    // units are a million sites of one, so no list per site).
    let roots: Vec<usize> = (0..n).map(|i| find(&mut parent, i)).collect();
    let mut size = vec![0usize; n];
    let mut smallest: Vec<usize> = (0..n).collect();
    for (i, &r) in roots.iter().enumerate() {
        size[r] += 1;
        if units[i].id < units[smallest[r]].id {
            smallest[r] = i;
        }
    }
    for (i, &r) in roots.iter().enumerate() {
        let first = smallest[r];
        if units[i].site_id != units[first].id {
            units[i].site_id = units[first].id.clone();
        }
        units[i].site_units = size[r];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::units::{LocatedBy, Place};

    fn unit(id: &str, address: &str, pos: [f64; 2]) -> Unit {
        Unit {
            address: address.into(),
            postcode: address.rsplit(',').next().map(|p| p.trim().into()),
            located_by: LocatedBy::Postcode,
            ..Unit::bare(id, pos, Place::Line(2))
        }
    }

    #[test]
    fn real_rochdale_addresses_group_by_building_number_and_next_door() {
        let p = [389_000.0, 413_000.0];
        let q = [389_400.0, 413_050.0];
        let mut us = vec![
            unit(
                "a",
                "UNIT 2-3, MARKET ARCADE, ROCHDALE, LANCASHIRE, OL16 1EB",
                p,
            ),
            unit(
                "b",
                "UNIT 4, MARKET ARCADE, ROCHDALE, LANCASHIRE, OL16 1EB",
                p,
            ),
            unit("c", "20-21 MARKET PLACE, ROCHDALE, LANCASHIRE, OL16 1EB", p),
            unit(
                "d",
                "CAFE NO 1 MARKET HALL, THE MARKET, ROCHDALE, LANCASHIRE, OL16 1EB",
                p,
            ),
            unit(
                "e",
                "MARKET HALL A E BREARLEY, THE MARKET, ROCHDALE, LANCASHIRE, OL16 1EB",
                p,
            ),
            unit(
                "f",
                "UNIT 17A MIDDLETON SHOPPING, CENTRE, MIDDLETON, MANCHESTER, M24 4EL",
                q,
            ),
            unit(
                "g",
                "WILKINSON, MIDDLETON SHOPPING CENTRE, MIDDLETON, MANCHESTER, M24 4EL",
                q,
            ),
            unit("h", "19 BAILLIE STREET, ROCHDALE, LANCASHIRE, OL16 1JA", p),
            unit(
                "i",
                "1ST FLR 19, BAILLIE STREET, ROCHDALE, LANCASHIRE, OL16 1JJ",
                [p[0] + 90.0, p[1]],
            ),
            unit("j", "303 EDENFIELD ROAD, ROCHDALE, LANCASHIRE, OL11 5AQ", q),
            unit("k", "305 EDENFIELD ROAD, ROCHDALE, LANCASHIRE, OL11 5AQ", q),
            unit(
                "l",
                "764 MANCHESTER ROAD, ROCHDALE, LANCASHIRE, OL11 3AW",
                q,
            ),
            unit(
                "m",
                "GND FLR, 794 MANCHESTER ROAD, ROCHDALE, LANCASHIRE, OL11 3AW",
                q,
            ),
            unit("n", "8-12 ST MARYS GATE, ROCHDALE, LANCASHIRE, OL16 1DZ", q),
            unit("o", "20 ST MARYS GATE, ROCHDALE, LANCASHIRE, OL16 1DZ", q),
        ];
        group(&mut us);
        let site = |id: &str| us.iter().find(|u| u.id == id).unwrap().site_id.clone();
        assert_eq!(site("b"), "a", "one arcade");
        assert_eq!(site("c"), "c", "a shop in Market Place is not the arcade");
        assert_eq!(site("e"), "d", "one market hall");
        assert_eq!(site("g"), "f", "one shopping centre");
        assert_eq!(site("i"), "h", "two floors of one building");
        assert_eq!(site("k"), "j", "next door at one position");
        assert_ne!(site("m"), site("l"), "30 numbers apart");
        assert_ne!(site("o"), site("n"), "8 numbers apart");
        assert_eq!(us[0].site_units, 2);
    }
}
