//! What may be cached: the bounds on keys and values, the scope a key lives
//! in, the stable hash that names a key on disk, and the type-erased form
//! in which the store keeps keys and values.
//!
//! The bounds are traits with a blanket implementation so that a failed bound
//! reads as one sentence about the user's type (`#[diagnostic::on_unimplemented]`)
//! instead of a list of missing std traits.
//!
//! The store, the flight table, the eviction queue, the session index and
//! the persisted tiers work on [`ErasedKey`] and [`ErasedValue`] only, so
//! they are compiled once, in this crate, whatever the types of the
//! `#[cached]` functions. What is compiled for each key and value type in
//! the application's crate is small: the key's hash and equality, the
//! value's clone, and their boxes. This is what keeps a `#[cached]`
//! function cheap to build (see the README's compile-time section). Every
//! generic instance made there names a type private to this crate
//! ([`KeyBox`], [`ValueBox`], [`Own`]) or the user's own types, so
//! that a debug build never takes a shared instance of it from some other
//! crate (tokio, say) and links that crate's object files with it.

use std::any::TypeId;
use std::hash::{BuildHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

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

/// A key together with the scope it belongs to: `GLOBAL` or a session's id,
/// as persisted entries are named: [`DynKey::stable`] hashes exactly this.
/// The tests spell names out with it.
#[cfg(test)]
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
    let mut hasher = Own(SipHasher13::new_with_keys(
        0x7061_6765_7374_6174,
        0x6361_6368_6564_2121,
    ));
    value.hash(&mut hasher);
    hasher.0.finish128().into()
}

/// A hasher of this crate's own around `H`, feeding it exactly what it is
/// given: generic instances of `Hash::hash` made with it (in the
/// application's crate too) name a type of this crate, so that no debug
/// build takes them from another crate (see the module docs).
pub(crate) struct Own<H>(H);

/// `write_u8` .. `write_usize` of [`Own`], each passed to the inner hasher
/// (which may hash an integer faster than its bytes).
macro_rules! pass_integers {
    ($($write:ident: $int:ty),*) => {
        $(
            #[inline]
            fn $write(&mut self, n: $int) {
                self.0.$write(n);
            }
        )*
    };
}

impl<H: Hasher> Hasher for Own<H> {
    #[inline]
    fn finish(&self) -> u64 {
        self.0.finish()
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    pass_integers!(
        write_u8: u8,
        write_u16: u16,
        write_u32: u32,
        write_u64: u64,
        write_u128: u128,
        write_usize: usize
    );
}

/// The seed of one cache's key hashes.
#[derive(Default)]
pub(crate) struct KeySeed(foldhash::fast::RandomState);

impl KeySeed {
    /// The hash of `key` in `session`; [`ErasedKey`] and [`Probe`] carry it,
    /// so that a key is hashed once per call, in its own type.
    #[inline]
    pub(crate) fn hash<K: Hash + ?Sized>(&self, session: u64, key: &K) -> u64 {
        let mut hasher = Own(self.0.build_hasher());
        hasher.write_u64(session);
        key.hash(&mut hasher);
        hasher.finish()
    }
}

/// A key of some type, behind `dyn`: what the store needs of it.
pub(crate) trait DynKey: Send + Sync + 'static {
    /// The type of the box, to tell keys of different types apart.
    fn kind(&self) -> TypeId;

    /// Whether `other`, a key of the same type, is equal to this one.
    ///
    /// The type is not checked here, on the hit path: every key that
    /// reaches a cache's map or flight table was boxed by the typed view of
    /// that cache ([`Cache`](super::Cache), `CacheSlot::invalidate`), which
    /// checks the cache's key type first ([`kind`](DynKey::kind)). Debug
    /// builds check it again here.
    fn same(&self, other: &dyn DynKey) -> bool;

    /// [`stable_hash`] of this key in `session`, as a `Scoped` key hashes:
    /// the name of its entry on disk and in Redis.
    fn stable(&self, session: u64) -> u128;
}

/// A key in the box the store keeps it in; `repr(transparent)`, so that a
/// borrowed key is looked up in place ([`KeyBox::from_ref`]).
#[repr(transparent)]
pub(crate) struct KeyBox<K>(pub(crate) K);

impl<K> KeyBox<K> {
    #[inline]
    pub(crate) fn from_ref(key: &K) -> &KeyBox<K> {
        // SAFETY: `KeyBox<K>` is `repr(transparent)` over `K`.
        unsafe { &*(key as *const K as *const KeyBox<K>) }
    }
}

impl<K: CacheKey> DynKey for KeyBox<K> {
    fn kind(&self) -> TypeId {
        TypeId::of::<KeyBox<K>>()
    }

    #[inline]
    fn same(&self, other: &dyn DynKey) -> bool {
        debug_assert!(other.kind() == TypeId::of::<KeyBox<K>>());
        // SAFETY: the keys of one cache are all `KeyBox<K>` (see the
        // trait's docs).
        let other = unsafe { &*(other as *const dyn DynKey as *const KeyBox<K>) };
        self.0 == other.0
    }

    fn stable(&self, session: u64) -> u128 {
        stable_hash(&ScopedRef {
            session,
            key: &self.0,
        })
    }
}

/// Hashes exactly as `Scoped<K>` does, without owning the key.
#[derive(Hash)]
struct ScopedRef<'a, K> {
    session: u64,
    key: &'a K,
}

/// A key as the store keeps it: its scope, its hash, and the key itself.
#[derive(Clone)]
pub(crate) struct ErasedKey {
    pub(crate) session: u64,
    hash: u64,
    key: Arc<dyn DynKey>,
}

impl ErasedKey {
    /// Boxes `key`, hashed `hash` by the cache's [`KeySeed`] in `session`.
    #[inline]
    pub(crate) fn new<K: CacheKey>(session: u64, hash: u64, key: K) -> Self {
        ErasedKey {
            session,
            hash,
            key: Arc::new(KeyBox(key)),
        }
    }

    /// The key's name on disk and in Redis.
    pub(crate) fn stable(&self) -> u128 {
        self.key.stable(self.session)
    }

    /// This key, borrowed for a lookup.
    #[inline]
    pub(crate) fn probe(&self) -> Probe<'_> {
        Probe {
            session: self.session,
            hash: self.hash,
            key: &*self.key,
        }
    }
}

impl Hash for ErasedKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for ErasedKey {
    fn eq(&self, other: &Self) -> bool {
        papaya::Equivalent::equivalent(&self.probe(), other)
    }
}

impl Eq for ErasedKey {}

/// A borrowed key, to look a key up without boxing it (the hit path).
pub(crate) struct Probe<'a> {
    pub(crate) session: u64,
    pub(crate) hash: u64,
    pub(crate) key: &'a dyn DynKey,
}

impl Hash for Probe<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl papaya::Equivalent<ErasedKey> for Probe<'_> {
    #[inline]
    fn equivalent(&self, key: &ErasedKey) -> bool {
        self.hash == key.hash && self.session == key.session && self.key.same(&*key.key)
    }
}

/// Builds the maps of [`ErasedKey`]s: the key's hash is already mixed
/// (foldhash, seeded per cache), so the map's hasher passes it through.
#[derive(Clone, Copy, Default)]
pub(crate) struct PassThrough;

impl BuildHasher for PassThrough {
    type Hasher = PassHasher;

    #[inline]
    fn build_hasher(&self) -> PassHasher {
        PassHasher(0)
    }
}

/// See [`PassThrough`]. Only `write_u64` is ever called, by the `Hash` of
/// [`ErasedKey`] and [`Probe`].
#[derive(Default)]
pub(crate) struct PassHasher(u64);

impl Hasher for PassHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached; a fold keeps it a hash all the same.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// A value of some type, behind `dyn`.
pub(crate) trait DynValue: Send + Sync + 'static {
    /// The type of the box, to check a downcast.
    fn kind(&self) -> TypeId;
}

/// A value in the box the store keeps it in.
#[repr(transparent)]
pub(crate) struct ValueBox<V>(V);

impl<V: CacheValue> DynValue for ValueBox<V> {
    fn kind(&self) -> TypeId {
        TypeId::of::<ValueBox<V>>()
    }
}

/// A value as the store keeps it; clones share it.
pub(crate) type ErasedValue = Arc<dyn DynValue>;

/// Boxes `value` for the store.
#[inline]
pub(crate) fn erase<V: CacheValue>(value: V) -> ErasedValue {
    Arc::new(ValueBox(value))
}

/// The value in `value`, of the type it was boxed with.
///
/// The type is not checked here, on the hit path: the values of a cache
/// are all boxed with its value type, by the typed view of that cache
/// ([`Cache`](super::Cache)) and by the codec made with that type when the
/// cache was created, and the typed view checks the cache's value type
/// first. Debug builds check it again here.
#[inline]
pub(crate) fn unerase<V: CacheValue>(value: &dyn DynValue) -> &V {
    debug_assert!(
        value.kind() == TypeId::of::<ValueBox<V>>(),
        "a #[cached] cache is used with one key and value type"
    );
    // SAFETY: `value` is a `ValueBox<V>` (see above), which is
    // `repr(transparent)` over `V`.
    unsafe { &*(value as *const dyn DynValue as *const V) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boxed_key_is_named_as_its_scoped_key() {
        let key = ErasedKey::new(5, 0, ("report".to_owned(), 7_u64));
        let scoped = Scoped {
            session: 5,
            key: ("report".to_owned(), 7_u64),
        };
        assert_eq!(key.stable(), stable_hash(&scoped));
    }

    #[test]
    fn boxed_keys_are_equal_only_with_equal_scope_and_value() {
        let seed = KeySeed::default();
        let boxed = |session, key: u64| ErasedKey::new(session, seed.hash(session, &key), key);
        assert!(boxed(0, 1) == boxed(0, 1));
        assert!(boxed(0, 1) != boxed(0, 2));
        assert!(boxed(0, 1) != boxed(1, 1));
        let probe = Probe {
            session: 0,
            hash: seed.hash(0, &1_u64),
            key: KeyBox::from_ref(&1_u64),
        };
        assert!(papaya::Equivalent::equivalent(&probe, &boxed(0, 1)));
        assert!(!papaya::Equivalent::equivalent(&probe, &boxed(0, 2)));
        assert!(!papaya::Equivalent::equivalent(&probe, &boxed(1, 1)));
    }

    #[test]
    fn a_value_comes_out_as_it_went_in() {
        let value = erase(vec![1_u8, 2]);
        assert_eq!(unerase::<Vec<u8>>(&*value), &[1, 2]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "one key and value type")]
    fn a_value_read_as_another_type_panics_in_debug_builds() {
        let value = erase(1_u64);
        let _ = unerase::<u32>(&*value);
    }
}
