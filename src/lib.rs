//! # pagestate
//!
//! Page-model apps (Streamlit and its kind, immediate-mode UIs, per-session
//! web handlers) rerun their page code top to bottom on every interaction.
//! pagestate gives that code what it needs, as compile-time macros:
//!
//! - **state** that survives reruns, per user session: [`use_state!`] returns
//!   a [`StateRef`];
//! - **caching** of what the page computes, `st.cache_data`-style:
//!   [`#[cached]`](macro@cached), with ttl, size bound, session scope, disk
//!   persistence and single-flight;
//! - **executors** that run a function on a thread pool or in worker
//!   processes and make it awaitable from page code: [`executor`];
//! - a **web host** (cargo feature `web`): `pagestate::web::App::new(page).run()`
//!   serves a page function to browser tabs with Streamlit's rerun
//!   semantics, and `pagestate::web::testing::AppTest` tests it in-process.
//!
//! Everything but caching needs the `runtime` feature, on by default. An
//! application that only caches can turn it off (`default-features =
//! false`): `#[cached]` stays whole, and the build compiles and links the
//! cache crate alone.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use pagestate_cache::{clear_all_caches, CacheStats, SessionId};
#[cfg(feature = "durable")]
#[cfg_attr(docsrs, doc(cfg(feature = "durable")))]
pub use pagestate_core::durable;
#[cfg(feature = "runtime")]
pub use pagestate_core::{
    state, ContextGuard, Namespace, ScriptRunContext, Session, StateError, StateRef,
};
#[cfg(feature = "runtime")]
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
/// | `timeout = 5`, `timeout = 0.5`, `timeout = "90s"`, `timeout = <Duration expr>` | greater than 0, in the duration grammar of `#[cached(ttl = ..)]`, counted from the call, waiting for a free thread or worker included: the future yields [`ExecError::Timeout`]; a job still queued then never runs, a running thread job is abandoned (it runs on, its result is dropped), a worker process is killed and replaced |
///
/// # Thread jobs
///
/// Arguments move into the job, so they must be owned and `Send + 'static`
/// (`&str` is a compile error: take a `String`); a method may take `self` by
/// value. Without `with_script_run_context`, the pool thread has no run
/// context; with it, the context is detached when the job ends, also when it
/// panics. A panic yields [`ExecError::Panicked`] with its message, and the
/// thread lives on. If no pool thread can be started (the operating system
/// refuses one) while none is running, the future yields
/// [`ExecError::ThreadStart`].
///
/// An async function is driven to completion on the pool thread. With the
/// default `tokio` feature it runs inside a tokio runtime context: the
/// caller's runtime, captured at the call, or, for a caller outside tokio,
/// a small runtime the pool owns; tokio's timers and sockets work in it.
/// Without the feature it is driven by a plain executor, and a future that
/// needs a tokio reactor must enter a tokio handle itself.
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
/// A `Vec<u8>` argument or result (or an alias of it) is copied as one block
/// of bytes, not element by element as serde's `Vec<T>` would.
/// A worker that dies during a job yields [`ExecError::WorkerDied`] and is
/// replaced; workers exit when the application exits or is killed. What the
/// function prints on stdout goes to the application's stderr. The worker
/// runs no `main`: state that `main` sets up (a logger, globals) is not set
/// up there. The process executor needs Unix; elsewhere its calls yield
/// [`ExecError::WorkerStart`].
pub use pagestate_macros::executor;
/// A handle to one value in the current session that survives reruns:
/// `use_state!(key, options...)` returns a [`StateRef<T>`].
///
/// The key is any expression that derefs to `str` (a literal, a
/// `String`, `format!(..)`). Options:
///
/// | option | meaning |
/// | --- | --- |
/// | `factory = <expr>` | a `FnOnce() -> T` that initialises the state on first use (`|| 0`, `Vec::new`) |
/// | `type = T` | the value type, when neither a factory nor an annotation tells it; the state starts uninitialised |
/// | `namespace = <expr>` | a `&str` namespace (`module_path!()` for page-scoped state); default: the session-wide one |
/// | `durable` | (feature `durable`, which `web` turns on) stored with the session, so a restarted app or another replica takes it back (see `pagestate::durable`); needs a `factory` and a `Serialize + DeserializeOwned` type, checked at compile time; without the feature, a compile error that names it |
///
/// The same key in two namespaces, or in two sessions, is two values.
///
/// ```
/// use pagestate::{use_state, Session, StateRef};
///
/// Session::new().run(|| {
///     let count = use_state!("count", factory = || 0_i64); // initialised on first use
///     let name = use_state!("name", type = String); // typed, not initialised
///     let title: StateRef<String> = use_state!("title"); // type from the annotation
///     let rows = use_state!("rows", namespace = module_path!(), factory = Vec::<u32>::new);
///     let i = 3;
///     let cell = use_state!(format!("cell-{i}"), factory = || 0.0_f64); // computed key
///
///     assert_eq!(count.reduce(|n, by| n + by, 1), Ok(1));
///     assert!(!name.is_initialized() && !title.is_initialized());
///     rows.update(|rows| rows.push(7)).unwrap();
///     assert_eq!((rows.get().unwrap(), cell.get()), (vec![7], Ok(0.0)));
/// });
/// ```
///
/// # Panics
///
/// Outside a page run (no [`ScriptRunContext`] on the thread), with a
/// message naming the fix: run the page inside [`Session::run`], or attach
/// a captured context with [`ScriptRunContext::attach`]. The function form
/// [`state`] returns [`StateError::NoContext`] instead.
pub use pagestate_macros::use_state;

/// Memoizes a function by its arguments, with the semantics of Streamlit's
/// `st.cache_data`.
///
/// ```
/// use pagestate::{cached, Session};
///
/// #[cached(ttl = "10m", max_entries = 100)]
/// fn load_report(path: &str) -> Result<Vec<String>, String> {
///     // Runs once per `path` until the entry expires; an `Err` is never cached.
///     Ok(vec![format!("report from {path}")])
/// }
///
/// let page = || load_report("sales.csv").unwrap().len();
/// let session = Session::new();
/// assert_eq!(session.run(page), 1); // computed
/// assert_eq!(session.run(page), 1); // a rerun: served from the cache
/// assert_eq!(load_report::stats().hits, 1);
/// ```
///
/// # Options
///
/// | option | meaning |
/// | --- | --- |
/// | `ttl = 60`, `ttl = 0.5`, `ttl = "1h 30m"`, `ttl = <Duration expr>` | entries expire after this long (seconds, a duration string checked at compile time, or any `std::time::Duration` expression, evaluated once); none: never |
/// | `max_entries = 100` | the cache never holds more; when full, the oldest entry is evicted |
/// | `scope = "global"` (default), `scope = "session"` | session-scoped entries belong to the caller's [`Session`], are invisible to other sessions and are freed with it; a call then needs a run context ([`Session::run`] or an attached [`ScriptRunContext`]) and panics without one |
/// | `persist = "disk"` | entries are also written to disk and served after a restart (see below); the cached value must be `Serialize + DeserializeOwned` |
/// | `persist = "redis"` | (feature `redis`) entries are also kept in Redis, shared by every process connected to it, with single-flight across processes (see below); the cached value must be `Serialize + DeserializeOwned` |
/// | `key = <expr>` | a custom key computed from the arguments (Streamlit's `hash_funcs`), evaluated before the body |
///
/// `show_spinner` is rejected: a cache has no UI to draw in. Any other
/// unknown, repeated or conflicting option is a compile error on that option.
///
/// # Semantics
///
/// - **Keys.** An argument `a: T` contributes a clone of `a` to the key, an
///   argument `a: &T` contributes `T::Owned` (`&str` becomes `String`,
///   `&[u8]` becomes `Vec<u8>`); these must be `Hash + Eq + Clone + Send +
///   Sync + 'static`. Arguments named `_...` are left out of the key, so
///   they need not be `Hash` (`fn load(path: &str, _db: &Db)`).
/// - **Values.** Callers receive a clone of the cached value, as
///   `cache_data` returns copies, so the return type must be `Clone` (wrap
///   big values in `Arc`). A `std::result::Result<T, E>` return type,
///   under any alias (`io::Result<T>`, your own `type Outcome<T>`), caches
///   `Ok(T)` only (so only `T` must be `Clone`): an `Err` goes back to its
///   caller and is never stored. The choice is made by type: your own enum
///   named `Result` is cached whole.
/// - **Single-flight.** Concurrent calls with an equal key run the body
///   once; the others wait for its value (a sync caller blocks, an async
///   one awaits without blocking a thread, under tokio, smol, async-std or
///   `futures::executor::block_on`). Calls with different keys run in
///   parallel. If the body panics, returns `Err` or its future is dropped,
///   one waiter runs the body instead; nothing is poisoned.
/// - **One cache per function**, never shared, even between functions of
///   the same name in different modules.
/// - Hits read a lock-free map and touch no shared memory, so they scale
///   across threads; misses take one mutex per function.
///
/// # Cache controls
///
/// `#[cached] fn load(..)` also defines a type `load` with the function's
/// visibility (functions and types live in different namespaces), an empty
/// enum whose associated functions control the cache:
///
/// - `load::clear()` empties the cache, in memory and on disk;
/// - `load::stats()` returns its [`CacheStats`];
/// - `load::invalidate(args) -> bool` drops the entry for these arguments
///   (Streamlit's `load.clear(*args)`). It takes the key arguments (all
///   arguments with a custom `key`).
///
/// [`clear_all_caches`] empties every cache of the process. A computation
/// running while its entry is cleared returns its value to its callers but
/// does not store it.
///
/// ```
/// use pagestate::cached;
///
/// #[cached]
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// square(3);
/// square(3);
/// assert_eq!((square::stats().hits, square::stats().misses), (1, 1));
/// assert!(square::invalidate(3));
/// square::clear();
/// assert_eq!(square::stats().entries, 0);
/// ```
///
/// # Disk persistence
///
/// With `persist = "disk"`, each entry is also a file under
/// `PAGESTATE_CACHE_DIR` (or `.pagestate/cache` in the working directory),
/// in a directory named after the function's identity: a hash of its module
/// path, name, options, signature and body tokens. Editing the function
/// (not its comments or formatting) therefore starts a fresh directory, as
/// Streamlit hashes a function's source. Files are written to a temporary
/// name and renamed, and carry a checksum: a crash mid-write never leaves an
/// entry that is read back. A corrupt, unreadable, foreign or expired file
/// is a miss (and is deleted), never a panic; `ttl` holds on disk too. Disk
/// errors on write are ignored (the value is still cached in memory).
/// Session-scoped caches cannot persist: sessions end with the process.
///
/// # Redis tier
///
/// With `persist = "redis"` (cargo feature `redis`), a memory miss reads
/// Redis (`PAGESTATE_REDIS_URL`, default `redis://127.0.0.1:6379`, or
/// `RedisTier::configure` before first use) before computing, and a
/// computed value goes to both; the ttl is a Redis expiry too. Values carry
/// the same identity, header and checksum as disk entries, under keys
/// `{prefix}{identity}:{key hash}` (prefix `pagestate:` by default). For
/// one key, one process computes at a time, under a lease it renews while
/// the body runs; the others wait for its `done` event (pub/sub), or for the
/// lease to expire if it died. `clear`, `invalidate` and
/// [`clear_all_caches`] reach the memory of every connected process.
/// `stats().redis_hits` counts the misses Redis answered. When Redis is
/// unreachable or slower than the command timeout, calls compute locally
/// (logged once through `log`) and the tier reconnects by itself.
///
/// # Limits
///
/// - Not for methods: a function taking `self` is a compile error; cache a
///   free function taking the fields it needs, and call it from the method.
///   Associated functions inside `impl` blocks are not supported either (the
///   controls' type cannot live there).
/// - Not generic over types (the cache is one `static`); lifetimes are fine.
/// - The controls' type takes the function's name in the type namespace:
///   no module or type of that name may sit beside it.
/// - A body that calls its own function with the same key cannot be served
///   (the inner call would wait for the outer one forever): on the same
///   thread, such a call panics with a message saying so. Through another
///   thread (a job it waits for) it is not detected and waits forever, as
///   any single-flight cache would.
/// - In an `async fn`, a session-scoped cache finds its session when the
///   future is first polled, as `use_state!` in the body would.
/// - A session-scoped value that holds a handle of its own session (a
///   [`StateRef`], a [`Session`], a [`ScriptRunContext`]) keeps that session
///   alive, so dropping the session's other handles does not free it; call
///   [`Session::close`] to free it.
pub use pagestate_macros::cached;

/// What the macros' expansions name, under this version's name: a macro
/// crate of another version names another module and fails to compile.
/// Rename it with every version bump (a test checks it).
#[doc(hidden)]
pub mod __private_0_1_0 {
    pub use pagestate_cache::__private::*;
    #[cfg(feature = "runtime")]
    pub use pagestate_core::__private::*;

    /// Without the runtime, the type that the same-shaped stand-ins of
    /// `#[executor]` functions name, next to the compile error that asks for
    /// the `runtime` feature: callers then see that error and no other.
    #[cfg(not(feature = "runtime"))]
    pub type ExecError = ::core::convert::Infallible;
}

#[cfg(feature = "redis")]
pub use pagestate_cache::{RedisAlreadyStarted, RedisConfig, RedisTier};

/// Expanded by `use_state!`: the expansion with the `runtime` feature, a
/// compile error that names the feature without (an expression of no type,
/// so nothing follows from it).
#[cfg(feature = "runtime")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_runtime_expr {
    ($what:literal $($expansion:tt)*) => {
        $($expansion)*
    };
}

/// Expanded by `use_state!`: the expansion with the `runtime` feature, a
/// compile error that names the feature without (an expression of no type,
/// so nothing follows from it).
#[cfg(not(feature = "runtime"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_runtime_expr {
    ($what:literal $($expansion:tt)*) => {
        $crate::__pagestate_runtime_error!($what)
    };
}

/// Expanded by `#[executor]` and `#[cached(scope = "session")]`: the
/// expansion with the `runtime` feature; without, a compile error that names
/// the feature and stand-ins of the same shape, so that callers see that
/// error and no other.
#[cfg(feature = "runtime")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_runtime_items {
    ($what:literal [$($expansion:tt)*] [$($stand_in:tt)*]) => {
        $($expansion)*
    };
}

/// The compile error of a macro that needs the `runtime` feature.
#[cfg(not(feature = "runtime"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_runtime_error {
    ($what:literal) => {
        ::core::compile_error! {
            ::core::concat!(
                $what,
                " needs pagestate's `runtime` feature (sessions, state and executors), \
which is on by default: pagestate = \"0.1\", or add \
features = [\"runtime\"] next to default-features = false"
            )
        }
    };
}

/// Expanded by `#[executor]` and `#[cached(scope = "session")]`: the
/// expansion with the `runtime` feature; without, a compile error that names
/// the feature and stand-ins of the same shape, so that callers see that
/// error and no other.
#[cfg(not(feature = "runtime"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_runtime_items {
    ($what:literal [$($expansion:tt)*] [$($stand_in:tt)*]) => {
        $crate::__pagestate_runtime_error!($what);
        $($stand_in)*
    };
}

/// Expanded by `#[cached(persist = "redis")]`: nothing with the `redis`
/// feature, a compile error that names it without.
#[cfg(feature = "redis")]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_requires_redis {
    () => {};
}

/// Expanded by `#[cached(persist = "redis")]`: nothing with the `redis`
/// feature, a compile error that names it without.
#[cfg(not(feature = "redis"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __pagestate_requires_redis {
    () => {
        ::core::compile_error!(
            "`persist = \"redis\"` needs the `redis` feature of pagestate: \
             pagestate = { version = \"0.1\", features = [\"redis\"] }"
        );
    };
}

/// The README's examples run as doctests, so they cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The web host: serve a page function to browser tabs with Streamlit's
/// rerun semantics (cargo feature `web`). See [`web::App`] and [`web::ui`].
#[cfg(feature = "web")]
pub use pagestate_web as web;

#[cfg(test)]
mod tests {
    /// The hidden module's name must follow the version, which is what the
    /// macros of this version name (see pagestate-macros' `private.rs`).
    #[test]
    fn the_private_module_is_named_after_this_version() {
        let version: String = env!("CARGO_PKG_VERSION")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let alias = format!("pub mod __private_{version} {{");
        assert!(
            include_str!("lib.rs").contains(&alias),
            "rename it: {alias}"
        );
    }
}
