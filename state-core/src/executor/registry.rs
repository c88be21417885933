//! The registry of functions that worker processes can run, and the
//! constructor that catches a worker process before `main`.
//!
//! This file is small on purpose. The registry and the constructor are
//! linked into every executable that links pagestate-core (a constructor
//! must be), so they name nothing else of the crate: the worker loop is
//! reached through the registry's entries, which only
//! `#[executor(process)]` functions create. (Other paths into
//! pagestate-core, such as generic instances a debug build shares, can
//! still bring it in; only a build without it, the facade's `runtime`
//! feature off, is sure to link none of it.)

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
    /// The worker loop ([`super::worker::enter`]), named by every entry so
    /// that only an executable with process functions links it.
    pub worker: fn() -> !,
}

/// Every `#[executor(process)]` function in the executable.
#[linkme::distributed_slice]
pub static PROCESS_FUNCTIONS: [ProcessFunction];

/// Where `function` sits in [`PROCESS_FUNCTIONS`]: the same place in the
/// application and in its workers, which run the same executable. `None`
/// for a `ProcessFunction` that is not in the registry.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn registry_index(function: &'static ProcessFunction) -> Option<u32> {
    let all: &[ProcessFunction] = &PROCESS_FUNCTIONS;
    let size = std::mem::size_of::<ProcessFunction>();
    let offset = (function as *const ProcessFunction as usize).checked_sub(all.as_ptr() as usize)?;
    let index = offset / size;
    let entry = all.get(index)?;
    if !std::ptr::eq(entry, function) {
        return None;
    }
    u32::try_from(index).ok()
}

#[cfg(unix)]
mod unix {
    use super::super::codec::{PROTOCOL_VERSION, WORKER_ENV};
    use super::PROCESS_FUNCTIONS;

    /// Exit code of a worker whose executable has no process functions.
    const NOTHING_TO_SERVE: i32 = 122;

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
