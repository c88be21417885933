//! What may be cached: the bounds on keys and values, the scope a key lives
//! in, and the stable hash that names a key on disk.
//!
//! The bounds are traits with a blanket implementation so that a failed bound
//! reads as one sentence about the user's type (`#[diagnostic::on_unimplemented]`)
//! instead of a list of missing std traits.

use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};

/// A type that can be part of a cache key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key: it must be Hash + Eq + Clone + Send + Sync + 'static",
    label = "not usable as a cache key",
    note = "an argument whose name starts with `_` is left out of the key; or compute the key with `key = ...`"
)]
pub trait CacheKey: Hash + Eq + Clone + Send + Sync + 'static {}

impl<T: Hash + Eq + Clone + Send + Sync + 'static> CacheKey for T {}

/// A type that can be cached: callers receive clones of the stored value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: a cached value must be Clone + Send + Sync + 'static",
    label = "the cached value type",
    note = "callers receive a clone of the cached value, as st.cache_data returns copies; wrap a large value in `Arc` to make clones cheap"
)]
pub trait CacheValue: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CacheValue for T {}

/// A type that `persist = "disk"` or `persist = "redis"` can write out and
/// read back.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be persisted: with `persist = \"disk\"` or `persist = \"redis\"` the cached value must be Serialize + DeserializeOwned",
    label = "the persisted value type",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or drop `persist`"
)]
pub trait PersistValue: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> PersistValue for T {}

/// What a cached function returns, and which part of it is cached.
///
/// A plain value is always cached (the macro wraps it in [`Always`]); a
/// `std::result::Result`, under any alias, caches only its `Ok` value, as
/// Streamlit never caches exceptions.
pub trait CacheOutput: Sized {
    /// The part that is cached.
    type Value;

    /// The value to cache, or `None` when this outcome must not be cached.
    fn cached(&self) -> Option<&Self::Value>;

    /// Rebuilds the outcome from a cached value.
    fn from_cached(value: Self::Value) -> Self;
}

impl<T, E> CacheOutput for Result<T, E> {
    type Value = T;

    fn cached(&self) -> Option<&T> {
        self.as_ref().ok()
    }

    fn from_cached(value: T) -> Self {
        Ok(value)
    }
}

/// The outcome of a function whose whole return value is cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Always<T>(pub T);

impl<T> CacheOutput for Always<T> {
    type Value = T;

    fn cached(&self) -> Option<&T> {
        Some(&self.0)
    }

    fn from_cached(value: T) -> Self {
        Always(value)
    }
}

/// The outcome of a `#[cached]` function stacked on `#[executor(..)]`: the
/// job's result around the function's own outcome, `E` being the job's
/// error (pagestate's `ExecError`). It caches what the function's outcome
/// caches, and only when the job succeeded, so neither a job's error nor the
/// function's own `Err` is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed<O, E>(pub Result<O, E>);

impl<O: CacheOutput, E> CacheOutput for Executed<O, E> {
    type Value = O::Value;

    fn cached(&self) -> Option<&O::Value> {
        self.0.as_ref().ok().and_then(O::cached)
    }

    fn from_cached(value: O::Value) -> Self {
        Executed(Ok(O::from_cached(value)))
    }
}

/// The outcome type of a stacked function, from that of its body.
pub fn executed<O, E>(_: PhantomData<O>) -> PhantomData<Executed<O, E>> {
    PhantomData
}

/// A key together with the scope it belongs to: `GLOBAL` or a session's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Scoped<K> {
    pub(crate) session: u64,
    pub(crate) key: K,
}

/// The scope of globally cached entries; session ids start at 1.
pub(crate) const GLOBAL: u64 = 0;

/// A 128-bit hash that does not change with the Rust version or the process,
/// unlike `std`'s `RandomState`: it names things on disk.
pub(crate) fn stable_hash(value: &impl Hash) -> u128 {
    // Fixed keys: any constant works, it only has to stay the same forever.
    let mut hasher = SipHasher13::new_with_keys(0x7061_6765_7374_6174, 0x6361_6368_6564_2121);
    value.hash(&mut hasher);
    hasher.finish128().into()
}

/// A type whose borrowed form (`&T` argument) can be part of a cache key:
/// the key holds `T::Owned` (`&str` gives `String`, `&[u8]` gives `Vec<u8>`).
#[diagnostic::on_unimplemented(
    message = "`&{Self}` cannot be part of a cache key: `{Self}` must be ToOwned, and its owned form Hash + Eq + Clone + Send + Sync + 'static",
    label = "not usable as a cache key",
    note = "an argument whose name starts with `_` is left out of the key; or compute the key with `key = ...`"
)]
pub trait KeyRef {}

impl<T: ?Sized + ToOwned> KeyRef for T where T::Owned: CacheKey {}

/// Assertion targets for the macro: each fails with the message of its trait,
/// spanned on the user's type.
#[doc(hidden)]
pub fn assert_key<T: CacheKey>() {}

#[doc(hidden)]
pub fn assert_key_ref<T: ?Sized + KeyRef>() {}
