//! Where sessions go between processes: a [`SessionStore`] keeps each
//! session's durable values (widget values and `use_state!(.., durable)`
//! states) so that a restarted process, or another replica, can adopt it.
//!
//! Backends: [`DiskStore`] (the default: `.pagestate/sessions`, no set-up),
//! `RedisStore` (feature `redis`: replicas sharing one Redis), and none at
//! all ([`App::memory_sessions`](crate::App::memory_sessions)).
//!
//! Chosen in code with [`App::session_store`](crate::App::session_store), or
//! by environment: `PAGESTATE_SESSION_STORE` = `disk` (default), `redis` or
//! `memory`; `PAGESTATE_SESSION_DIR` is the disk store's directory.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use pagestate_core::durable::{Changes, Snapshot};

mod disk;
#[cfg(feature = "redis")]
mod redis;
pub(crate) mod writer;

pub use disk::DiskStore;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, DEFAULT_LEASE};

/// The environment variable that picks the store: `disk`, `redis`, `memory`.
pub const STORE_VAR: &str = "PAGESTATE_SESSION_STORE";
/// The environment variable with the disk store's directory.
pub const DIR_VAR: &str = "PAGESTATE_SESSION_DIR";
/// The disk store's directory when [`DIR_VAR`] is not set.
pub const DEFAULT_DIR: &str = ".pagestate/sessions";

/// A place that keeps sessions for other processes (or the next run of
/// this one).
///
/// Session ids are 32 lowercase hex digits, checked by the host before they
/// reach a store. A store never panics on what it reads: a missing, expired,
/// corrupt or foreign entry is `None` (the tab gets a fresh session), logged
/// when it is not simply missing.
pub trait SessionStore: Send + Sync + 'static {
    /// The stored session `id`, if there is a readable one that has not
    /// expired.
    fn load(&self, id: &str) -> Option<Snapshot>;

    /// Stores what changed in session `id` (the whole session is in
    /// `changes.snapshot`; a backend may write only `changes.changed` and
    /// `changes.removed`). Renews the session's idle expiry.
    fn save(&self, id: &str, changes: &Changes);

    /// Forgets session `id`.
    fn remove(&self, id: &str);

    /// How long a session's lease lasts unless renewed, or `None` when the
    /// store needs no lease: a store that only one process uses (disk)
    /// cannot see a session run twice at once.
    ///
    /// With a lease, one process runs a session at a time: the host takes
    /// the lease before it adopts a session, renews it while the tab is
    /// connected, and releases it after storing the session's changes when
    /// the tab goes.
    fn lease_ttl(&self) -> Option<Duration> {
        None
    }

    /// Takes the lease of session `id` for `owner`, or extends it when
    /// `owner` holds it already; `false` while another owner holds it.
    fn acquire_lease(&self, _id: &str, _owner: &str) -> bool {
        true
    }

    /// Extends `owner`'s lease of session `id`; `false` when `owner` no
    /// longer holds it.
    fn renew_lease(&self, _id: &str, _owner: &str) -> bool {
        true
    }

    /// Gives up `owner`'s lease of session `id` (nothing if it holds none).
    fn release_lease(&self, _id: &str, _owner: &str) {}
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load(&self, id: &str) -> Option<Snapshot> {
        (**self).load(id)
    }
    fn save(&self, id: &str, changes: &Changes) {
        (**self).save(id, changes)
    }
    fn remove(&self, id: &str) {
        (**self).remove(id)
    }
    fn lease_ttl(&self) -> Option<Duration> {
        (**self).lease_ttl()
    }
    fn acquire_lease(&self, id: &str, owner: &str) -> bool {
        (**self).acquire_lease(id, owner)
    }
    fn renew_lease(&self, id: &str, owner: &str) -> bool {
        (**self).renew_lease(id, owner)
    }
    fn release_lease(&self, id: &str, owner: &str) {
        (**self).release_lease(id, owner)
    }
}

/// Which store an [`App`](crate::App) uses.
#[derive(Clone, Default)]
pub(crate) enum StoreChoice {
    /// From the environment (`PAGESTATE_SESSION_STORE`), disk by default.
    #[default]
    FromEnv,
    /// Sessions live in memory only.
    Memory,
    /// This store.
    Store(Arc<dyn SessionStore>),
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChoice::FromEnv => f.write_str("FromEnv"),
            StoreChoice::Memory => f.write_str("Memory"),
            StoreChoice::Store(_) => f.write_str("Store(..)"),
        }
    }
}

impl StoreChoice {
    /// The store to use, `None` for memory-only sessions; a store that
    /// cannot be opened is logged, and sessions stay in memory.
    pub(crate) fn open(&self, idle: Duration) -> Option<Arc<dyn SessionStore>> {
        match self {
            StoreChoice::Memory => None,
            StoreChoice::Store(store) => Some(Arc::clone(store)),
            StoreChoice::FromEnv => {
                let kind = std::env::var(STORE_VAR).unwrap_or_else(|_| "disk".to_owned());
                match kind.as_str() {
                    "memory" => None,
                    #[cfg(feature = "redis")]
                    "redis" => Some(Arc::new(RedisStore::new(idle))),
                    "disk" | "" => {
                        let dir = std::env::var(DIR_VAR).unwrap_or_else(|_| DEFAULT_DIR.to_owned());
                        match DiskStore::open(&dir, idle) {
                            Ok(store) => Some(Arc::new(store)),
                            Err(error) => {
                                tracing::warn!(%dir, "session store not opened, sessions stay in memory: {error}");
                                None
                            }
                        }
                    }
                    other => {
                        tracing::warn!(
                            "{STORE_VAR}={other:?} is not a session store (disk, redis with the \
                             `redis` feature, memory): sessions stay in memory"
                        );
                        None
                    }
                }
            }
        }
    }
}

/// Whether `id` is a session id as the host makes them (32 lowercase hex
/// digits): anything else never reaches a store (file names, Redis keys).
pub(crate) fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn only_host_made_ids_are_valid() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!valid_id("0123456789abcdef0123456789abcde"));
    }
}
