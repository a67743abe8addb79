//! Plain-text tables for the terminal: a header row, a rule, then rows, each column padded to
//! its widest cell (counted in characters, so `£` and `²` take one place), numbers
//! right-aligned; the last column is not padded, so a long note runs on without trailing
//! spaces.

/// One column: its header and whether its cells are aligned to the right.
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub header: &'a str,
    pub right: bool,
}

/// A left-aligned column.
pub fn left(header: &str) -> Column<'_> {
    Column {
        header,
        right: false,
    }
}

/// A right-aligned column (numbers).
pub fn right(header: &str) -> Column<'_> {
    Column {
        header,
        right: true,
    }
}

/// The table as lines of text, two spaces between columns.
///
/// ```
/// use sitefinder::base::table::{aligned, left, right};
/// let t = aligned(&[right("#"), left("Name"), right("Score")],
///                 &[vec!["1".into(), "Café £".into(), "0.634".into()],
///                   vec!["10".into(), "Drake Street".into(), "0.6".into()]]);
/// assert_eq!(t, " #  Name          Score\n--  ------------  -----\n 1  Café £        0.634\n10  Drake Street    0.6\n");
/// ```
pub fn aligned(columns: &[Column], rows: &[Vec<String>]) -> String {
    let len = |s: &str| s.chars().count();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| len(s))
                .chain([len(c.header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| -> String {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, (c, w))) in cells.iter().zip(columns.iter().zip(&widths)).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            let pad = " ".repeat(w - len(cell));
            if c.right {
                out.push_str(&pad);
                out.push_str(cell);
            } else {
                out.push_str(cell);
                if i != last {
                    out.push_str(&pad);
                }
            }
        }
        let mut out = out.trim_end().to_string();
        out.push('\n');
        out
    };
    let mut out = line(columns.iter().map(|c| c.header).collect());
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(rules.iter().map(String::as_str).collect()));
    for r in rows {
        out.push_str(&line(
            (0..columns.len())
                .map(|i| r.get(i).map_or("", String::as_str))
                .collect(),
        ));
    }
    out
}

/// An RFC 3339 UTC time as the tables show it: `2026-11-27 22:40 UTC` (other text unchanged).
pub fn short_time(t: &str) -> String {
    match (t.get(..10), t.get(11..16)) {
        (Some(d), Some(hm)) if t.as_bytes().get(10) == Some(&b'T') => format!("{d} {hm} UTC"),
        _ => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shortened() {
        assert_eq!(
            short_time("2026-11-27T22:40:47.649Z"),
            "2026-11-27 22:40 UTC"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn empty_cells_and_no_rows() {
        let t = aligned(&[left("a"), left("note")], &[vec!["x".into()]]);
        assert_eq!(t, "a  note\n-  ----\nx\n");
    }
}
