//! Work split over the machine's cores (at most 8 threads), in order: the import, the join,
//! putting rows into words and writing them all treat items independently.
//!
//! ```
//! let squares = sitefinder::base::par::map(&(0..10_000).collect::<Vec<u64>>(), |x| x * x);
//! assert_eq!(squares[9_999], 9_999 * 9_999);
//! let mut v: Vec<u64> = (0..5_000).collect();
//! sitefinder::base::par::for_each_mut(&mut v, |x| *x += 1);
//! assert_eq!(v[4_999], 5_000);
//! ```

/// How many threads: the machine's cores, at most 8.
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// How many items each thread takes (at least `min_chunk`).
fn split(len: usize, min_chunk: usize) -> usize {
    len.div_ceil(threads()).max(min_chunk).max(1)
}

/// `f` of every item, in order. A large input is done a wave at a time (an eighth of it), each
/// wave split over the cores, so the results are held at most once and a wave's worth more,
/// not twice (the threads' parts and the whole).
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = split(items.len(), 1_024);
    if items.len() <= chunk {
        return items.iter().map(&f).collect();
    }
    let wave = items.len().div_ceil(8).max(1_024 * threads());
    let mut out = Vec::with_capacity(items.len());
    for part in items.chunks(wave) {
        let chunk = split(part.len(), 1_024);
        std::thread::scope(|scope| {
            let handles: Vec<_> = part
                .chunks(chunk)
                .map(|part| {
                    let f = &f;
                    scope.spawn(move || part.iter().map(f).collect::<Vec<R>>())
                })
                .collect();
            for h in handles {
                out.extend(h.join().expect("a worker thread panicked"));
            }
        });
    }
    out
}

/// `f` of each run of items (at least `min_chunk` long), in order: for work with a per-thread
/// state (a cache, a buffer).
pub fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    min_chunk: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let chunk = split(items.len(), min_chunk);
    if items.len() <= chunk {
        return vec![f(items)];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                scope.spawn(move || f(part))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread panicked"))
            .collect()
    })
}

/// `f` on every item in place.
pub fn for_each_mut<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let chunk = split(items.len(), 1_024);
    if items.len() <= chunk {
        items.iter_mut().for_each(f);
        return;
    }
    std::thread::scope(|scope| {
        for part in items.chunks_mut(chunk) {
            let f = &f;
            scope.spawn(move || part.iter_mut().for_each(f));
        }
    });
}
