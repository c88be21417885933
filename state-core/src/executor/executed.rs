//! `#[cached]` stacked on `#[executor(..)]`: what such a function caches.

use std::marker::PhantomData;

use pagestate_cache::__private::CacheOutput;

use super::ExecError;

/// The outcome of a `#[cached]` function stacked on `#[executor(..)]`: the
/// job's result around the function's own outcome. It caches what the
/// function's outcome caches, and only when the job succeeded, so neither an
/// [`ExecError`] nor the function's own `Err` is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed<O>(pub Result<O, ExecError>);

impl<O: CacheOutput> CacheOutput for Executed<O> {
    type Value = O::Value;

    fn cached(&self) -> Option<&O::Value> {
        self.0.as_ref().ok().and_then(O::cached)
    }

    fn from_cached(value: O::Value) -> Self {
        Executed(Ok(O::from_cached(value)))
    }
}

/// The outcome type of a stacked function, from that of its body.
#[doc(hidden)]
pub fn executed<O>(_: PhantomData<O>) -> PhantomData<Executed<O>> {
    PhantomData
}
