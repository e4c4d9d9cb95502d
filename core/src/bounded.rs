//! A map with a size cap that evicts the least recently written evictable entry.

use std::collections::BTreeMap;

/// A `BTreeMap` with an optional cap on entries and least-recently-written eviction.
///
/// Writes stamp the entry with a monotonically increasing sequence number; reads do not,
/// so a read-only health check never changes what gets evicted.
#[derive(Clone, Debug)]
pub struct BoundedMap<K: Ord + Copy, V> {
    entries: BTreeMap<K, (V, u64)>,
    by_age: BTreeMap<u64, K>,
    seq: u64,
}

impl<K: Ord + Copy, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap {
            entries: BTreeMap::new(),
            by_age: BTreeMap::new(),
            seq: 0,
        }
    }
}

/// Entries scanned at most, oldest first, looking for one that may be evicted.
const EVICTION_SCAN_MAX: usize = 64;

impl<K: Ord + Copy, V> BoundedMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The entry, without touching its age.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }
    /// Iterates in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, (v, _))| (k, v))
    }

    /// The entry for writing, created with `make` if absent, and marked most recent.
    ///
    /// When creating would exceed `cap`, first evicts the oldest entry for which
    /// `evictable` is true (scanning a bounded number of the oldest); failing that, the
    /// oldest entry that `pinned` does not protect. Returns the evicted key, if any.
    pub fn write(
        &mut self,
        key: K,
        cap: Option<usize>,
        make: impl FnOnce() -> V,
        evictable: impl Fn(&V) -> bool,
        pinned: impl Fn(&V) -> bool,
    ) -> (&mut V, Option<K>) {
        self.seq += 1;
        let seq = self.seq;
        let mut evicted = None;
        if let Some((_, stamp)) = self.entries.get_mut(&key) {
            self.by_age.remove(stamp);
            *stamp = seq;
        } else {
            if let Some(cap) = cap {
                if self.entries.len() >= cap {
                    evicted = self.evict_one(&evictable, &pinned);
                }
            }
            self.entries.insert(key, (make(), seq));
        }
        self.by_age.insert(seq, key);
        let entry = self
            .entries
            .get_mut(&key)
            .map(|(v, _)| v)
            .expect("entry present: inserted or found above");
        (entry, evicted)
    }

    /// Removes an entry.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (v, stamp) = self.entries.remove(key)?;
        self.by_age.remove(&stamp);
        Some(v)
    }

    fn evict_one(
        &mut self,
        evictable: &impl Fn(&V) -> bool,
        pinned: &impl Fn(&V) -> bool,
    ) -> Option<K> {
        let oldest: Vec<K> = self
            .by_age
            .values()
            .take(EVICTION_SCAN_MAX)
            .copied()
            .collect();
        let is = |k: &K, f: &dyn Fn(&V) -> bool| self.entries.get(k).is_some_and(|(v, _)| f(v));
        let victim = oldest
            .iter()
            .find(|k| is(k, evictable))
            .or_else(|| oldest.iter().find(|k| !is(k, pinned)))
            .copied()
            .or_else(|| {
                // Every scanned entry is pinned: look further, still oldest first.
                self.by_age
                    .values()
                    .find(|k| self.entries.get(k).is_some_and(|(v, _)| !pinned(v)))
                    .copied()
            })?;
        self.remove(&victim);
        Some(victim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_evictable_and_never_pinned() {
        let mut map: BoundedMap<u32, (bool, bool)> = BoundedMap::default();
        let evictable = |v: &(bool, bool)| v.0;
        let pinned = |v: &(bool, bool)| v.1;
        // 1 pinned, 2 busy (not evictable, not pinned), 3 idle.
        map.write(1, Some(3), || (false, true), evictable, pinned);
        map.write(2, Some(3), || (false, false), evictable, pinned);
        map.write(3, Some(3), || (true, false), evictable, pinned);
        let (_, evicted) = map.write(4, Some(3), || (true, false), evictable, pinned);
        assert_eq!(
            evicted,
            Some(3),
            "the idle entry goes first even though younger"
        );
        let (_, evicted) = map.write(5, Some(3), || (false, false), evictable, pinned);
        assert_eq!(evicted, Some(4));
        // Only pinned and busy left: the busy one goes, never the pinned one.
        map.write(6, Some(3), || (false, false), evictable, pinned);
        assert!(map.get(&1).is_some());
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn rewriting_refreshes_age_and_reads_do_not() {
        let mut map: BoundedMap<u32, u8> = BoundedMap::default();
        let all = |_: &u8| true;
        let none = |_: &u8| false;
        map.write(1, Some(2), || 0, all, none);
        map.write(2, Some(2), || 0, all, none);
        map.write(1, Some(2), || 0, all, none);
        let _ = map.get(&2);
        let (_, evicted) = map.write(3, Some(2), || 0, all, none);
        assert_eq!(evicted, Some(2));
        let (_, evicted) = map.write(4, None, || 0, all, none);
        assert_eq!(evicted, None, "no cap, no eviction");
        assert_eq!(map.len(), 3);
    }
}
