//! The dedup keys: every stored response's 64-bit key hash with its entry's id, kept as 4,096
//! sorted arrays by the hash's top 12 bits (table `entry_keys`, see `schema`). One SQLite row
//! per key would cost a cold ingest a B-tree insert per response; a few thousand blobs cost
//! little, and a commit rewrites only the arrays that gained keys (measured: more, smaller
//! arrays cost more). The id lets a later row of a stored response (its final usage) find the
//! entry it updates without an index on `entries`. The arrays are cached in memory between
//! batches while no other process wrote (`KeyCache`).

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

/// Key arrays loaded from `entry_keys`, valid while no other connection has written.
#[derive(Default)]
pub(super) struct KeyCache {
    /// `PRAGMA data_version` when the cache was last known to match the database.
    pub(super) data_version: Option<i64>,
    /// Whether `sets` holds every array of the database.
    pub(super) loaded: bool,
    pub(super) sets: FxHashMap<u16, KeySet>,
}

/// One array: keys sorted, and beside each its entry's id.
#[derive(Default)]
pub(super) struct KeySet {
    /// Sorted.
    pub(super) keys: Vec<i64>,
    /// `ids[i]` is the id in `entries` of the response whose key is `keys[i]`.
    pub(super) ids: Vec<i64>,
    pub(super) dirty: bool,
}

impl KeySet {
    /// Reads the stored form: (key, id) pairs, each as two little-endian i64, sorted by key.
    pub(super) fn from_blob(blob: &[u8]) -> KeySet {
        let read = |c: &[u8]| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(c);
            i64::from_le_bytes(bytes)
        };
        let pairs = blob.chunks_exact(16);
        let mut set = KeySet {
            keys: Vec::with_capacity(pairs.len()),
            ids: Vec::with_capacity(pairs.len()),
            dirty: false,
        };
        for pair in pairs {
            set.keys.push(read(&pair[..8]));
            set.ids.push(read(&pair[8..]));
        }
        set
    }

    /// The stored form (see [`KeySet::from_blob`]).
    pub(super) fn to_blob(&self) -> Vec<u8> {
        let mut blob = Vec::with_capacity(self.keys.len() * 16);
        for (key, id) in self.keys.iter().zip(&self.ids) {
            blob.extend_from_slice(&key.to_le_bytes());
            blob.extend_from_slice(&id.to_le_bytes());
        }
        blob
    }

    /// Sorts the pairs by key (after they were gathered in another order).
    pub(super) fn sort(&mut self) {
        let mut pairs: Vec<(i64, i64)> = self
            .keys
            .iter()
            .copied()
            .zip(self.ids.iter().copied())
            .collect();
        pairs.sort_unstable();
        (self.keys, self.ids) = pairs.into_iter().unzip();
    }
}

pub(super) fn key_bucket(key: i64) -> u16 {
    // The top 12 bits: always fits.
    u16::try_from(key.cast_unsigned() >> 52).unwrap_or(u16::MAX)
}
