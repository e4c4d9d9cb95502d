//! Credential health: the global auth blacklist and per (credential, scope) state.
//!
//! State is derived, not flagged: a cooldown is an end instant, so a Temporary key is
//! Valid again once its cooldown passes with no action (the aibridge key pool model).

use crate::bounded::BoundedMap;
use crate::id::{KeyId, Scope};
use crate::time::{Duration, Instant};
use std::collections::VecDeque;
use std::fmt;

/// Why a credential may not be sent for a scope right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Block {
    /// Failed authentication: blacklisted for every scope until reinstated.
    Blacklisted,
    /// Rate-limited until the instant.
    Cooling(Instant),
    /// Too many consecutive errors; unhealthy until the instant.
    Unhealthy(Instant),
    /// The (credential, upstream model) path is suspended until the instant.
    Suspended(Instant),
}

impl Block {
    /// When the block ends by itself (`None` for a blacklist).
    pub fn ends(self) -> Option<Instant> {
        match self {
            Block::Blacklisted => None,
            Block::Cooling(t) | Block::Unhealthy(t) | Block::Suspended(t) => Some(t),
        }
    }
    /// Stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Block::Blacklisted => "blacklisted",
            Block::Cooling(_) => "cooling",
            Block::Unhealthy(_) => "unhealthy",
            Block::Suspended(_) => "suspended",
        }
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ends() {
            Some(t) => write!(f, "{} until {t}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// Outcomes within a sliding window, bounded in count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    outcomes: VecDeque<(Instant, bool)>,
    ok: u32,
}

impl History {
    /// Records an outcome, dropping what fell out of the window or over the cap.
    pub fn push(&mut self, now: Instant, ok: bool, window: Duration, cap: u32) {
        self.outcomes.push_back((now, ok));
        self.ok += u32::from(ok);
        while let Some(&(t, was_ok)) = self.outcomes.front() {
            let stale = now.saturating_since(t) >= window;
            if !stale && self.outcomes.len() <= cap as usize {
                break;
            }
            self.outcomes.pop_front();
            self.ok -= u32::from(was_ok);
        }
    }

    /// Uptime in basis points over the window ending at `now`; 10 000 with no data.
    pub fn uptime_bp(&self, now: Instant, window: Duration) -> u32 {
        let (total, ok) = self.counts(now, window);
        (ok * 10_000).checked_div(total).unwrap_or(10_000)
    }

    /// Outcomes, and successes among them, in the window ending at `now`.
    pub fn counts(&self, now: Instant, window: Duration) -> (u32, u32) {
        let (mut total, mut ok) = (self.outcomes.len() as u32, self.ok);
        for &(t, was_ok) in &self.outcomes {
            if now.saturating_since(t) < window {
                break;
            }
            total -= 1;
            ok -= u32::from(was_ok);
        }
        (total, ok)
    }

    /// Outcomes in the window.
    pub fn len(&self) -> usize {
        self.outcomes.len()
    }

    /// Whether no outcome is recorded.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }
}

/// Health of one (credential, scope).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Rate-limit cooldown end.
    pub cooling_until: Instant,
    /// Consecutive-error unhealthy end.
    pub unhealthy_until: Instant,
    /// Model-support suspension end (on upstream-model scopes).
    pub suspended_until: Instant,
    /// Consecutive transient errors since the last success.
    pub errors_consecutive: u32,
    /// Rate-limit backoff level (`RateLimitBackoff::Exponential`): cooldowns without a
    /// hint since the last success, counted once per window.
    pub backoff_level: u8,
    /// An auth blacklist recorded on this scope only (regression knobs); never evicted.
    pub blacklisted: bool,
    /// Recent outcomes.
    pub history: History,
}

impl Entry {
    /// Nothing in force and nothing pending: evicting it forgets only history.
    fn idle(&self, now: Instant) -> bool {
        !self.blacklisted
            && self.errors_consecutive == 0
            && self.cooling_until <= now
            && self.unhealthy_until <= now
            && self.suspended_until <= now
    }
}

/// What a write changed, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// An entry evicted to make room.
    pub evicted: Option<(KeyId, Scope)>,
}

/// All health state of a gateway.
#[derive(Clone, Debug, Default)]
pub(crate) struct Health {
    entries: BoundedMap<(KeyId, Scope), Entry>,
    /// Per credential, indexed by `KeyId`: read once per candidate before any map lookup.
    keys: Vec<KeyHealth>,
    /// The `now` of the latest write, used to tell idle entries at eviction time.
    latest_write: Instant,
}

/// What is known about a credential as a whole, so that most health checks need no map
/// lookup at all.
#[derive(Clone, Copy, Debug, Default)]
struct KeyHealth {
    /// Blacklisted for every scope.
    blacklisted: bool,
    /// Resting for every scope after a failed authentication, until then
    /// (`AuthFailure::Cooldown`).
    auth_until: Instant,
    /// Tracked (credential, scope) entries: with none, nothing blocks it.
    entries: u32,
    /// No entry of this credential has a cooldown or unhealthy period ending after this
    /// instant: an upper bound, raised by every write (see [`Health::write`]), so once
    /// `now` reaches it the health scopes need not be looked up.
    held_until: Instant,
    /// Scopes (one bit each, by [`scope_bit`]) that may hold a cooldown or unhealthy
    /// period still running: every scope written with one ending after the write, since
    /// the last write that found all of them ended. A scope whose bit is clear needs no
    /// lookup (unless it may be blacklisted, or expired holds count).
    held_scopes: u64,
    /// Likewise for suspensions (kept apart: they last hours, cooldowns seconds).
    suspended_until: Instant,
    suspended_scopes: u64,
    /// Some entry of this credential was ever blacklisted on its scope (knobs only).
    scoped_blacklist: bool,
}

impl Health {
    /// Whether the credential is blacklisted globally or on one of `scopes`.
    pub(crate) fn is_blacklisted(&self, key: KeyId, scopes: &[Scope]) -> bool {
        let Some(k) = self.keys.get(key.index()) else {
            return false;
        };
        k.blacklisted
            || (k.scoped_blacklist
                && scopes
                    .iter()
                    .any(|s| self.entries.get(&(key, *s)).is_some_and(|e| e.blacklisted)))
    }

    /// The first block on `key` for the given health scopes and suspension scope, if any.
    ///
    /// With `never_expire` (regression `keypool-states`) a cooldown that has passed still
    /// blocks.
    pub(crate) fn block(
        &self,
        key: KeyId,
        scopes: &[Scope],
        suspension_scope: Scope,
        now: Instant,
        never_expire: bool,
    ) -> Option<Block> {
        let k = self.keys.get(key.index())?;
        if k.blacklisted {
            return Some(Block::Blacklisted);
        }
        let scoped = self.block_scopes(k, key, scopes, suspension_scope, now, never_expire);
        let auth = k.auth_until;
        if auth > now || (never_expire && auth > Instant::ZERO) {
            // The credential-wide rest, unless a scope's block ends later.
            if scoped.is_none_or(|b| b.ends().is_some_and(|end| end < auth)) {
                return Some(Block::Cooling(auth));
            }
        }
        scoped
    }

    /// The block of [`block`](Self::block) from the credential's scopes alone.
    fn block_scopes(
        &self,
        k: &KeyHealth,
        key: KeyId,
        scopes: &[Scope],
        suspension_scope: Scope,
        now: Instant,
        never_expire: bool,
    ) -> Option<Block> {
        if k.entries == 0 {
            return None;
        }
        // Which lookups can matter: a health scope only while a cooldown or unhealthy
        // period may be running on it (or a scoped blacklist may exist, or expired holds
        // count); the suspension scope only while a suspension may be running on it.
        // Skipping the others gives the same answer.
        let suspension_matters =
            now < k.suspended_until && k.suspended_scopes & scope_bit(suspension_scope) != 0;
        let every_scope = k.scoped_blacklist || never_expire;
        if !every_scope && now >= k.held_until {
            return suspension_matters
                .then(|| self.entries.get(&(key, suspension_scope)))
                .flatten()
                .filter(|e| e.suspended_until > now)
                .map(|e| Block::Suspended(e.suspended_until));
        }
        if scopes.len() > 4 {
            return self.block_slow(key, scopes, suspension_scope, now, never_expire);
        }
        // Each scope is looked up at most once and reused for the blacklist and block checks.
        let mut found = [None; 4];
        for (slot, scope) in found.iter_mut().zip(scopes) {
            if every_scope || k.held_scopes & scope_bit(*scope) != 0 {
                *slot = self.entries.get(&(key, *scope));
            }
        }
        let found = &found[..scopes.len()];
        if found.iter().flatten().any(|e| e.blacklisted) {
            return Some(Block::Blacklisted);
        }
        let suspension = if suspension_matters {
            match scopes.iter().position(|s| *s == suspension_scope) {
                Some(i) if found[i].is_some() => found[i],
                _ => self.entries.get(&(key, suspension_scope)),
            }
        } else {
            None
        };
        // The latest end blocks longest; report it so Retry-After and waits are not too
        // short (a suspension does not hide a later cooldown, nor the reverse).
        let block = suspension
            .filter(|e| e.suspended_until > now)
            .map(|e| Block::Suspended(e.suspended_until));
        latest_block(block, found.iter().flatten().copied(), now, never_expire)
    }

    /// [`block`](Self::block) for more scopes than its fast path holds.
    fn block_slow(
        &self,
        key: KeyId,
        scopes: &[Scope],
        suspension_scope: Scope,
        now: Instant,
        never_expire: bool,
    ) -> Option<Block> {
        if self.is_blacklisted(key, scopes) {
            return Some(Block::Blacklisted);
        }
        let block = self
            .entries
            .get(&(key, suspension_scope))
            .filter(|e| e.suspended_until > now)
            .map(|e| Block::Suspended(e.suspended_until));
        let entries = scopes
            .iter()
            .filter_map(|scope| self.entries.get(&(key, *scope)));
        latest_block(block, entries, now, never_expire)
    }

    /// The entry of (credential, scope), if tracked.
    pub(crate) fn entry(&self, key: KeyId, scope: Scope) -> Option<&Entry> {
        self.entries.get(&(key, scope))
    }

    /// Number of tracked (credential, scope) entries.
    pub(crate) fn tracked_entries(&self) -> usize {
        self.entries.len()
    }

    /// Blacklists a credential for every scope.
    pub(crate) fn blacklist(&mut self, key: KeyId) {
        self.key_mut(key).blacklisted = true;
    }

    /// Rests a credential for every scope until `until` (a later rest in force is kept),
    /// and returns the end in force.
    pub(crate) fn rest(&mut self, key: KeyId, until: Instant) -> Instant {
        let k = self.key_mut(key);
        k.auth_until = k.auth_until.max(until);
        k.auth_until
    }

    fn key_mut(&mut self, key: KeyId) -> &mut KeyHealth {
        if self.keys.len() <= key.index() {
            self.keys.resize(key.index() + 1, KeyHealth::default());
        }
        &mut self.keys[key.index()]
    }

    /// Clears a credential's blacklist and every state it has (an operator action).
    pub(crate) fn reinstate(&mut self, key: KeyId) {
        if let Some(k) = self.keys.get_mut(key.index()) {
            k.blacklisted = false;
            k.auth_until = Instant::ZERO;
        }
        let scopes: Vec<Scope> = self
            .entries
            .iter()
            .filter(|((k, _), _)| *k == key)
            .map(|((_, s), _)| *s)
            .collect();
        for s in scopes {
            if self.entries.remove(&(key, s)).is_some() {
                self.keys[key.index()].entries -= 1;
            }
        }
        if let Some(k) = self.keys.get_mut(key.index()) {
            k.held_until = Instant::ZERO;
            k.held_scopes = 0;
            k.suspended_until = Instant::ZERO;
            k.suspended_scopes = 0;
            k.scoped_blacklist = false;
        }
    }

    /// Changes the entry of (credential, scope) with `change`, creating it if needed;
    /// evicts an idle entry (never a blacklisted one) when the cap would be exceeded.
    ///
    /// Every write goes through here, so the credential's summary (the latest end of any
    /// block it was given, the scopes such blocks may still run on, and whether any scope
    /// blacklisted it) stays an upper bound. Like the gateway's clock, `now` never goes
    /// back: no check may ask about an instant before a write's `now`.
    pub(crate) fn write<R>(
        &mut self,
        now: Instant,
        key: KeyId,
        scope: Scope,
        cap: Option<usize>,
        change: impl FnOnce(&mut Entry) -> R,
    ) -> (R, Written) {
        self.latest_write = self.latest_write.max(now);
        let latest = self.latest_write;
        self.key_mut(key);
        let (entry, evicted, created) = self.entries.write_created(
            (key, scope),
            cap,
            Entry::default,
            |e| e.idle(latest),
            |e| e.blacklisted,
        );
        let result = change(entry);
        let held = entry.cooling_until.max(entry.unhealthy_until);
        let suspended = entry.suspended_until;
        let scoped_blacklist = entry.blacklisted;
        if let Some((gone, _)) = evicted {
            self.keys[gone.index()].entries -= 1;
        }
        let k = &mut self.keys[key.index()];
        k.entries += u32::from(created);
        // Holds that ended by `now` cannot block any later check (time never goes back):
        // once all have, the scope bits start over.
        if k.held_until <= now {
            k.held_scopes = 0;
        }
        if held > now {
            k.held_scopes |= scope_bit(scope);
        }
        k.held_until = k.held_until.max(held);
        if k.suspended_until <= now {
            k.suspended_scopes = 0;
        }
        if suspended > now {
            k.suspended_scopes |= scope_bit(scope);
        }
        k.suspended_until = k.suspended_until.max(suspended);
        k.scoped_blacklist |= scoped_blacklist;
        (result, Written { evicted })
    }

    /// Debug-build consistency checks.
    ///
    /// Pinned (blacklisted) entries are never evicted, so a map full of them may exceed the
    /// cap; that only happens with knobs that record blacklists per scope.
    pub(crate) fn check_invariants(&self, cap: Option<usize>) {
        if let Some(cap) = cap {
            debug_assert!(
                self.entries.len() <= cap,
                "health entries over the scope cap"
            );
        }
    }
}

/// A scope's bit in a credential's scope masks (scopes are FNV hashes: well mixed).
fn scope_bit(scope: Scope) -> u64 {
    1 << (scope.0 % 64)
}

/// The block among `block` and the entries' cooldowns and unhealthy periods that ends
/// last: the one that keeps the credential out longest, so waits are not too short. With
/// `never_expire` (regression `keypool-states`) a cooldown that has passed still counts.
fn latest_block<'a>(
    mut block: Option<Block>,
    entries: impl Iterator<Item = &'a Entry>,
    now: Instant,
    never_expire: bool,
) -> Option<Block> {
    let active = |until: Instant| until > now || (never_expire && until > Instant::ZERO);
    for e in entries {
        if active(e.cooling_until) && block.is_none_or(|b| b.ends() < Some(e.cooling_until)) {
            block = Some(Block::Cooling(e.cooling_until));
        }
        if active(e.unhealthy_until) && block.is_none_or(|b| b.ends() < Some(e.unhealthy_until)) {
            block = Some(Block::Unhealthy(e.unhealthy_until));
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(300);

    #[test]
    fn history_window_and_cap() {
        let mut h = History::default();
        assert_eq!(h.uptime_bp(Instant(0), W), 10_000, "no data is full uptime");
        h.push(Instant(0), false, W, 1000);
        h.push(Instant(1_000), true, W, 1000);
        assert_eq!(h.uptime_bp(Instant(1_000), W), 5_000);
        // The failure at t=0 leaves the window at exactly t=300 s.
        assert_eq!(h.uptime_bp(Instant(300_000), W), 10_000);
        let mut capped = History::default();
        for i in 0..10 {
            capped.push(Instant(i), i >= 5, W, 4);
        }
        assert_eq!(capped.len(), 4);
        assert_eq!(capped.uptime_bp(Instant(10), W), 10_000);
    }

    #[test]
    fn cooldown_boundary_is_exclusive() {
        let mut h = Health::default();
        h.write(Instant(0), KeyId(0), Scope(1), None, |e| {
            e.cooling_until = Instant(30_000);
        });
        let s = [Scope(1)];
        assert_eq!(
            h.block(KeyId(0), &s, Scope(9), Instant(29_999), false),
            Some(Block::Cooling(Instant(30_000)))
        );
        assert_eq!(
            h.block(KeyId(0), &s, Scope(9), Instant(30_000), false),
            None,
            "valid again at the end instant"
        );
        assert!(
            h.block(KeyId(0), &s, Scope(9), Instant(90_000), true)
                .is_some(),
            "knob: never expires"
        );
        assert_eq!(
            h.block(KeyId(0), &[Scope(2)], Scope(9), Instant(0), false),
            None,
            "other scope unaffected"
        );
    }

    #[test]
    fn blacklist_is_global_and_reinstate_clears() {
        let mut h = Health::default();
        h.blacklist(KeyId(3));
        assert_eq!(
            h.block(KeyId(3), &[Scope(7)], Scope(8), Instant(0), false),
            Some(Block::Blacklisted)
        );
        h.reinstate(KeyId(3));
        assert_eq!(
            h.block(KeyId(3), &[Scope(7)], Scope(8), Instant(0), false),
            None
        );
    }

    #[test]
    fn flood_of_scopes_stays_under_cap_and_keeps_blacklists() {
        let mut h = Health::default();
        h.write(Instant(0), KeyId(0), Scope(1), Some(8), |e| {
            e.blacklisted = true
        });
        for i in 2..10_000u64 {
            h.write(Instant(i), KeyId(1), Scope(i), Some(8), |e| {
                e.history.push(Instant(i), true, W, 1000);
            });
        }
        assert_eq!(h.tracked_entries(), 8);
        assert!(
            h.is_blacklisted(KeyId(0), &[Scope(1)]),
            "a blacklist is never evicted"
        );
    }
}
