//! Without the `redis` feature there is no Redis tier: its types are
//! uninhabited, so the paths of the memory tier that would use them compile
//! to nothing, and no Redis client is built.

use std::convert::Infallible;
use std::hash::Hash;
use std::marker::PhantomData;
use std::time::Duration;

use super::expiry::Moment;
use super::key::Scoped;

/// Never constructed without the feature.
pub(crate) struct Remote<V>(Infallible, PhantomData<fn() -> V>);

/// Never constructed without the feature.
pub(crate) enum Lease {}

/// Never constructed without the feature.
pub(crate) enum Wait {}

/// What a leader found in Redis.
#[allow(dead_code)]
pub(crate) enum Attempt<V> {
    Hit(V, Option<Moment>),
    Lead(Option<Lease>),
    Wait(Wait),
}

impl<V> Remote<V> {
    pub(crate) fn hits(&self) -> u64 {
        match self.0 {}
    }

    pub(crate) fn attempt<K: Hash>(&self, _key: &Scoped<K>) -> Attempt<V> {
        match self.0 {}
    }

    pub(crate) fn store(&self, _value: &V, lease: Lease, _ttl: Option<Duration>) {
        match lease {}
    }

    pub(crate) fn remove<K: Hash>(&self, _key: &Scoped<K>) -> bool {
        match self.0 {}
    }

    pub(crate) fn clear(&self) {
        match self.0 {}
    }
}

impl Wait {
    pub(crate) fn block(self) {
        match self {}
    }

    pub(crate) async fn done(self) {
        match self {}
    }
}

/// Functions with `persist = "redis"` do not compile without the feature.
pub(crate) fn remove_entry<K: Hash>(_identity: u128, _key: &Scoped<K>) -> bool {
    false
}

/// As [`remove_entry`].
pub(crate) fn clear_function(_identity: u128) {}

/// Nothing to clear without the feature.
pub(crate) fn clear_all() {}
