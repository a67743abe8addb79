//! One shared copy of text that many items repeat (a council's name, a description such as
//! "Shop and premises", the file a unit came from): a million units hold a pointer each to a
//! few hundred strings instead of a string each.
//!
//! ```
//! use std::sync::Arc;
//! use sitefinder::base::intern::Interner;
//! let mut texts = Interner::default();
//! let a = texts.get("Shop and premises");
//! let b = texts.get("Shop and premises");
//! assert!(Arc::ptr_eq(&a, &b));
//! assert_eq!(&*texts.get("Kiosk"), "Kiosk");
//! assert_eq!(texts.len(), 2);
//! ```

use std::sync::Arc;

/// The distinct texts seen so far, each held once.
#[derive(Debug, Default)]
pub struct Interner(foldhash::HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `text` (made on its first use).
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
    }

    /// [`Interner::get`] of an optional text.
    pub fn opt(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        text.map(|t| self.get(t))
    }

    /// How many distinct texts are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no text is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
