//! Where a registered process function sits in the registry.
//!
//! The registry itself, and the constructor that catches a worker process
//! before `main`, live in the `pagestate-registry` crate: they are linked
//! into every executable that has them in its dependency graph, so they
//! sit apart from the rest of the runtime and reach none of it.

pub use pagestate_registry::{ProcessFunction, PROCESS_FUNCTIONS};

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
