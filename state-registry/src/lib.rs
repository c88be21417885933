//! The registry of functions that [pagestate](https://docs.rs/pagestate)'s
//! worker processes can run, and the constructor that catches a worker
//! process before `main`.
//!
//! Applications do not use this crate directly: `#[executor(process)]`
//! functions register here, and pagestate-core's process pool reads the
//! registry.
//!
//! It is a crate of its own on purpose. The registry and the constructor
//! are linked into every executable that has this crate in its dependency
//! graph (a constructor must be), together with the object files they sit
//! in and everything those reach. In pagestate-core they shared object
//! files, and generic instances, with the rest of the runtime, so a binary
//! that only caches linked all of it, tokio included. Here they name
//! nothing but std: the worker loop is reached through the registry's
//! entries, which only `#[executor(process)]` functions create.

#![warn(missing_docs)]

/// The environment variable that marks a worker process: it holds the
/// protocol version of the pool that started it.
pub const WORKER_ENV: &str = "PAGESTATE_WORKER";

/// The version of the protocol between a process pool and its workers.
pub const PROTOCOL_VERSION: &str = "pagestate-worker-2";

/// Exit code of a worker whose executable has no process functions.
pub const NOTHING_TO_SERVE: i32 = 122;

/// One function that worker processes can run: `#[executor(process)]`
/// registers one per function at link time.
#[derive(Debug)]
pub struct ProcessFunction {
    /// Unique within the executable; the same in the application and its
    /// workers, which run the same executable.
    pub id: &'static str,
    /// Decodes the arguments, runs the function and encodes its result; an
    /// `Err` is a codec failure message. Panics are caught by the caller.
    pub call: fn(&[u8]) -> Result<Vec<u8>, String>,
    /// The worker loop (pagestate-core's), named by every entry so that
    /// only an executable with process functions links it.
    pub worker: fn() -> !,
}

/// Every `#[executor(process)]` function in the executable.
#[linkme::distributed_slice]
pub static PROCESS_FUNCTIONS: [ProcessFunction];

#[cfg(unix)]
mod unix {
    use super::{NOTHING_TO_SERVE, PROCESS_FUNCTIONS, PROTOCOL_VERSION, WORKER_ENV};

    // `late`: every other constructor of the executable has run first, so
    // a job sees the same statics it would see after `main` started.
    #[ctor::ctor(unsafe, priority = late)]
    fn catch_worker() {
        let Some(version) = std::env::var_os(WORKER_ENV) else {
            return;
        };
        if version != PROTOCOL_VERSION {
            // Another pagestate version's worker protocol: leave the variable
            // for the process pool, which then refuses to start workers.
            return;
        }
        match PROCESS_FUNCTIONS.first() {
            Some(function) => (function.worker)(),
            // Nothing a worker could run: never run `main` in its place.
            None => std::process::exit(NOTHING_TO_SERVE),
        }
    }
}
