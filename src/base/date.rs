//! Calendar dates as councils and spreadsheets write them.
//!
//! ```
//! use sitefinder::base::date::Date;
//! let d = Date::parse("01.07.2024").unwrap();
//! assert_eq!(d.to_string(), "2024-07-01");
//! assert_eq!(Date::parse("2024-07-01"), Some(d));
//! assert_eq!(Date::parse("11-Dec-20").unwrap().to_string(), "2020-12-11");
//! assert_eq!(Date::parse("2024-07-01").unwrap().days_since(Date::parse("2024-06-01").unwrap()), 30);
//! ```

use std::fmt;

/// A date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let mp = (m as i32 + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date(era * 146_097 + doe - 719_468))
    }

    pub fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let y = yoe + era * 400 + i32::from(m <= 2);
        (y, m, d)
    }

    /// The date `days` after 1970-01-01 (before, when negative).
    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    /// Days since 1970-01-01: `Date::from_days(d.days()) == d`.
    pub fn days(self) -> i32 {
        self.0
    }

    /// Today, from the system clock (UTC).
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Date((secs / 86_400) as i32)
    }

    /// The date `days` later (earlier when negative).
    pub fn add_days(self, days: i32) -> Date {
        Date(self.0 + days)
    }

    /// `self - earlier` in days.
    pub fn days_since(self, earlier: Date) -> i32 {
        // Saturating: dates are never that far apart, but a date read from a damaged file
        // must not overflow.
        self.0.saturating_sub(earlier.0)
    }

    /// Parses ISO `2024-07-01` (a time part is ignored), `01/07/2024`, `01.07.2024`,
    /// `01-07-2024`, `20240701` and `11-Dec-20` / `11 Dec 2020`.
    pub fn parse(s: &str) -> Option<Date> {
        let s = s.trim();
        let s = s
            .split(['T', ' '])
            .next()
            .filter(|p| p.len() >= 8)
            .unwrap_or(s);
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Date::from_ymd(
                s[..4].parse().ok()?,
                s[4..6].parse().ok()?,
                s[6..].parse().ok()?,
            );
        }
        let parts: Vec<&str> = s
            .split(['-', '/', '.', ' '])
            .filter(|p| !p.is_empty())
            .collect();
        if parts.len() != 3 {
            return None;
        }
        if parts[0].len() == 4 {
            return Date::from_ymd(
                parts[0].parse().ok()?,
                parts[1].parse().ok()?,
                parts[2].parse().ok()?,
            );
        }
        let d: u32 = parts[0].parse().ok()?;
        let m: u32 = match parts[1].parse() {
            Ok(m) => m,
            Err(_) => month_from_name(parts[1])?,
        };
        let y: i32 = parts[2].parse().ok()?;
        let y = match parts[2].len() {
            2 => 2000 + y,
            4 => y,
            _ => return None,
        };
        Date::from_ymd(y, m, d)
    }
}

fn month_from_name(s: &str) -> Option<u32> {
    const M: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let l = s.to_ascii_lowercase();
    M.iter()
        .position(|m| l.starts_with(m))
        .map(|i| i as u32 + 1)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl std::str::FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Date, String> {
        Date::parse(s).ok_or_else(|| format!("`{}` is not a date (YYYY-MM-DD)", s.trim()))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_day_for_a_century() {
        let start = Date::from_ymd(1950, 1, 1).unwrap();
        for i in 0..36_600 {
            let d = Date(start.0 + i);
            let (y, m, dd) = d.ymd();
            assert_eq!(Date::from_ymd(y, m, dd), Some(d));
        }
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(Date::parse("31/02/2024"), None);
        assert_eq!(
            Date::parse("2019-06-13T00:00:00").unwrap().to_string(),
            "2019-06-13"
        );
    }
}
