//! `use_state!(.., durable)` without the `durable` feature: the names its
//! expansion calls, so that it compiles to one error that says which
//! feature to turn on (instead of "cannot find `use_state_durable`").

pub use crate::durable_probe::DurableProbe;
use crate::session::{use_state, StateRef};
use crate::state::Namespace;

/// What the probe finds for every type without the feature.
#[doc(hidden)]
pub struct FeatureOff;

/// Imported by the expansion (`use .. as _`); nothing implements it here.
#[doc(hidden)]
pub trait DurableViaSerde {}

#[doc(hidden)]
pub trait DurableFallback {
    fn durable_codec(&self) -> FeatureOff;
}

impl<T> DurableFallback for &DurableProbe<T> {
    fn durable_codec(&self) -> FeatureOff {
        FeatureOff
    }
}

/// Has no implementations: `use_state_durable` cannot be called without the
/// feature, and the call is one error, this one.
#[diagnostic::on_unimplemented(
    message = "`use_state!(.., durable)` needs pagestate's `durable` feature",
    label = "this state is marked `durable`",
    note = "turn it on in Cargo.toml: `pagestate = {{ version = \"0.1\", features = [\"durable\"] }}` (the `web` feature includes it)"
)]
#[doc(hidden)]
pub trait DurableFeature {}

#[doc(hidden)]
#[track_caller]
pub fn use_state_durable<T, F, C>(
    namespace: Namespace<'_>,
    key: &str,
    _factory: F,
    _codec: C,
) -> StateRef<T>
where
    T: Send + Sync + 'static,
    F: FnOnce() -> T,
    C: DurableFeature,
{
    use_state::<T>(namespace, key)
}
