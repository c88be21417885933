//! # pagestate
//!
//! Page-model apps (Streamlit and its kind, immediate-mode UIs, per-session
//! web handlers) rerun their page code top to bottom on every interaction.
//! pagestate gives that code what it needs, as compile-time macros:
//!
//! - **state** that survives reruns, per user session: [`use_state!`] returns
//!   a [`StateRef`];
//!
//! Page code runs inside [`Session::run`], which makes the session's
//! [`ScriptRunContext`] current on the thread:
//!
//! ```
//! use pagestate::{use_state, Session};
//!
//! fn page() -> i64 {
//!     let clicks = use_state!("clicks", factory = || 0_i64);
//!     clicks.reduce(|n, by| n + by, 1).unwrap()
//! }
//!
//! let session = Session::new();
//! assert_eq!(session.run(page), 1);
//! assert_eq!(session.run(page), 2); // the state survived the rerun
//! assert_eq!(Session::new().run(page), 1); // another session has its own
//! ```

#![warn(missing_docs)]

pub use pagestate_core::{
    clear_all_caches, state, CacheStats, ContextGuard, Namespace, ScriptRunContext, Session,
    SessionId, StateError, StateRef,
};
pub use pagestate_macros::{cached, use_state};

#[doc(hidden)]
pub use pagestate_core::__private;
