//! Open requests and in-flight attempts, keyed by their sequential ids.

use crate::id::{AttemptId, RequestId};
use std::collections::VecDeque;

/// An id handed out in increasing order, one at a time.
pub(super) trait SeqId: Copy {
    fn seq(self) -> u64;
}

impl SeqId for RequestId {
    fn seq(self) -> u64 {
        self.0
    }
}

impl SeqId for AttemptId {
    fn seq(self) -> u64 {
        self.0
    }
}

/// A map from sequential ids to values, held as a window from the oldest live id to the
/// newest: insert, look up and remove in O(1), iteration in id order.
///
/// The gateway's open requests and in-flight attempts live and die roughly in id order; a
/// tree keyed by id shifted whole (large) values on every removal from a leaf, which
/// showed as the top `memcpy` in the engine's profile. Holes left by out-of-order removals
/// are reclaimed once the oldest id goes, so the window spans at most the ids issued
/// during the longest-lived entry's lifetime (bounded by attempt timeouts and waits).
#[derive(Clone, Debug)]
pub(super) struct IdWindow<K, V> {
    base: u64,
    slots: VecDeque<Option<V>>,
    len: usize,
    _key: std::marker::PhantomData<K>,
}

impl<K: SeqId, V> Default for IdWindow<K, V> {
    fn default() -> Self {
        IdWindow {
            base: 0,
            slots: VecDeque::new(),
            len: 0,
            _key: std::marker::PhantomData,
        }
    }
}

impl<K: SeqId, V> IdWindow<K, V> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn at(&self, key: K) -> Option<usize> {
        usize::try_from(key.seq().checked_sub(self.base)?).ok()
    }

    /// Inserts a value for an id not below any id inserted before it was emptied.
    pub(super) fn insert(&mut self, key: K, value: V) {
        if self.len == 0 {
            self.slots.clear();
            self.base = key.seq();
        }
        let at = self.at(key).expect("ids are inserted in increasing order");
        while self.slots.len() <= at {
            self.slots.push_back(None);
        }
        if self.slots[at].replace(value).is_none() {
            self.len += 1;
        }
        debug_assert!(
            self.len <= self.slots.len(),
            "no more live values than slots"
        );
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.slots.get(self.at(*key)?)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = self.at(*key)?;
        self.slots.get_mut(at)?.as_mut()
    }

    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.at(*key)?;
        let value = self.slots.get_mut(at)?.take()?;
        self.len -= 1;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        debug_assert!(
            self.len == 0 || self.slots.front().is_some_and(Option::is_some),
            "the window starts at its oldest live id"
        );
        Some(value)
    }

    /// Live values in id order.
    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten()
    }

    /// Live (id, value) pairs in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_ref().map(|v| (self.base + i as u64, v)))
    }
}
