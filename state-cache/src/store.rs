//! The in-memory store of one cached function: where a cached value lives,
//! when it expires, and which entry `max_entries` evicts.
//!
//! Reads never lock and never write shared memory: the map is a `papaya`
//! map (lock-free reads under a thread-local epoch guard) and hits are
//! counted on per-thread stripes. Every change (insert, evict, remove,
//! clear) goes through one mutex, taken only on the miss path, which also
//! guards the single-flight table; so the entry count and the insertion
//! order are exact.

use std::any::TypeId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam_utils::CachePadded;
use foldhash::fast::RandomState;

use super::expiry::Moment;
use super::flight::Flights;
use super::key::{ErasedKey, ErasedValue, KeySeed, PassThrough, Probe};
use super::persist::Tier;
use super::redis::Remote;
use super::CacheStats;
use crate::session::DeferSessionEnds;

/// The options of one cache, resolved once when it is created.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The function's name, for messages.
    pub(crate) name: &'static str,
    pub(crate) ttl: Option<Duration>,
    pub(crate) max_entries: Option<usize>,
    pub(crate) session_scoped: bool,
}

pub(crate) struct Entry {
    value: ErasedValue,
    expires: Option<Moment>,
    /// Insertion number, to tell this entry from an older one with the same
    /// key when the eviction queue reaches it.
    seq: u64,
}

impl Entry {
    fn expired(&self, now: Moment) -> bool {
        self.expires.is_some_and(|expires| now >= expires)
    }
}

/// The mutable side of a cache, behind its one mutex.
pub(crate) struct Writer {
    /// The computations running now (single-flight).
    pub(crate) flights: Flights,
    /// Keys in insertion order with their insertion numbers; an item whose
    /// number no longer matches the map's entry is stale and skipped. Kept
    /// only when entries can expire or be evicted.
    order: VecDeque<(ErasedKey, u64)>,
    next_seq: u64,
    len: usize,
    /// The keys of each session's entries, kept only by a session-scoped
    /// cache: ending a session then costs its own entries, not a scan of
    /// every session's.
    by_session: HashMap<u64, HashSet<ErasedKey, PassThrough>, RandomState>,
}

impl Writer {
    fn index(&mut self, key: &ErasedKey) {
        self.by_session
            .entry(key.session)
            .or_default()
            .insert(key.clone());
    }

    fn unindex(&mut self, key: &ErasedKey) {
        if let Some(keys) = self.by_session.get_mut(&key.session) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_session.remove(&key.session);
            }
        }
    }
}

/// The writer lock of a cache. Sessions whose last handle a dropped value
/// held end only after the lock is released (fields drop in order).
pub(crate) struct WriterGuard<'a> {
    guard: MutexGuard<'a, Writer>,
    _defer: DeferSessionEnds,
}

impl Deref for WriterGuard<'_> {
    type Target = Writer;

    fn deref(&self) -> &Writer {
        &self.guard
    }
}

impl DerefMut for WriterGuard<'_> {
    fn deref_mut(&mut self) -> &mut Writer {
        &mut self.guard
    }
}

/// The cache of one `#[cached]` function, whatever its key and value types
/// (see `key.rs`): compiled once, in this crate.
pub(crate) struct RawCache {
    pub(crate) settings: Settings,
    /// The types of the boxes of keys and values, checked when a typed
    /// view is taken ([`Cache`]).
    kinds: (TypeId, TypeId),
    pub(crate) seed: KeySeed,
    map: papaya::HashMap<ErasedKey, Entry, PassThrough>,
    writer: Mutex<Writer>,
    hits: Striped,
    misses: AtomicU64,
    /// Calls waiting for a flight now (`CacheStats::waiting`).
    pub(crate) waiting: AtomicUsize,
    /// `persist = "disk"`.
    pub(crate) disk: Option<Box<dyn Tier>>,
    /// `persist = "redis"`.
    pub(crate) remote: Option<Remote>,
}

/// A typed view of the cache of one function: the entry points of `#[cached]`
/// expansions (in `compute.rs`), for one key type `K` and value type `V`.
#[repr(transparent)]
pub struct Cache<K, V> {
    raw: RawCache,
    types: PhantomData<fn(K) -> V>,
}

impl<K, V> Cache<K, V> {
    /// The typed view of `raw`, whose keys and values are of the types
    /// `kinds` names (checked by the caller).
    #[inline]
    pub(crate) fn view(raw: &RawCache) -> &Cache<K, V> {
        // SAFETY: `Cache<K, V>` is `repr(transparent)` over `RawCache`.
        unsafe { &*(raw as *const RawCache as *const Cache<K, V>) }
    }

    #[inline]
    pub(crate) fn raw(&self) -> &RawCache {
        &self.raw
    }
}

impl RawCache {
    pub(crate) fn new(
        settings: Settings,
        kinds: (TypeId, TypeId),
        disk: Option<Box<dyn Tier>>,
        remote: Option<Remote>,
    ) -> Self {
        RawCache {
            settings,
            kinds,
            seed: KeySeed::default(),
            map: papaya::HashMap::with_hasher(PassThrough),
            writer: Mutex::new(Writer {
                flights: Flights::default(),
                order: VecDeque::new(),
                next_seq: 0,
                len: 0,
                by_session: HashMap::default(),
            }),
            hits: Striped::default(),
            misses: AtomicU64::new(0),
            waiting: AtomicUsize::new(0),
            disk,
            remote,
        }
    }

    /// Whether this cache keeps keys and values of the types whose boxes
    /// `kinds` names.
    #[inline]
    pub(crate) fn holds(&self, kinds: (TypeId, TypeId)) -> bool {
        self.kinds == kinds
    }

    /// Whether this cache keeps keys of the type whose box `kind` names.
    #[inline]
    pub(crate) fn holds_keys(&self, kind: TypeId) -> bool {
        self.kinds.0 == kind
    }

    /// A guard for [`peek`](Self::peek).
    ///
    /// This and `peek` are the hit path. Release builds inline them into
    /// the caller; debug builds call them here, so that the application's
    /// crate does not compile the map's code for each key type (see
    /// `key.rs`).
    #[cfg_attr(not(debug_assertions), inline)]
    pub(crate) fn guard(&self) -> papaya::LocalGuard<'_> {
        self.map.guard()
    }

    /// The hit path: the live value for `key`, counted as a hit, borrowed
    /// for as long as `guard` lives.
    #[cfg_attr(not(debug_assertions), inline)]
    pub(crate) fn peek<'g>(
        &self,
        key: &Probe<'_>,
        guard: &'g papaya::LocalGuard<'_>,
    ) -> Option<&'g ErasedValue> {
        let entry = self.map.get(key, guard)?;
        // Only entries of a cache with a ttl carry an expiry: no clock read
        // otherwise.
        if entry.expires.is_some_and(Moment::passed) {
            return None;
        }
        self.hits.add();
        Some(&entry.value)
    }

    /// [`peek`](Self::peek) for a boxed key (the miss path).
    pub(crate) fn get(&self, key: &ErasedKey) -> Option<ErasedValue> {
        self.peek(&key.probe(), &self.guard()).cloned()
    }

    pub(crate) fn count_hit(&self) {
        self.hits.add();
    }

    pub(crate) fn count_miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lock(&self) -> WriterGuard<'_> {
        let defer = DeferSessionEnds::new();
        // Nothing user-supplied runs under this lock except `Hash`, `Eq` and
        // `Clone` of keys and values, and drops of values; if one of those
        // panics, the writer is still consistent enough to go on.
        let guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        WriterGuard {
            guard,
            _defer: defer,
        }
    }

    /// When a value computed now expires.
    pub(crate) fn expiry_from_now(&self) -> Option<Moment> {
        self.settings.ttl.map(Moment::after)
    }

    /// Drops the entry for `key` if it has expired; called on the miss path
    /// so that expired entries leave without a sweeper thread.
    pub(crate) fn drop_expired_locked(&self, writer: &mut Writer, key: &ErasedKey) {
        if self.settings.ttl.is_none() {
            return;
        }
        let guard = self.map.guard();
        let now = Moment::now();
        if let Ok(Some(_)) = self
            .map
            .remove_if(key, |_, entry| entry.expired(now), &guard)
        {
            writer.len -= 1;
            if self.settings.session_scoped {
                writer.unindex(key);
            }
        }
    }

    /// Stores `value` for `key`, then evicts expired entries at the front of
    /// the insertion order and, past `max_entries`, the oldest ones.
    pub(crate) fn insert_locked(
        &self,
        writer: &mut Writer,
        key: ErasedKey,
        value: ErasedValue,
        expires: Option<Moment>,
    ) {
        let guard = self.map.guard();
        let tracked = self.settings.ttl.is_some() || self.settings.max_entries.is_some();
        writer.next_seq += 1;
        let seq = writer.next_seq;
        if tracked {
            writer.order.push_back((key.clone(), seq));
        }
        if self.settings.session_scoped {
            writer.index(&key);
        }
        let entry = Entry {
            value,
            expires,
            seq,
        };
        if self.map.insert(key, entry, &guard).is_none() {
            writer.len += 1;
        }
        if !tracked {
            return;
        }
        let max = self.settings.max_entries.unwrap_or(usize::MAX);
        let now = Moment::now();
        while let Some((oldest, oldest_seq)) = writer.order.front() {
            let evict = match self.map.get(oldest, &guard) {
                Some(entry) if entry.seq == *oldest_seq => writer.len > max || entry.expired(now),
                // Replaced or removed since: the queue item is stale.
                _ => {
                    writer.order.pop_front();
                    continue;
                }
            };
            if !evict {
                break;
            }
            if let Some((oldest, _)) = writer.order.pop_front() {
                self.map.remove(&oldest, &guard);
                writer.len -= 1;
                if self.settings.session_scoped {
                    writer.unindex(&oldest);
                }
            }
        }
        // Stale items pile up when keys are replaced or removed out of
        // order; drop them once they outnumber the live ones.
        if writer.order.len() > 2 * writer.len + 32 {
            let map = &self.map;
            writer
                .order
                .retain(|(key, seq)| map.get(key, &guard).is_some_and(|entry| entry.seq == *seq));
        }
    }

    /// Removes the entry for `key` from memory and disk; `true` if there was
    /// one. A computation of this key already running does not store its
    /// result, and leaves the flight table: a call from now on computes
    /// afresh instead of waiting for a value from before the removal.
    pub(crate) fn remove(&self, key: &ErasedKey) -> bool {
        let mut writer = self.lock();
        writer.flights.cancel(key);
        let guard = self.map.guard();
        let in_memory = self.map.remove(key, &guard).is_some();
        if in_memory {
            writer.len -= 1;
            if self.settings.session_scoped {
                writer.unindex(key);
            }
        }
        drop(writer);
        let persisted = (self.disk.is_some() || self.remote.is_some()).then(|| key.stable());
        let on_disk = self
            .disk
            .as_ref()
            .zip(persisted)
            .is_some_and(|(disk, key)| disk.remove(key));
        let in_redis = self
            .remote
            .as_ref()
            .zip(persisted)
            .is_some_and(|(remote, key)| remote.remove(key));
        in_memory || on_disk || in_redis
    }

    /// Removes the memory entries whose key `doomed` accepts; computations
    /// of those keys running now do not store their results, and leave the
    /// flight table, as in [`remove`](Self::remove).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn remove_memory_where(&self, doomed: impl Fn(&ErasedKey) -> bool) {
        let mut writer = self.lock();
        writer.flights.cancel_where(&doomed);
        let guard = self.map.guard();
        let scoped = self.settings.session_scoped;
        let (mut removed, mut unindexed) = (0, Vec::new());
        self.map.retain(
            |key, _| {
                let keep = !doomed(key);
                if !keep {
                    removed += 1;
                    if scoped {
                        unindexed.push(key.clone());
                    }
                }
                keep
            },
            &guard,
        );
        writer.len -= removed;
        for key in &unindexed {
            writer.unindex(key);
        }
    }

    /// Empties the memory side; running computations do not store their
    /// results, and calls from now on do not wait for them.
    pub(crate) fn clear_memory(&self) {
        let mut writer = self.lock();
        writer.flights.cancel_all();
        self.map.pin().clear();
        writer.order.clear();
        writer.by_session.clear();
        writer.len = 0;
    }

    /// Frees every entry of session `session`, and keeps its running
    /// computations from storing theirs. Costs the session's own entries
    /// (and the computations running now), whatever other sessions hold;
    /// it counts what it examines in [`session_purge_examined`].
    pub(crate) fn purge_session(&self, session: u64) {
        let mut writer = self.lock();
        let mut examined = writer.flights.cancel_where(|key| key.session == session);
        if let Some(keys) = writer.by_session.remove(&session) {
            examined += keys.len();
            let guard = self.map.guard();
            for key in &keys {
                if self.map.remove(key, &guard).is_some() {
                    writer.len -= 1;
                }
            }
        }
        PURGE_EXAMINED.fetch_add(examined as u64, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let entries = self.lock().len;
        CacheStats {
            hits: self.hits.sum(),
            misses: self.misses.load(Ordering::Relaxed),
            redis_hits: self.remote.as_ref().map_or(0, Remote::hits),
            entries,
            waiting: self.waiting.load(Ordering::Acquire),
        }
    }
}

/// Events from other processes reach the memory of a `persist = "redis"`
/// cache through this.
#[cfg(feature = "redis")]
impl super::redis::MemoryCopy for RawCache {
    fn drop_all(&self) {
        self.clear_memory();
    }

    fn drop_key(&self, key_hash: u128) {
        self.remove_memory_where(|key| key.stable() == key_hash);
    }
}

/// What [`session_purge_examined`] returns.
static PURGE_EXAMINED: AtomicU64 = AtomicU64::new(0);

/// How many entries and running computations the purges of ended sessions
/// have examined in this process, over every session-scoped cache.
///
/// A purge looks at the ended session's own entries (through the per-session
/// index) and at the computations running in each cache at that moment, and
/// counts each one it looks at. Tests use it to check that ending one
/// session costs work in proportion to that session, not to every session's
/// entries; a change to the purge must keep counting what it examines.
#[doc(hidden)]
pub fn session_purge_examined() -> u64 {
    PURGE_EXAMINED.load(Ordering::Relaxed)
}

const STRIPES: usize = 8;

/// A counter split over cache lines, so that threads counting at the same
/// time do not bounce one line between cores.
#[derive(Default)]
struct Striped([CachePadded<AtomicU64>; STRIPES]);

impl Striped {
    #[inline]
    fn add(&self) {
        self.0[stripe()].fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// This thread's stripe: threads take stripes round-robin as they first
/// count.
#[inline]
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    STRIPE.try_with(|stripe| *stripe).unwrap_or(0)
}
