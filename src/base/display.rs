//! Text a closure writes, as a value a format string can hold: a list inside a sentence, written
//! in place without a string of its own.

use std::fmt;

/// Text written by a closure, in place (`std::fmt::from_fn`, which is newer than the Rust this
/// crate supports): a list in a sentence without a string of its own.
///
/// ```
/// use sitefinder::base::display::Writes;
/// let codes = ["P1", "P2"];
/// let list = Writes(|f: &mut std::fmt::Formatter<'_>| f.write_str(&codes.join(", ")));
/// assert_eq!(format!("({list})"), "(P1, P2)");
/// ```
pub struct Writes<F>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Writes<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}
