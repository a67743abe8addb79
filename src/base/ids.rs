//! An index of items by their id, holding only each item's position: the ids are read from the
//! items themselves, so a million ids are not copied into a map of their own (a `String` each).
//!
//! ```
//! use sitefinder::base::ids::IdIndex;
//! let ids = ["b", "a", "c"];
//! let index = IdIndex::of(ids.len(), |i| ids[i as usize]);
//! assert_eq!(index.find("a", |i| ids[i as usize]), Some(1));
//! assert_eq!(index.find("z", |i| ids[i as usize]), None);
//! ```

use std::hash::BuildHasher;

/// Positions of items, found by id. Each call is given `id_of`, the id of the item at a
/// position; it must give the ids the positions were inserted with.
#[derive(Debug, Clone, Default)]
pub struct IdIndex {
    table: hashbrown::HashTable<u32>,
    state: foldhash::fast::RandomState,
}

impl IdIndex {
    /// An empty index with room for `n` ids.
    pub fn with_capacity(n: usize) -> IdIndex {
        IdIndex {
            table: hashbrown::HashTable::with_capacity(n),
            state: Default::default(),
        }
    }

    /// The index of the `n` items `0..n` (hashed on every core); of items with the same id,
    /// the first is found.
    pub fn of<'a>(n: usize, id_of: impl Fn(u32) -> &'a str + Sync) -> IdIndex {
        let mut index = IdIndex::with_capacity(n);
        let n = u32::try_from(n).expect("at most 4 billion items");
        let positions: Vec<u32> = (0..n).collect();
        let hashes = crate::base::par::map(&positions, |&i| index.hash(id_of(i)));
        for (i, h) in hashes.into_iter().enumerate() {
            if index.find_hashed(h, id_of(i as u32), &id_of).is_none() {
                index.insert_unique(h, i as u32, &id_of);
            }
        }
        index
    }

    /// The hash this index files `id` under (the same for every call on one index).
    pub fn hash(&self, id: &str) -> u64 {
        self.state.hash_one(id)
    }

    /// The position of the item with this id.
    pub fn find<'a>(&self, id: &str, id_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        self.find_hashed(self.hash(id), id, id_of)
    }

    /// [`IdIndex::find`] with the id's [`IdIndex::hash`] already made.
    pub fn find_hashed<'a>(
        &self,
        hash: u64,
        id: &str,
        id_of: impl Fn(u32) -> &'a str,
    ) -> Option<u32> {
        self.table.find(hash, |&i| id_of(i) == id).copied()
    }

    /// Files position `at` under `hash` (its id's [`IdIndex::hash`]); the id must not be in the
    /// index yet.
    pub fn insert_unique<'a>(&mut self, hash: u64, at: u32, id_of: impl Fn(u32) -> &'a str) {
        let state = &self.state;
        self.table
            .insert_unique(hash, at, |&i| state.hash_one(id_of(i)));
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_is_found_at_its_position_as_the_table_grows() {
        let ids: Vec<String> = (0..5_000).map(|i| format!("unit-{i}")).collect();
        let id_of = |i: u32| ids[i as usize].as_str();
        // From empty: the table grows, rehashing the ids it holds from the items.
        let mut grown = IdIndex::default();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(grown.find(id, id_of), None);
            let h = grown.hash(id);
            grown.insert_unique(h, i as u32, id_of);
        }
        let built = IdIndex::of(ids.len(), id_of);
        for index in [&grown, &built] {
            assert_eq!(index.len(), ids.len());
            for (i, id) in ids.iter().enumerate() {
                assert_eq!(index.find(id, id_of), Some(i as u32));
            }
            assert_eq!(index.find("unit-5000", id_of), None);
            assert_eq!(index.find("", id_of), None);
        }
    }
}
