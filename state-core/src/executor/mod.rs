//! Executors: run a function on pagestate's thread pool or in a pool of
//! worker processes, and await its result from page code.
//!
//! `#[executor(thread)]` and `#[executor(process)]` generate the calls into
//! this module; applications only meet [`ExecError`] and the pool settings
//! ([`ThreadPool`], [`ProcessPool`]).

mod codec;
#[cfg(test)]
mod codec_props;
mod error;
mod pool_size;
mod process_pool;
mod registry;
mod thread_pool;
mod timer;
#[cfg(feature = "tokio")]
mod tokio_context;
mod worker;

pub use error::{AlreadyStarted, ExecError};
pub use process_pool::ProcessPool;
pub use thread_pool::ThreadPool;

/// What `#[executor]` expansions call.
pub(crate) mod private {
    pub use super::codec::{codec, Codec, PickAny, PickCodec, ProcessValue};
    pub use super::process_pool::{run_in_process, ProcessFuture};
    pub use super::registry::{ProcessFunction, PROCESS_FUNCTIONS};
    pub use super::thread_pool::{
        assert_thread_value, async_job, run_on_thread, ExecFuture, ThreadValue,
    };
    pub use super::worker::enter as worker_main;
}
