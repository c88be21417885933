//! How `#[cached]` expansions reach a cache without cascading errors.
//!
//! The macro checks every bound once, with an assertion spanned on the
//! user's type (see `key.rs`). The calls that follow must not report the
//! same failure again at the attribute: they dispatch by autoref
//! specialization on concrete types, so that when a bound does not hold,
//! method resolution picks an inert fallback (which never runs: the
//! assertion has already failed the build) instead of failing again.

use std::future::Future;
use std::marker::PhantomData;

use super::key::{Always, CacheKey, CacheOutput, CacheValue, ErasedKey, PersistValue};
use super::{Cache, CacheSlot};

/// One argument on its way into a key: `(&&KeyArg(&arg)).__pagestate_part()`
/// clones it (or, for `&T`, makes `T::Owned`).
#[doc(hidden)]
pub struct KeyArg<'a, T: ?Sized>(pub &'a T);

#[doc(hidden)]
pub trait KeyPartOf {
    type Part;
    fn __pagestate_part(&self) -> Self::Part;
}

impl<T: ?Sized + ToOwned> KeyPartOf for &KeyArg<'_, T>
where
    T::Owned: CacheKey,
{
    type Part = T::Owned;

    #[inline]
    fn __pagestate_part(&self) -> T::Owned {
        self.0.to_owned()
    }
}

#[doc(hidden)]
pub trait KeyPartInvalid {
    fn __pagestate_part(&self) {}
}

impl<T: ?Sized> KeyPartInvalid for &&KeyArg<'_, T> {}

/// The return type `R` of a `#[cached]` function, to choose what is cached
/// by type rather than by name: a `std::result::Result` under any alias
/// caches its `Ok` value only, anything else is cached whole
/// ([`Always`](super::Always)).
#[doc(hidden)]
pub struct Returns<R>(PhantomData<fn() -> R>);

impl<R> Returns<R> {
    #[inline]
    pub fn new() -> Self {
        Returns(PhantomData)
    }
}

impl<R> Default for Returns<R> {
    fn default() -> Self {
        Returns::new()
    }
}

impl<R> Clone for Returns<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Returns<R> {}

#[doc(hidden)]
pub trait ReturnsResult<R> {
    type Outcome;
    fn __pagestate_outcome(&self) -> PhantomData<Self::Outcome> {
        PhantomData
    }
    fn __pagestate_wrap(&self, value: R) -> Self::Outcome;
    fn __pagestate_unwrap(&self, outcome: Self::Outcome) -> R;
}

impl<T, E> ReturnsResult<Result<T, E>> for &Returns<Result<T, E>> {
    type Outcome = Result<T, E>;

    #[inline]
    fn __pagestate_wrap(&self, value: Result<T, E>) -> Result<T, E> {
        value
    }

    #[inline]
    fn __pagestate_unwrap(&self, outcome: Result<T, E>) -> Result<T, E> {
        outcome
    }
}

#[doc(hidden)]
pub trait ReturnsValue<R> {
    fn __pagestate_outcome(&self) -> PhantomData<Always<R>> {
        PhantomData
    }

    #[inline]
    fn __pagestate_wrap(&self, value: R) -> Always<R> {
        Always(value)
    }

    #[inline]
    fn __pagestate_unwrap(&self, outcome: Always<R>) -> R {
        outcome.0
    }
}

impl<R> ReturnsValue<R> for &&Returns<R> {}

/// Checks what a function's outcome caches, spanned on its return type.
#[doc(hidden)]
pub fn assert_outcome<O: CacheOutput>(_: PhantomData<O>)
where
    O::Value: CacheValue,
{
}

/// [`assert_outcome`] for `persist = "disk"` and `persist = "redis"`.
#[doc(hidden)]
pub fn assert_persisted_outcome<O: CacheOutput>(_: PhantomData<O>)
where
    O::Value: PersistValue,
{
}

/// A key that missed, in the scope of the call that looked it up, boxed
/// for the store (`None` only in the fallback, which never runs).
#[doc(hidden)]
pub struct Missed<K>(Option<ErasedKey>, PhantomData<fn() -> K>);

/// A call of a `#[cached]` function with key type `K` and outcome `O`.
#[doc(hidden)]
pub struct Call<K, O> {
    slot: &'static CacheSlot,
    types: PhantomData<fn(K) -> O>,
}

impl<K, O> Call<K, O> {
    /// `key` and `outcome` only tell the types.
    #[inline]
    pub fn new(slot: &'static CacheSlot, _key: &K, _outcome: PhantomData<O>) -> Self {
        Call {
            slot,
            types: PhantomData,
        }
    }
}

#[doc(hidden)]
pub trait CallCached<K, O> {
    /// The hit path: the cached outcome for `key`, or the key in the
    /// caller's scope for [`__pagestate_call_missed`]. A hit builds nothing
    /// for the body.
    ///
    /// [`__pagestate_call_missed`]: CallCached::__pagestate_call_missed
    fn __pagestate_lookup(&self, key: K) -> Result<O, Missed<K>>;

    /// The miss path: waits for an equal call or runs `body`, at most once.
    /// `body` is behind `dyn`, so that this is compiled once per key and
    /// outcome type, not once per function.
    fn __pagestate_call_missed(&self, key: Missed<K>, body: &mut dyn FnMut() -> O) -> O;

    fn __pagestate_call_async<Fut: Future<Output = O>>(
        &self,
        key: K,
        body: Fut,
    ) -> impl Future<Output = O>;

    /// [`Cache::call_eager`](super::Cache::call_eager) behind the same
    /// dispatch, for wrappers that stack on `#[cached]`.
    fn __pagestate_call_eager<F, Fut>(
        &self,
        key: K,
        make: F,
    ) -> impl Future<Output = O> + Send + 'static + use<Self, K, O, F, Fut>
    where
        O: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static;

    fn __pagestate_invalidate(&self, key: K) -> bool;
}

/// Which typed cache a call goes to: the two kinds of call differ only here.
#[doc(hidden)]
pub trait ResolveCache<K, O: CacheOutput> {
    fn __pagestate_slot(&self) -> &'static CacheSlot;
    fn __pagestate_cache(&self) -> &'static Cache<K, O::Value>;
}

impl<K: CacheKey, O: CacheOutput> ResolveCache<K, O> for Call<K, O>
where
    O::Value: CacheValue,
{
    #[inline]
    fn __pagestate_slot(&self) -> &'static CacheSlot {
        self.slot
    }

    #[inline]
    fn __pagestate_cache(&self) -> &'static Cache<K, O::Value> {
        self.slot.typed::<K, O::Value>()
    }
}

impl<K: CacheKey, O: CacheOutput, C> CallCached<K, O> for C
where
    C: ResolveCache<K, O>,
    O::Value: CacheValue,
{
    // Always inlined: the hit path is the whole point of a cache.
    #[inline(always)]
    #[track_caller]
    fn __pagestate_lookup(&self, key: K) -> Result<O, Missed<K>> {
        self.__pagestate_cache()
            .hit(key)
            .map_err(|key| Missed(Some(key), PhantomData))
    }

    #[inline]
    fn __pagestate_call_missed(&self, key: Missed<K>, body: &mut dyn FnMut() -> O) -> O {
        match key.0 {
            Some(key) => self.__pagestate_cache().call_missed(key, body),
            None => body(),
        }
    }

    #[inline]
    #[track_caller]
    fn __pagestate_call_async<Fut: Future<Output = O>>(
        &self,
        key: K,
        body: Fut,
    ) -> impl Future<Output = O> {
        self.__pagestate_cache().call_async(key, body)
    }

    #[track_caller]
    fn __pagestate_call_eager<F, Fut>(
        &self,
        key: K,
        make: F,
    ) -> impl Future<Output = O> + Send + 'static + use<K, O, F, Fut, C>
    where
        O: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        self.__pagestate_cache().call_eager(key, make)
    }

    #[track_caller]
    fn __pagestate_invalidate(&self, key: K) -> bool {
        // Through the slot: invalidating must not create the cache (a
        // persisted entry can be dropped by a process that never called).
        self.__pagestate_slot().invalidate(key)
    }
}

/// A call of a `#[cached(persist = ...)]` function: a [`Call`] whose cache
/// is created with the tier `T` ([`OnDisk`] or [`InRedis`]).
#[doc(hidden)]
pub struct TierCall<K, O, T>(Call<K, O>, PhantomData<T>);

/// A call of a `#[cached(persist = "disk")]` function.
#[doc(hidden)]
pub type PersistedCall<K, O> = TierCall<K, O, OnDisk>;

/// A call of a `#[cached(persist = "redis")]` function.
#[cfg(feature = "redis")]
#[doc(hidden)]
pub type RedisCall<K, O> = TierCall<K, O, InRedis>;

/// How a persisted call creates its cache.
#[doc(hidden)]
pub trait PersistTier {
    fn cache<K: CacheKey, V: CacheValue + PersistValue>(
        slot: &'static CacheSlot,
    ) -> &'static Cache<K, V>;
}

/// `persist = "disk"`.
#[doc(hidden)]
pub enum OnDisk {}

impl PersistTier for OnDisk {
    #[inline]
    fn cache<K: CacheKey, V: CacheValue + PersistValue>(
        slot: &'static CacheSlot,
    ) -> &'static Cache<K, V> {
        slot.typed_persisted()
    }
}

/// `persist = "redis"`.
#[cfg(feature = "redis")]
#[doc(hidden)]
pub enum InRedis {}

#[cfg(feature = "redis")]
impl PersistTier for InRedis {
    #[inline]
    fn cache<K: CacheKey, V: CacheValue + PersistValue>(
        slot: &'static CacheSlot,
    ) -> &'static Cache<K, V> {
        slot.typed_redis()
    }
}

impl<K, O, T> TierCall<K, O, T> {
    /// `key` and `outcome` only tell the types.
    #[inline]
    pub fn new(slot: &'static CacheSlot, key: &K, outcome: PhantomData<O>) -> Self {
        TierCall(Call::new(slot, key, outcome), PhantomData)
    }
}

impl<K: CacheKey, O: CacheOutput, T: PersistTier> ResolveCache<K, O> for TierCall<K, O, T>
where
    O::Value: CacheValue + PersistValue,
{
    #[inline]
    fn __pagestate_slot(&self) -> &'static CacheSlot {
        self.0.slot
    }

    #[inline]
    fn __pagestate_cache(&self) -> &'static Cache<K, O::Value> {
        T::cache(self.0.slot)
    }
}

/// The fallback when a bound failed (and its assertion reported it): never
/// runs.
#[doc(hidden)]
pub trait CallInvalid<K, O> {
    fn __pagestate_lookup(&self, key: K) -> Result<O, Missed<K>> {
        drop(key);
        Err(Missed(None, PhantomData))
    }

    fn __pagestate_call_missed(&self, _key: Missed<K>, body: &mut dyn FnMut() -> O) -> O {
        body()
    }

    fn __pagestate_call_async<Fut: Future<Output = O>>(&self, _key: K, body: Fut) -> Fut {
        body
    }

    fn __pagestate_call_eager<F, Fut>(&self, _key: K, make: F) -> Fut
    where
        O: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
    {
        make()
    }

    fn __pagestate_invalidate(&self, _key: K) -> bool {
        false
    }
}

impl<K, O> CallInvalid<K, O> for &Call<K, O> {}

impl<K, O, T> CallInvalid<K, O> for &TierCall<K, O, T> {}

/// A `#[cached]` body was asked to run a second time in one call, which the
/// cache never does.
#[doc(hidden)]
#[cold]
pub fn body_ran_twice() -> ! {
    unreachable!("a #[cached] call runs its body at most once")
}

/// Pins the output type of a `#[cached] async fn`'s body, so that `?` and
/// `return` inside it convert to the declared return type.
#[doc(hidden)]
pub fn typed_future<T, F: Future<Output = T>>(future: F) -> F {
    future
}

/// Checks a custom `key = ...` expression, spanned on it.
#[doc(hidden)]
pub fn custom_key<K: CacheKey>(key: K) -> K {
    key
}
