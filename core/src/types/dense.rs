//! A hash map whose entries sit in one dense vector: the keyspace's table.
//!
//! The dense vector is what SCAN's cursor and RANDOMKEY's pick need (see `db`), and keeping it
//! separate from the hash index keeps memory tight: the index holds only a `u32` position per
//! slot, entries do not store their hash (it is recomputed on the rare rehash), and the vector
//! grows by doubling rather than matching the index's capacity. Removal swaps the last entry
//! into the hole.

use ahash::RandomState;
use hashbrown::HashTable;

use crate::types::blob::Blob;

/// `V: Send` so that a big table can be freed on the lazyfree thread (see [`Drop`]).
#[derive(Clone)]
pub struct DenseMap<V: Send + 'static> {
    index: HashTable<u32>,
    entries: Vec<(Blob, V)>,
    hasher: RandomState,
}

impl<V: Send + 'static> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap {
            index: HashTable::new(),
            entries: Vec::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<V: Send + 'static> DenseMap<V> {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn position(&self, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(self.hash(key), |&i| entries[i as usize].0.as_bytes() == key)
            .map(|&i| i as usize)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.position(key)?;
        Some(&mut self.entries[i].1)
    }

    pub fn at(&self, i: usize) -> Option<(&Blob, &V)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    pub fn at_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }

    /// Inserts or replaces; returns the old value.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(i) = self.position(key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let hash = self.hash(key);
        let pos = u32::try_from(self.entries.len()).expect("fewer than 2^32 keys per database");
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, pos, |&i| {
            hasher.hash_one(entries[i as usize].0.as_bytes())
        });
        self.entries.push((Blob::new(key), value));
        None
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        let hash = self.hash(key);
        let entries = &self.entries;
        let slot = self
            .index
            .find_entry(hash, |&i| entries[i as usize].0.as_bytes() == key)
            .ok()?;
        let (pos, _) = slot.remove();
        let pos = pos as usize;
        let last = self.entries.len() - 1;
        if pos != last {
            // The last entry moves into the hole: repoint its index slot.
            let moved_hash = self.hash(self.entries[last].0.as_bytes());
            let slot = self
                .index
                .find_mut(moved_hash, |&i| i as usize == last)
                .expect("every entry is indexed");
            *slot = pos as u32;
        }
        let (_, value) = self.entries.swap_remove(pos);
        if self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            self.index.shrink_to(self.entries.len(), |&i| {
                self.hasher.hash_one(self.entries[i as usize].0.as_bytes())
            });
        }
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Blob, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Visits about `count` entries from `cursor` (0 starts) and returns the cursor to continue
    /// from, 0 when done. The walk goes down the dense vector: removal moves only the last entry
    /// (already visited) into a hole, and insertion appends above the walk, so an entry present
    /// for the whole scan is visited at least once, as SCAN promises.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Blob, &V)) -> u64 {
        let len = self.entries.len() as u64;
        let mut pos = if cursor == 0 {
            len
        } else {
            (cursor - 1).min(len)
        };
        let mut visited = 0;
        while pos > 0 && visited < count.max(1) {
            pos -= 1;
            let (k, v) = &self.entries[pos as usize];
            visit(k, v);
            visited += 1;
        }
        if pos == 0 {
            0
        } else {
            pos + 1
        }
    }

    /// Bytes allocated by the table itself (not counting what values own).
    /// Heap bytes of the entries' own allocations (`each`), estimated as Redis's MEMORY
    /// USAGE does: the first `samples` entries measured, their average counted for all.
    pub fn sampled_entry_heap(&self, samples: usize, each: impl Fn(&Blob, &V) -> usize) -> usize {
        let taken = samples.min(self.entries.len());
        if taken == 0 {
            return 0;
        }
        let measured: usize = self.entries[..taken].iter().map(|(k, v)| each(k, v)).sum();
        (measured as f64 / taken as f64 * self.entries.len() as f64) as usize
    }

    pub fn allocated(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Blob, V)>()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

impl<V: Send + 'static> Drop for DenseMap<V> {
    /// A table of many entries (a collection of millions of elements, a flushed database) is
    /// handed to the lazyfree thread: freeing it here would stall the shard.
    fn drop(&mut self) {
        if self.entries.len() > super::lazyfree::LAZYFREE_THRESHOLD {
            super::lazyfree::defer((
                std::mem::take(&mut self.entries),
                std::mem::take(&mut self.index),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_keep_positions_consistent() {
        let mut m = DenseMap::default();
        for i in 0..1000u32 {
            assert!(m.insert(format!("k{i}").as_bytes(), i).is_none());
        }
        assert_eq!(m.insert(b"k5", 55), Some(5));
        for i in (0..1000u32).step_by(3) {
            assert!(m.swap_remove(format!("k{i}").as_bytes()).is_some());
        }
        for i in 0..1000u32 {
            let expect = if i % 3 == 0 {
                None
            } else if i == 5 {
                Some(55)
            } else {
                Some(i)
            };
            assert_eq!(m.get(format!("k{i}").as_bytes()).copied(), expect, "k{i}");
        }
        for (pos, (k, _)) in m.iter().enumerate() {
            assert_eq!(m.position(k), Some(pos));
        }
        assert!(m.swap_remove(b"absent").is_none());
    }

    #[test]
    fn shrinks_after_mass_removal() {
        let mut m = DenseMap::default();
        for i in 0..10_000u32 {
            m.insert(format!("k{i}").as_bytes(), i);
        }
        let big = m.allocated();
        for i in 0..9_900u32 {
            m.swap_remove(format!("k{i}").as_bytes());
        }
        assert!(m.allocated() < big / 10);
        assert_eq!(m.len(), 100);
        assert_eq!(m.get(b"k9999"), Some(&9999));
    }
}
