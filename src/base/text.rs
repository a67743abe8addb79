//! [`Text`]: the string a unit's own texts are held in (id, name, address, postcode, site).
//!
//! A million units hold five million such texts. Most are short (an id, a postcode, a name),
//! and a `String` of any length is 24 bytes plus an allocation of its own; a [`Text`] is the
//! same 24 bytes and keeps up to 24 bytes of UTF-8 inside them, so short texts need no
//! allocation at all (`compact_str`'s `CompactString`, which reads and compares as a `str`).
//!
//! ```
//! use sitefinder::base::text::Text;
//! let id = Text::from("NDR-0001234");
//! assert_eq!(id, "NDR-0001234");
//! assert!(!id.is_heap_allocated());
//! assert_eq!(std::mem::size_of::<Text>(), std::mem::size_of::<String>());
//! ```

pub type Text = compact_str::CompactString;
