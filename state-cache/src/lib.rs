//! Runtime of [pagestate](https://docs.rs/pagestate)'s `#[cached]`:
//! memoization with `st.cache_data`'s semantics.
//!
//! Applications depend on the `pagestate` facade, which re-exports what is
//! public here; `#[cached]` expansions call into this crate. It is a crate
//! of its own, apart from pagestate-core's sessions, state and executors,
//! so that a binary that only caches links only this: a linker takes whole
//! object files, and a crate's object files reach each other.

// The modules:
// - `store`: the in-memory store and its eviction;
// - `expiry`: when an entry expires, on a clock cheap enough for hits;
// - `flight`: the single-flight table;
// - `compute`: the sync, async and eager call paths;
// - `key`: what may be a key or a value, scopes, stable hashes;
// - `persist`: `persist = "disk"`;
// - `redis`: `persist = "redis"` (feature `redis`), shared by processes;
// - `envelope`: how both persisted tiers seal a value;
// - `call`: how expansions reach a cache without cascading errors;
// - `session`: session ids, the current session, and session ends, as the
//   session-scoped caches see them.
//
// Each `#[cached]` function owns a `CacheSlot` in a `static`. The slot
// creates the function's `RawCache` on first use (one type for every
// cache: keys and values are boxed, see `key.rs`) and registers it, so
// that `clear_all_caches` and session ends reach every cache; calls go
// through a typed view of it, `Cache<K, V>`, which checks the types once.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod call;
mod compute;
mod envelope;
mod expiry;
mod flight;
mod key;
mod persist;
#[cfg(test)]
mod persist_props;
#[cfg(feature = "redis")]
mod redis;
#[cfg(not(feature = "redis"))]
#[path = "redis_off.rs"]
mod redis;
mod session;
mod store;

#[cfg(test)]
#[global_allocator]
static ALLOCATOR: pagestate_alloc_probe::Tracking = pagestate_alloc_probe::Tracking;

use std::any::TypeId;
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};
use std::time::Duration;

#[cfg(feature = "redis")]
pub use redis::{RedisAlreadyStarted, RedisConfig, RedisTier};
pub use session::SessionId;

/// What `#[cached]` expansions and pagestate-core call, and counters that
/// pagestate's own tests read. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    /// Without the feature a `persist = "redis"` function is a compile
    /// error (the facade's `__pagestate_requires_redis!`); this keeps its
    /// expansion from cascading into more errors.
    #[cfg(not(feature = "redis"))]
    pub use crate::call::PersistedCall as RedisCall;
    #[cfg(feature = "redis")]
    pub use crate::call::RedisCall;
    pub use crate::call::{
        assert_outcome, assert_persisted_outcome, body_ran_twice, custom_key, typed_future, Call,
        CallCached, CallInvalid, KeyArg, KeyPartInvalid, KeyPartOf, Missed, PersistedCall, Returns,
        ReturnsResult, ReturnsValue,
    };
    pub use crate::key::{assert_key, assert_key_ref, executed, Always, CacheOutput, Executed};
    pub use crate::session::{run_end_hooks, set_current_session};
    pub use crate::store::{session_purge_examined, Cache};
    pub use crate::{CacheConfig, CacheSlot, Setting};

    /// The traits an expansion calls methods of, brought into scope by one
    /// glob import (`use ..::traits::*`): one item for the compiler to
    /// resolve per function instead of one per trait.
    pub mod traits {
        pub use crate::call::{
            CallCached as _, CallInvalid as _, KeyPartInvalid as _, KeyPartOf as _,
            ReturnsResult as _, ReturnsValue as _,
        };
    }
}

use key::{CacheKey, CacheValue, DynKey, ErasedKey, KeyBox, PersistValue, ValueBox};
use session::on_session_end;
use store::{Cache, RawCache, Settings};

/// Counters of one cache, as `name::stats()` of a `#[cached] fn name`
/// returns them.
///
/// ```
/// # use pagestate_cache::CacheStats;
/// let stats = CacheStats::default();
/// assert_eq!((stats.hits, stats.misses, stats.entries, stats.waiting), (0, 0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered without running the body: from memory, or with the
    /// value of an equal call that was running at the same time.
    pub hits: u64,
    /// Calls that found nothing in memory and led a computation, which read
    /// the value from disk (`persist = "disk"`), from Redis (`persist =
    /// "redis"`), or ran the body.
    pub misses: u64,
    /// Misses answered from Redis (`persist = "redis"`): values that another
    /// process, or this one earlier, stored there.
    pub redis_hits: u64,
    /// Entries held in memory now (not counting entries only on disk).
    pub entries: usize,
    /// Calls of this process waiting now for an equal call's computation to
    /// finish (single-flight): in this process, or with `persist = "redis"`
    /// in another one. A call leaves the count when it wakes, when it panics
    /// and (async) when its future is dropped; an async call counts from its
    /// first poll. Tests use it as a handshake: once it reaches the number
    /// of callers they started, each of them has found the running
    /// computation and will wake when it ends.
    pub waiting: usize,
}

/// Empties every cache of the process, as Streamlit's
/// `st.cache_data.clear()`: the memory of every `#[cached]` function and
/// every persisted entry in the cache directory (`PAGESTATE_CACHE_DIR` or
/// `.pagestate/cache`), including those of functions not called yet in this
/// process. Computations running meanwhile return their values to their
/// callers but do not store them. With the `redis` feature, in a process
/// that uses or configured the Redis tier, also every entry under its
/// prefix, and the memory copies of every connected process.
///
/// ```
/// pagestate_cache::clear_all_caches();
/// ```
pub fn clear_all_caches() {
    for cache in registered() {
        cache.clear();
    }
    persist::clear_all(&persist::cache_dir());
    redis::clear_all();
}

/// The value of a `#[cached]` option: left out, written as a literal (a
/// constant, so the expansion needs no function for it), or an expression,
/// evaluated once when the cache is created.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Setting<T: 'static> {
    /// The option was left out.
    Unset,
    /// A literal.
    Fixed(T),
    /// An expression.
    Computed(fn() -> T),
}

impl<T: Copy> Setting<T> {
    fn get(&self) -> Option<T> {
        match *self {
            Setting::Unset => None,
            Setting::Fixed(value) => Some(value),
            Setting::Computed(compute) => Some(compute()),
        }
    }
}

/// What the macro knows about a function, as constants.
#[doc(hidden)]
pub struct CacheConfig {
    /// The function's name.
    pub name: &'static str,
    /// `module_path!()` at the function.
    pub module_path: &'static str,
    /// A hash of the function's options, signature and body tokens.
    pub fingerprint: u128,
    /// Time to live.
    pub ttl: Setting<Duration>,
    /// Bound on the entry count.
    pub max_entries: Setting<usize>,
    /// Entries belong to the caller's session.
    pub session_scoped: bool,
    /// Entries are also written to disk.
    pub persist: bool,
    /// Entries are also written to Redis.
    pub redis: bool,
}

/// The cache of one `#[cached]` function, created on first use.
#[doc(hidden)]
pub struct CacheSlot {
    config: CacheConfig,
    cache: OnceLock<&'static RawCache>,
}

/// The types of the boxes of keys `K` and values `V` (see `key.rs`).
#[inline]
fn kinds<K: CacheKey, V: CacheValue>() -> (TypeId, TypeId) {
    (TypeId::of::<KeyBox<K>>(), TypeId::of::<ValueBox<V>>())
}

impl RawCache {
    /// Empties this cache: memory, disk and Redis.
    fn clear(&self) {
        self.clear_memory();
        if let Some(disk) = &self.disk {
            disk.clear();
        }
        if let Some(remote) = &self.remote {
            remote.clear();
        }
    }

    /// The typed view, for keys `K` and values `V`.
    #[inline]
    fn typed<K: CacheKey, V: CacheValue>(&self) -> &Cache<K, V> {
        if !self.holds(kinds::<K, V>()) {
            wrong_types();
        }
        Cache::view(self)
    }
}

#[cold]
fn wrong_types() -> ! {
    unreachable!("a #[cached] slot is used with one key and value type")
}

impl CacheSlot {
    /// A slot for the function described by `config`.
    pub const fn new(config: CacheConfig) -> Self {
        CacheSlot {
            config,
            cache: OnceLock::new(),
        }
    }

    /// The typed cache, created on first use. `K` and `V` are inferred at
    /// the call site, so the macro never names the type of a custom key.
    #[inline]
    pub fn typed<K: CacheKey, V: CacheValue>(&'static self) -> &'static Cache<K, V> {
        let raw = match self.cache.get() {
            Some(raw) => *raw,
            None => self.create(kinds::<K, V>(), None, None),
        };
        raw.typed()
    }

    /// [`typed`](Self::typed) for `persist = "disk"`.
    #[inline]
    pub fn typed_persisted<K: CacheKey, V: CacheValue + PersistValue>(
        &'static self,
    ) -> &'static Cache<K, V> {
        let raw = match self.cache.get() {
            Some(raw) => *raw,
            None => {
                let disk = persist::Disk::<V>::new(&persist::cache_dir(), self.identity());
                self.create(kinds::<K, V>(), Some(Box::new(disk)), None)
            }
        };
        raw.typed()
    }

    /// [`typed`](Self::typed) for `persist = "redis"`.
    #[cfg(feature = "redis")]
    #[inline]
    pub fn typed_redis<K: CacheKey, V: CacheValue + PersistValue>(
        &'static self,
    ) -> &'static Cache<K, V> {
        // The hit path: creating the cache (and starting the tier) stays
        // out of line.
        let raw = match self.cache.get() {
            Some(raw) => *raw,
            None => self.create_redis(kinds::<K, V>(), redis::Remote::new::<V>),
        };
        raw.typed()
    }

    #[cfg(feature = "redis")]
    #[cold]
    #[inline(never)]
    fn create_redis(
        &'static self,
        kinds: (TypeId, TypeId),
        remote: fn(u128) -> redis::Remote,
    ) -> &'static RawCache {
        let identity = self.identity();
        let mut created = false;
        let raw = *self.cache.get_or_init(|| {
            created = true;
            self.make(kinds, None, Some(remote(identity)))
        });
        if created {
            // Events from other processes reach this memory from now on.
            redis::register_copy(identity, raw);
        }
        raw
    }

    fn identity(&self) -> u128 {
        let config = &self.config;
        envelope::identity(config.module_path, config.name, config.fingerprint)
    }

    /// Creates the cache, unless another thread just did.
    #[cold]
    fn create(
        &'static self,
        kinds: (TypeId, TypeId),
        disk: Option<Box<dyn persist::Tier>>,
        remote: Option<redis::Remote>,
    ) -> &'static RawCache {
        self.cache.get_or_init(|| self.make(kinds, disk, remote))
    }

    fn make(
        &self,
        kinds: (TypeId, TypeId),
        disk: Option<Box<dyn persist::Tier>>,
        remote: Option<redis::Remote>,
    ) -> &'static RawCache {
        let config = &self.config;
        let max_entries = config.max_entries.get();
        if max_entries == Some(0) {
            panic!(
                "#[cached] {}: `max_entries` must be at least 1",
                config.name
            );
        }
        let settings = Settings {
            name: config.name,
            ttl: config.ttl.get(),
            max_entries,
            session_scoped: config.session_scoped,
        };
        // One cache per function for the life of the process: leaking it
        // gives every call a `&'static` to hold across awaits.
        let cache: &'static RawCache =
            Box::leak(Box::new(RawCache::new(settings, kinds, disk, remote)));
        register(cache, config.session_scoped);
        cache
    }

    /// Empties this function's cache, in memory and on disk or in Redis
    /// (and then the memory of every process connected to it).
    pub fn clear(&'static self) {
        match self.cache.get() {
            Some(cache) => cache.clear(),
            None if self.config.persist => {
                persist::clear_function(&persist::cache_dir(), self.identity());
            }
            None if self.config.redis => redis::clear_function(self.identity()),
            None => {}
        }
    }

    /// Drops the entry for `key` in the caller's scope, in memory and on
    /// disk; `true` if there was one. A computation of that key running now
    /// returns its value to its callers but does not store it.
    #[track_caller]
    pub fn invalidate<K: CacheKey>(&'static self, key: K) -> bool {
        let session = compute::scope_of(self.config.session_scoped);
        match self.cache.get() {
            Some(cache) => {
                if !cache.holds_keys(TypeId::of::<KeyBox<K>>()) {
                    wrong_types();
                }
                let hash = cache.seed.hash(session, &key);
                cache.remove(&ErasedKey::new(session, hash, key))
            }
            // Only persisted entries can exist before the cache does.
            None if self.config.persist || self.config.redis => {
                self.invalidate_persisted(KeyBox(key).stable(session))
            }
            None => false,
        }
    }

    /// Drops the persisted entry of the key hashed `key_hash`, for a cache
    /// not created in this process.
    fn invalidate_persisted(&self, key_hash: u128) -> bool {
        if self.config.persist {
            persist::remove_entry(&persist::cache_dir(), self.identity(), key_hash)
        } else {
            redis::remove_entry(self.identity(), key_hash)
        }
    }

    /// This function's counters.
    pub fn stats(&'static self) -> CacheStats {
        self.cache
            .get()
            .map_or_else(CacheStats::default, |cache| cache.stats())
    }
}

static REGISTRY: Mutex<Vec<&'static RawCache>> = Mutex::new(Vec::new());

/// The session-scoped caches, as a snapshot that a session end takes
/// without copying: it visits these only, not every cache of the process.
static SESSION_SCOPED: Mutex<Option<Arc<[&'static RawCache]>>> = Mutex::new(None);

fn register(cache: &'static RawCache, session_scoped: bool) {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(cache);
    if session_scoped {
        {
            let mut scoped = SESSION_SCOPED
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut caches = scoped.as_deref().unwrap_or_default().to_vec();
            caches.push(cache);
            *scoped = Some(caches.into());
        }
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            on_session_end(|session| {
                let caches = SESSION_SCOPED
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                for cache in caches.as_deref().unwrap_or_default() {
                    cache.purge_session(session.as_u64());
                }
            });
        });
    }
}

fn registered() -> Vec<&'static RawCache> {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}
