//! Reading parameters from text the same way on the command line, in query strings and in
//! JSON bodies: blank is "not given", and a value that does not parse says what was given.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An optional value from its text (blank = not given).
pub fn opt_from_str<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<T>()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`{v}`: {e}"))),
    }
}

/// Optional text, blank taken as not given.
pub fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
}

/// A value from its text.
pub fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s = String::deserialize(d)?;
    s.trim()
        .parse()
        .map_err(|e| serde::de::Error::custom(format!("`{}`: {e}", s.trim())))
}
