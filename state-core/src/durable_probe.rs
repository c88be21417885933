//! Where a `use_state!(.., durable)` expansion starts, with the `durable`
//! feature or without: a value that carries the state's type, on which
//! method resolution then picks the codec (or, without the feature, the
//! error).

use std::marker::PhantomData;

#[doc(hidden)]
pub struct DurableProbe<T>(PhantomData<fn() -> T>);

impl<T> DurableProbe<T> {
    #[doc(hidden)]
    pub fn of<F: FnOnce() -> T>(_factory: &F) -> Self {
        DurableProbe(PhantomData)
    }
}
