//! With the `tokio` feature: the tokio runtime an async thread job runs in.
//!
//! Most async I/O in Rust is tokio's, and tokio's timers and sockets panic
//! ("there is no reactor running") when polled outside a runtime context.
//! A pool thread drives an `async fn` with a plain executor, so the job
//! enters a runtime first: the caller's, captured at the call (its driver
//! keeps running while the caller awaits the job), or, for a caller outside
//! any tokio runtime (`futures::executor::block_on`, smol), one owned by the
//! pool, started on first use and driven by a thread of its own.

use std::sync::OnceLock;
use std::thread;

use tokio::runtime::{Builder, EnterGuard, Handle};

/// The runtime a job will enter, captured where the job is created.
pub(crate) struct RuntimeContext(Option<Handle>);

/// The caller's tokio runtime, if it runs in one.
pub(crate) fn capture() -> RuntimeContext {
    RuntimeContext(Handle::try_current().ok())
}

impl RuntimeContext {
    /// Enters the captured runtime, or the pool's own, on this thread until
    /// the guard is dropped; `None` if the pool's runtime could not start.
    pub(crate) fn enter(&self) -> Option<EnterGuard<'_>> {
        self.0.as_ref().or_else(|| own_runtime()).map(Handle::enter)
    }
}

/// The pool's own current-thread runtime, driven by a dedicated thread that
/// waits on its I/O and timers for the life of the process.
fn own_runtime() -> Option<&'static Handle> {
    static OWN: OnceLock<Option<Handle>> = OnceLock::new();
    OWN.get_or_init(|| {
        let started = Builder::new_current_thread()
            .enable_all()
            .build()
            .and_then(|runtime| {
                let handle = runtime.handle().clone();
                thread::Builder::new()
                    .name("pagestate-tokio".to_owned())
                    .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
                Ok(handle)
            });
        match started {
            Ok(handle) => Some(handle),
            Err(error) => {
                log::warn!(
                    "pagestate: cannot start a tokio runtime for async thread jobs ({error}); \
                     they run without one"
                );
                None
            }
        }
    })
    .as_ref()
}
