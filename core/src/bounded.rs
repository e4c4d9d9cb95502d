//! A map with a size cap that evicts the least recently written evictable entry.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};

/// A `BTreeMap` with an optional cap on entries and least-recently-written eviction.
///
/// Writes stamp the entry with a monotonically increasing sequence number; reads do not,
/// so a read-only health check never changes what gets evicted.
#[derive(Clone, Debug)]
pub struct BoundedMap<K: Ord + Copy, V> {
    entries: BTreeMap<K, (V, u64)>,
    /// Every write, oldest first, as (stamp, key). A record is current while its key's
    /// entry still carries its stamp; rewrites and removals leave stale records behind,
    /// which eviction skips and [`compact`](Self::compact) drops. An append instead of
    /// two tree operations per write (an age index keyed by stamp) keeps writes cheap.
    log: VecDeque<(u64, K)>,
    seq: u64,
}

/// Stale log records tolerated beyond twice the live entries before compacting.
const LOG_SLACK: usize = 64;

impl<K: Ord + Copy, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap {
            entries: BTreeMap::new(),
            log: VecDeque::new(),
            seq: 0,
        }
    }
}

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
        let (entry, evicted, _) = self.write_created(key, cap, make, evictable, pinned);
        (entry, evicted)
    }

    /// [`write`](Self::write), also telling whether the entry was created.
    pub fn write_created(
        &mut self,
        key: K,
        cap: Option<usize>,
        make: impl FnOnce() -> V,
        evictable: impl Fn(&V) -> bool,
        pinned: impl Fn(&V) -> bool,
    ) -> (&mut V, Option<K>, bool) {
        if self.log.len() > 2 * self.entries.len() + LOG_SLACK {
            self.compact();
        }
        self.seq += 1;
        let seq = self.seq;
        let mut evicted = None;
        if cap.is_some_and(|cap| self.entries.len() >= cap) && !self.entries.contains_key(&key) {
            evicted = self.evict_one(&evictable, &pinned);
        }
        self.log.push_back((seq, key));
        match self.entries.entry(key) {
            Entry::Occupied(o) => {
                let (entry, stamp) = o.into_mut();
                *stamp = seq;
                (entry, evicted, false)
            }
            Entry::Vacant(v) => (&mut v.insert((make(), seq)).0, evicted, true),
        }
    }

    /// Removes an entry.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        // Its log records are now stale: eviction skips them, compaction drops them.
        self.entries.remove(key).map(|(v, _)| v)
    }

    /// The current entries, oldest write first.
    fn by_age(&self) -> impl Iterator<Item = (&K, &V)> {
        self.log.iter().filter_map(|(stamp, key)| {
            self.entries
                .get_key_value(key)
                .filter(|(_, (_, s))| s == stamp)
                .map(|(k, (v, _))| (k, v))
        })
    }

    /// Rebuilds the log from the live entries (stale records dropped), still oldest first.
    fn compact(&mut self) {
        let mut live: Vec<(u64, K)> = self.entries.iter().map(|(k, (_, s))| (*s, *k)).collect();
        live.sort_unstable_by_key(|(stamp, _)| *stamp);
        self.log = live.into();
    }

    /// The oldest evictable entry; failing that (every entry busy), the oldest unpinned
    /// one. Scanning stops at the first evictable entry, which under a flood of idle
    /// entries is the very first: the full scan only happens when nearly all are busy.
    fn evict_one(
        &mut self,
        evictable: &impl Fn(&V) -> bool,
        pinned: &impl Fn(&V) -> bool,
    ) -> Option<K> {
        // Stale records at the front are dropped for good.
        while let Some((stamp, key)) = self.log.front() {
            if self.entries.get(key).is_some_and(|(_, s)| s == stamp) {
                break;
            }
            self.log.pop_front();
        }
        let victim = self
            .by_age()
            .find(|(_, v)| evictable(v))
            .or_else(|| self.by_age().find(|(_, v)| !pinned(v)))
            .map(|(k, _)| *k)?;
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
