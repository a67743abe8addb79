//! Figures inside sentences, written straight into the sentence: a number to a fixed number
//! of decimals ([`Fixed`], as `{:.N}` writes it), a whole number with thousands separators
//! ([`Thousands`]), a distance in metres or kilometres ([`Distance`]). A national ranking says
//! a dozen figures for each of a million units; these make no string of their own, and
//! [`Fixed`] takes a short way for the figures `{:.N}` would work out digit by digit.
//!
//! ```
//! use sitefinder::base::figures::{Distance, Fixed, Thousands};
//! assert_eq!(format!("{}", Fixed(67.771, 1)), "67.8");
//! assert_eq!(format!("{}", Fixed(2.5, 0)), "2"); // a tie: to the even digit, as `{:.0}`
//! assert_eq!(format!("{}", Thousands(64_791.0)), "64,791");
//! assert_eq!(format!("{}", Distance(363.0)), "360 m");
//! assert_eq!(format!("{}", Distance(3_710.4)), "3.7 km");
//! ```

use std::fmt;

/// `self.0` to `self.1` decimals, exactly as `format!("{:.N}", x)` writes it (the exact
/// binary value rounded half to even). Widths and fills of the format string are not applied.
#[derive(Debug, Clone, Copy)]
pub struct Fixed(pub f64, pub usize);

/// Powers of ten the short way covers (up to four decimals).
const POW: [u64; 5] = [1, 10, 100, 1_000, 10_000];

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fixed(x, dp) = *self;
        // The short way: x scaled is under a billion, so a tie (k + 0.5) is a double and the
        // rounded product is on the same side of it as the exact product, or on it (rounding
        // is monotonic); a product on or within 1e-6 of a tie, a negative figure (and -0) and
        // a large one are left to `{:.N}`.
        if dp < POW.len() && x.is_sign_positive() {
            let y = x * POW[dp] as f64;
            if y < 1e9 {
                let whole = y.floor();
                let frac = y - whole;
                if (frac - 0.5).abs() > 1e-6 {
                    let n = whole as u64 + u64::from(frac > 0.5);
                    let (int, dec) = (n / POW[dp], n % POW[dp]);
                    return if dp == 0 {
                        write!(f, "{int}")
                    } else {
                        write!(f, "{int}.{dec:0dp$}")
                    };
                }
            }
        }
        write!(f, "{x:.dp$}")
    }
}

/// A whole number with commas between thousands ("12,345", "-1,000"), rounded first (to at
/// most `i64`'s range: counts, people and pounds, never near it).
#[derive(Debug, Clone, Copy)]
pub struct Thousands(pub f64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.round() as i64;
        if n < 0 {
            f.write_str("-")?;
        }
        Grouped(n.unsigned_abs()).fmt(f)
    }
}

/// A count with commas between thousands ("1,234,567").
#[derive(Debug, Clone, Copy)]
pub struct Grouped(pub u64);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // At most 20 digits and 6 commas.
        let mut buf = [0u8; 26];
        let mut at = buf.len();
        let mut m = self.0;
        let mut k = 0;
        loop {
            if k > 0 && k % 3 == 0 {
                at -= 1;
                buf[at] = b',';
            }
            at -= 1;
            buf[at] = b'0' + (m % 10) as u8;
            m /= 10;
            k += 1;
            if m == 0 {
                break;
            }
        }
        f.write_str(std::str::from_utf8(&buf[at..]).map_err(|_| fmt::Error)?)
    }
}

/// A distance in metres, as "450 m" (to the nearest 10 m) under a kilometre, else "2.3 km".
#[derive(Debug, Clone, Copy)]
pub struct Distance(pub f64);

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        if m < 1000.0 {
            write!(f, "{} m", Fixed((m / 10.0).round() * 10.0, 0))
        } else {
            write!(f, "{} km", Fixed(m / 1000.0, 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The words' figures before: each its own string.
    fn thousands_before(v: f64) -> String {
        let n = v.round() as i64;
        let s = n.abs().to_string();
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if n < 0 {
            format!("-{out}")
        } else {
            out
        }
    }

    #[test]
    fn ties_and_edges_are_written_as_the_standard_library_writes_them() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            0.125,
            0.375,
            2.675,
            1.005,
            0.045,
            9.995,
            99.95,
            999.5,
            1e9,
            1e12,
            123_456_789.5,
            -2.5,
            -0.04,
            1e-300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            0.049_999_999_999_999_996,
            // Beyond the short way: digits a scaled product would lose.
            1e13 + 0.001_953_125,
            4_503_599_627_370_495.5,
            999_999_999.999_95,
            99_999.999_95,
        ];
        // Every tie and near-tie of the figures a ranking says.
        for k in 0..20_000 {
            let t = k as f64 + 0.5;
            for p in POW {
                let x = t / p as f64;
                // The doubles either side of it.
                xs.extend([
                    x,
                    f64::from_bits(x.to_bits() + 1),
                    f64::from_bits(x.to_bits() - 1),
                ]);
            }
        }
        for x in xs {
            for dp in 0..7 {
                assert_eq!(
                    Fixed(x, dp).to_string(),
                    format!("{x:.dp$}"),
                    "{x:e} to {dp}"
                );
            }
        }
    }

    #[test]
    fn thousands_and_distances() {
        for v in [
            0.0,
            999.0,
            1_000.0,
            64_791.2,
            1_234_567.5,
            -1_000.0,
            -999.4,
            -0.4,
        ] {
            assert_eq!(Thousands(v).to_string(), thousands_before(v), "{v}");
        }
        assert_eq!(Thousands(-1_234.0).to_string(), "-1,234");
        assert_eq!(Grouped(u64::MAX).to_string(), "18,446,744,073,709,551,615");
        assert_eq!(Grouped(1_234_567).to_string(), "1,234,567");
        assert_eq!(Grouped(999).to_string(), "999");
        assert_eq!(Distance(0.0).to_string(), "0 m");
        assert_eq!(Distance(995.0).to_string(), "1000 m");
        assert_eq!(Distance(1_000.0).to_string(), "1.0 km");
        assert_eq!(Distance(12_345.0).to_string(), "12.3 km");
    }

    proptest! {
        #[test]
        fn fixed_is_the_standard_formatting(
            m in 0.0f64..1.0,
            e in -6i32..17,
            negative in any::<bool>(),
            dp in 0usize..6,
        ) {
            let x = if negative { -m } else { m } * 10f64.powi(e);
            prop_assert_eq!(Fixed(x, dp).to_string(), format!("{x:.dp$}"));
        }

        #[test]
        fn fixed_of_any_bits(bits in any::<u64>(), dp in 0usize..5) {
            let x = f64::from_bits(bits);
            prop_assert_eq!(Fixed(x, dp).to_string(), format!("{x:.dp$}"));
        }

        #[test]
        fn thousands_is_as_before(v in -1e12f64..1e12) {
            prop_assert_eq!(Thousands(v).to_string(), thousands_before(v));
        }
    }
}
