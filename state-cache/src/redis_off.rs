//! Without the `redis` feature there is no Redis tier: its types are
//! uninhabited, so the paths of the memory tier that would use them compile
//! to nothing, and no Redis client is built.

use std::convert::Infallible;
use std::time::Duration;

use super::expiry::Moment;
use super::key::{DynValue, ErasedValue};

/// Never constructed without the feature.
pub(crate) struct Remote(Infallible);

/// Never constructed without the feature.
pub(crate) enum Lease {}

/// Never constructed without the feature.
pub(crate) enum Wait {}

/// What a leader found in Redis.
#[allow(dead_code)]
pub(crate) enum Attempt {
    Hit(ErasedValue, Option<Moment>),
    Lead(Option<Lease>),
    Wait(Wait),
}

impl Remote {
    pub(crate) fn hits(&self) -> u64 {
        match self.0 {}
    }

    pub(crate) fn attempt(&self, _key_hash: u128) -> Attempt {
        match self.0 {}
    }

    pub(crate) fn store(&self, _value: &dyn DynValue, lease: Lease, _ttl: Option<Duration>) {
        match lease {}
    }

    pub(crate) fn remove(&self, _key_hash: u128) -> bool {
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
pub(crate) fn remove_entry(_identity: u128, _key_hash: u128) -> bool {
    false
}

/// As [`remove_entry`].
pub(crate) fn clear_function(_identity: u128) {}

/// Nothing to clear without the feature.
pub(crate) fn clear_all() {}
