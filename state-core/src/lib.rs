//! Runtime of [pagestate](https://docs.rs/pagestate): sessions and run
//! contexts, per-session state and executors. The caches are
//! pagestate-cache's; this crate re-exports them.
//!
//! Applications depend on the `pagestate` facade, which re-exports this crate
//! together with the macros that generate calls into it.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "durable")]
#[cfg_attr(docsrs, doc(cfg(feature = "durable")))]
pub mod durable;
#[cfg(not(feature = "durable"))]
mod durable_off;
mod durable_probe;
mod executor;
mod session;
mod state;

#[cfg(test)]
#[global_allocator]
static ALLOCATOR: pagestate_alloc_probe::Tracking = pagestate_alloc_probe::Tracking;

pub use executor::{AlreadyStarted, ExecError, ProcessPool, ThreadPool};
pub use pagestate_cache::{clear_all_caches, CacheStats};
#[cfg(feature = "redis")]
pub use pagestate_cache::{RedisAlreadyStarted, RedisConfig, RedisTier};
pub use session::{state, ContextGuard, ScriptRunContext, Session, SessionId, StateRef};
pub use state::{Namespace, StateError};

/// What `use_state!` and `#[executor]` expansions call. Not a public API: it
/// changes without notice. (`#[cached]` expansions call pagestate-cache's;
/// the facade offers both as one module.)
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "durable")]
    pub use crate::durable::{
        use_state_durable, DurableCodec, DurableFallback, DurableProbe, DurableViaSerde,
    };
    #[cfg(not(feature = "durable"))]
    pub use crate::durable_off::{
        use_state_durable, DurableFallback, DurableProbe, DurableViaSerde,
    };
    pub use crate::session::{use_state, use_state_init};
    pub use crate::Namespace;

    pub use crate::executor::private::*;
    pub use crate::ExecError;
    pub use linkme;
}
