//! What the server keeps for vector tiles (`serve::tiles`): the tiles built so far, at most
//! [`CACHE_BYTES`] of them (the oldest go first), the tiles being built (so that many clients
//! asking for one tile at once wait for one build), and the units' default scores.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

/// Bytes of tiles kept, each tile counted with [`ENTRY_BYTES`] more for its place in the cache
/// (so a flood of tiny empty tiles is bounded too).
pub const CACHE_BYTES: usize = 64 << 20;
/// What keeping one tile costs beyond its bytes (map slot, queue slot, its allocation).
pub const ENTRY_BYTES: usize = 256;

/// (tileset, z, x, y).
pub type Key = (usize, u8, u32, u32);

/// Tiles built so far, oldest first out.
#[derive(Default)]
pub struct TileCache {
    tiles: HashMap<Key, Arc<Vec<u8>>>,
    order: VecDeque<Key>,
    bytes: usize,
}

impl TileCache {
    pub fn get(&self, k: &Key) -> Option<Arc<Vec<u8>>> {
        self.tiles.get(k).cloned()
    }

    pub fn put(&mut self, k: Key, v: Arc<Vec<u8>>) {
        if self.tiles.contains_key(&k) {
            return;
        }
        self.bytes += v.len() + ENTRY_BYTES;
        self.tiles.insert(k, v);
        self.order.push_back(k);
        while self.bytes > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(t) = self.tiles.remove(&old) {
                self.bytes -= t.len() + ENTRY_BYTES;
            }
        }
    }
}

/// A tile being built: its answer when the build ends (every client asking waits for it).
pub type Building =
    tokio::sync::watch::Receiver<Option<Result<Arc<Vec<u8>>, crate::serve::error::ApiError>>>;

/// What the server keeps for tiles: the tiles built, those being built, and the units'
/// default scores.
#[derive(Default)]
pub struct Tiles {
    pub cache: Mutex<TileCache>,
    pub building: Mutex<HashMap<Key, Building>>,
    /// How many tiles have been built since the server started (each once, however many
    /// clients asked for it at the same time, until the cache lets it go).
    pub built: AtomicU64,
    pub unit_scores: OnceLock<Vec<Option<(f64, usize)>>>,
}
