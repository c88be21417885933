//! # pagestate
//!
//! Page-model apps (Streamlit and its kind, immediate-mode UIs, per-session
//! web handlers) rerun their page code top to bottom on every interaction.
//! pagestate gives that code what it needs, as compile-time macros:
//!
//! - **state** that survives reruns, per user session: [`use_state!`] returns
//!   a [`StateRef`];
//! - **executors** that run a function on a thread pool or in worker
//!   processes and make it awaitable from page code: [`executor`];
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
    state, ContextGuard, Namespace, ScriptRunContext, Session, SessionId, StateError, StateRef,
};
pub use pagestate_core::{AlreadyStarted, ExecError, ProcessPool, ThreadPool};
/// Runs a function on pagestate's thread pool or in a worker process, and
/// makes it awaitable: `#[executor(thread)]`, `#[executor(process)]`.
///
/// The function keeps its name, arguments, visibility, attributes and docs;
/// `fn f(a: A) -> T` (or `async fn`) becomes
/// `fn f(a: A) -> impl Future<Output = Result<T, ExecError>> + Send + 'static`.
/// Calling it submits the job at once, so `let a = f(1); let b = f(2);` runs
/// both at the same time; the future works under any async runtime (tokio,
/// smol, `futures::executor::block_on`) and needs none. Dropping it before
/// its job has started cancels the job.
///
/// ```
/// use futures::executor::block_on;
/// use pagestate::{executor, use_state, ExecError, Session};
///
/// /// Blocking I/O, run off the page thread.
/// #[executor(thread)]
/// fn fetch(url: String) -> usize {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     url.len()
/// }
///
/// /// An async function runs to completion on its pool thread.
/// #[executor(thread)]
/// async fn fetch_async(url: String) -> usize {
///     url.len()
/// }
///
/// /// Sees the caller's session: `use_state!` works inside.
/// #[executor(thread, with_script_run_context = true, timeout = 5)]
/// fn count_visit() -> u32 {
///     let visits = use_state!("visits", factory = || 0_u32);
///     visits.reduce(|n, by| n + by, 1).unwrap()
/// }
///
/// /// CPU-bound work, in a worker process.
/// #[executor(process)]
/// fn cpu_intensive_computation(n: u64) -> u64 {
///     (0..n).map(|i| i * i).sum()
/// }
///
/// let (a, b) = (fetch("https://a.example".into()), fetch_async("b".into()));
/// assert_eq!(block_on(async { (a.await, b.await) }), (Ok(17), Ok(1)));
///
/// let session = Session::new();
/// let visit = session.run(count_visit); // the context is captured here
/// assert_eq!(block_on(visit), Ok(1));
/// assert_eq!(block_on(count_visit()), Err(ExecError::NoScriptRunContext));
///
/// assert_eq!(block_on(cpu_intensive_computation(1000)), Ok(332833500));
/// ```
///
/// # Options
///
/// | option | meaning |
/// | --- | --- |
/// | `thread` | run on pagestate's shared thread pool ([`ThreadPool`]: bounded, `min(32, CPUs + 4)` threads by default, started lazily) |
/// | `process` | run in a warm pool of worker processes ([`ProcessPool`]: one per CPU by default) |
/// | `with_script_run_context = true` | (`thread` only) capture the caller's [`ScriptRunContext`] at the call and attach it on the pool thread for the job; without a current context the future yields [`ExecError::NoScriptRunContext`] and the job never runs |
/// | `timeout = 5` | seconds (`0.5` works too): the future yields [`ExecError::Timeout`]; a thread job is abandoned (it runs on, its result is dropped), a worker process is killed and replaced |
///
/// # Thread jobs
///
/// Arguments move into the job, so they must be owned and `Send + 'static`
/// (`&str` is a compile error: take a `String`); a method may take `self` by
/// value. Without `with_script_run_context`, the pool thread has no run
/// context; with it, the context is detached when the job ends, also when it
/// panics. A panic yields [`ExecError::Panicked`] with its message, and the
/// thread lives on. An async function is driven by a small executor on the
/// pool thread: a future that needs a tokio reactor (tokio's timers,
/// sockets) must enter a tokio handle itself
/// (`let _guard = handle.enter();`).
///
/// # Process jobs
///
/// A worker is the application's own executable started again; pagestate
/// catches it before `main` runs (so there is nothing to set up, in
/// binaries, examples and test files alike) and has it serve jobs. The
/// function must be a sync, non-generic free or associated function without
/// `self`, `impl Trait` or references in its signature, whose argument and
/// result types are `serde::Serialize + serde::de::DeserializeOwned`; each
/// rule is a compile error pointing at the offending token. Inside an `impl`
/// block its body cannot say `Self` (the worker calls it as a free
/// function): write the type's name. Arguments are
/// encoded in the calling thread and results decoded there
/// ([postcard](https://docs.rs/postcard)); a failure is [`ExecError::Codec`].
/// A worker that dies during a job yields [`ExecError::WorkerDied`] and is
/// replaced; workers exit when the application exits or is killed. What the
/// function prints on stdout goes to the application's stderr. The worker
/// runs no `main`: state that `main` sets up (a logger, globals) is not set
/// up there. The process executor needs Unix; elsewhere its calls yield
/// [`ExecError::WorkerStart`].
pub use pagestate_macros::executor;
pub use pagestate_macros::use_state;

#[doc(hidden)]
pub use pagestate_core::__private;

/// The README's examples run as doctests, so they cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
