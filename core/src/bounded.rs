//! A map with a size cap that evicts the least recently written evictable entry.

// The key index is a hash map, the one in the core, allowed here because nothing ever
// observes its order: lookups are by key, `iter` sorts by key, compaction sorts by stamp
// and eviction follows the write log. The hasher is fixed, so even its cost is the same
// from run to run.
#![allow(clippy::disallowed_types)]

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A map with an optional cap on entries and least-recently-written eviction.
///
/// Writes stamp the entry with a monotonically increasing sequence number; reads do not,
/// so a read-only health check never changes what gets evicted.
///
/// Layout, for speed (each shows in the engine's profile): values live in a slab of slots
/// and a hash index maps a key to its slot (a health check is three lookups per candidate
/// credential, so an O(1) lookup instead of a tree walk matters); the age order is a log
/// of `(stamp, slot)` writes, oldest first, appended to instead of re-keying an age tree
/// on every write. A log record is
/// current while its slot still carries its stamp (stamps are unique); rewrites, removals
/// and slot reuse leave stale records behind, which eviction skips and
/// [`compact`](Self::compact) drops.
#[derive(Clone, Debug)]
pub(crate) struct BoundedMap<K: Ord + Hash + Copy, V> {
    index: HashMap<K, u32, BuildHasherDefault<FxHasher>>,
    slots: Vec<Option<Slot<K, V>>>,
    /// Empty slots, reused last-freed first.
    free: Vec<u32>,
    log: VecDeque<(u64, u32)>,
    seq: u64,
}

#[derive(Clone, Debug)]
struct Slot<K, V> {
    key: K,
    value: V,
    stamp: u64,
}

/// Stale log records tolerated beyond twice the live entries before compacting.
const LOG_SLACK: usize = 64;

/// A fast, fixed (unseeded) hasher for small integer keys: multiply-rotate as in rustc's
/// `FxHasher`. Scopes are already FNV hashes, so their bits are well mixed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl<K: Ord + Hash + Copy, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            log: VecDeque::new(),
            seq: 0,
        }
    }
}

impl<K: Ord + Hash + Copy, V> BoundedMap<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
    /// The entry, without touching its age.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.index.get(key).map(|slot| &self.slot(*slot).value)
    }
    /// Iterates in key order (sorting first: for rare operator actions, not hot paths).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let mut all: Vec<(&K, u32)> = self.index.iter().map(|(k, slot)| (k, *slot)).collect();
        all.sort_unstable_by_key(|(k, _)| **k);
        all.into_iter().map(|(k, slot)| (k, &self.slot(slot).value))
    }

    /// The entry for writing, created with `make` if absent, and marked most recent.
    ///
    /// When creating would exceed `cap`, first evicts the oldest entry for which
    /// `evictable` is true; failing that, the oldest entry that `pinned` does not protect.
    /// Returns the evicted key, if any.
    pub(crate) fn write(
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
    pub(crate) fn write_created(
        &mut self,
        key: K,
        cap: Option<usize>,
        make: impl FnOnce() -> V,
        evictable: impl Fn(&V) -> bool,
        pinned: impl Fn(&V) -> bool,
    ) -> (&mut V, Option<K>, bool) {
        if self.log.len() > 2 * self.index.len() + LOG_SLACK {
            self.compact();
        }
        self.seq += 1;
        let stamp = self.seq;
        if let Some(&slot) = self.index.get(&key) {
            self.log.push_back((stamp, slot));
            let s = self.slots[slot as usize]
                .as_mut()
                .expect("an indexed slot is occupied");
            s.stamp = stamp;
            return (&mut s.value, None, false);
        }
        let mut evicted = None;
        if cap.is_some_and(|cap| self.index.len() >= cap) {
            evicted = self.evict_one(&evictable, &pinned);
        }
        let value = Slot {
            key,
            value: make(),
            stamp,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(value);
                slot
            }
            None => {
                self.slots.push(Some(value));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 entries")
            }
        };
        match self.index.entry(key) {
            Entry::Vacant(v) => {
                v.insert(slot);
            }
            Entry::Occupied(_) => unreachable!("looked up above: absent"),
        }
        self.log.push_back((stamp, slot));
        let s = self.slots[slot as usize]
            .as_mut()
            .expect("filled just above");
        (&mut s.value, evicted, true)
    }

    /// Removes an entry.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.index.remove(key)?;
        self.free.push(slot);
        // Its log records are now stale: eviction skips them, compaction drops them.
        self.slots[slot as usize].take().map(|s| s.value)
    }

    fn slot(&self, slot: u32) -> &Slot<K, V> {
        self.slots[slot as usize]
            .as_ref()
            .expect("an indexed slot is occupied")
    }

    /// Whether a log record still describes its slot's entry.
    fn current(&self, (stamp, slot): (u64, u32)) -> Option<&Slot<K, V>> {
        self.slots[slot as usize]
            .as_ref()
            .filter(|s| s.stamp == stamp)
    }

    /// The current entries, oldest write first.
    fn by_age(&self) -> impl Iterator<Item = &Slot<K, V>> {
        self.log.iter().filter_map(|record| self.current(*record))
    }

    /// Drops the stale records from the log, in place (no sort, no new buffer): records
    /// are appended in stamp order and every live entry has exactly one current record,
    /// so what is left is the live entries, oldest write first.
    fn compact(&mut self) {
        let slots = &self.slots;
        self.log.retain(|&(stamp, slot)| {
            slots[slot as usize]
                .as_ref()
                .is_some_and(|s| s.stamp == stamp)
        });
        debug_assert_eq!(
            self.log.len(),
            self.index.len(),
            "one current record per entry"
        );
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
        while let Some(record) = self.log.front() {
            if self.current(*record).is_some() {
                break;
            }
            self.log.pop_front();
        }
        let victim = self
            .by_age()
            .find(|s| evictable(&s.value))
            .or_else(|| self.by_age().find(|s| !pinned(&s.value)))
            .map(|s| s.key)?;
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
