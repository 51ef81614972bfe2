//! The dedup keys: every stored response's 64-bit key hash, kept as 4,096 sorted arrays by
//! the hash's top 12 bits (table `key_sets`, see `schema`). One SQLite row per key would cost
//! a cold ingest a B-tree insert per response; a few thousand blobs cost little, and a commit
//! rewrites only the arrays that gained keys (measured: more, smaller arrays cost more). The
//! arrays are cached in memory between batches while no other process wrote (`KeyCache`).

use rustc_hash::FxHashMap;

/// Keys are already uniform 64-bit hashes: hashing them again is wasted work.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_i64(&mut self, key: i64) {
        self.0 = key.cast_unsigned();
    }
}

/// A map or set hasher for keys that are hashes already ([`KeyHasher`]).
pub type KeyHash = std::hash::BuildHasherDefault<KeyHasher>;

/// Key arrays loaded from `key_sets`, valid while no other connection has written.
#[derive(Default)]
pub(super) struct KeyCache {
    /// `PRAGMA data_version` when the cache was last known to match the database.
    pub(super) data_version: Option<i64>,
    /// Whether `sets` holds every array of the database.
    pub(super) loaded: bool,
    pub(super) sets: FxHashMap<u16, KeySet>,
}

pub(super) struct KeySet {
    /// Sorted.
    pub(super) keys: Vec<i64>,
    pub(super) dirty: bool,
}

pub(super) fn key_bucket(key: i64) -> u16 {
    // The top 12 bits: always fits.
    u16::try_from(key.cast_unsigned() >> 52).unwrap_or(u16::MAX)
}
