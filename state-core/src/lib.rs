//! Runtime of [pagestate](https://docs.rs/pagestate): sessions and run
//! contexts, per-session state, caches and executors.
//!
//! Applications depend on the `pagestate` facade, which re-exports this crate
//! together with the macros that generate calls into it.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
pub mod durable;
mod executor;
mod session;
mod state;
#[cfg(test)]
mod test_alloc;

#[cfg(test)]
#[global_allocator]
static ALLOCATOR: test_alloc::Tracking = test_alloc::Tracking;

pub use cache::{clear_all_caches, CacheStats};
#[cfg(feature = "redis")]
pub use cache::{RedisAlreadyStarted, RedisConfig, RedisTier};
pub use executor::{AlreadyStarted, ExecError, ProcessPool, ThreadPool};
pub use session::{state, ContextGuard, ScriptRunContext, Session, SessionId, StateRef};
pub use state::{Namespace, StateError};

/// What macro expansions call, and counters that pagestate's own tests read.
/// Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::{
        assert_key, assert_key_ref, assert_outcome, assert_persisted_outcome, body_ran_twice,
        custom_key, executed, session_purge_examined, typed_future, Always, Cache, CacheConfig,
        CacheOutput, CacheSlot, Call, CallCached, CallInvalid, Executed, KeyArg, KeyPartInvalid,
        KeyPartOf, Missed, PersistedCall, RedisCall, Returns, ReturnsResult, ReturnsValue, Setting,
    };
    pub use crate::durable::{
        use_state_durable, DurableCodec, DurableFallback, DurableProbe, DurableViaSerde,
    };
    pub use crate::session::{use_state, use_state_init};
    pub use crate::Namespace;

    pub use crate::executor::private::*;
    pub use crate::ExecError;
    pub use linkme;
}
