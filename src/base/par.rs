//! Work split over the machine's cores, in order: the import, the join, putting rows into words
//! and writing them all treat items independently. Rayon's pool of threads does the work: its
//! threads live as long as the process, so what a thread keeps (its PROJ transformation, made
//! once in about 25 ms) is made once per core, not once per call.
//!
//! ```
//! let squares = sitefinder::base::par::map(&(0..10_000).collect::<Vec<u64>>(), |x| x * x);
//! assert_eq!(squares[9_999], 9_999 * 9_999);
//! let mut v: Vec<u64> = (0..5_000).collect();
//! sitefinder::base::par::for_each_mut(&mut v, |x| *x += 1);
//! assert_eq!(v[4_999], 5_000);
//! ```

use rayon::prelude::*;

/// How many items each thread takes (at least `min_chunk`).
fn split(len: usize, min_chunk: usize) -> usize {
    len.div_ceil(rayon::current_num_threads())
        .max(min_chunk)
        .max(1)
}

/// `f` of every item, in order, gathered straight into one vector (what `f` makes may borrow
/// from the items).
pub fn map<'a, T: Sync, R: Send>(items: &'a [T], f: impl Fn(&'a T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1_024 {
        return items.iter().map(&f).collect();
    }
    items.par_iter().with_min_len(256).map(&f).collect()
}

/// `f` of each run of items (at least `min_chunk` long, one run per core), in order: for work
/// with a per-run state (a cache, a buffer).
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    min_chunk: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let chunk = split(items.len(), min_chunk);
    if items.len() <= chunk {
        return vec![f(items)];
    }
    items.par_chunks(chunk).map(&f).collect()
}

/// `f` on every item in place.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    if items.len() <= 1_024 {
        items.iter_mut().for_each(f);
        return;
    }
    items.par_iter_mut().with_min_len(256).for_each(&f);
}
