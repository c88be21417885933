//! What can go wrong between calling an executor function and getting its
//! result.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Why an `#[executor]` function produced no result.
///
/// Every variant says what happened to the job; the function's own errors
/// travel inside its `Ok` value (a function returning `Result<T, E>` becomes
/// a future of `Result<Result<T, E>, ExecError>`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The function panicked; the payload is the panic message. The pool
    /// thread or worker process survived and runs later jobs normally.
    Panicked(String),
    /// The function is declared `with_script_run_context = true` but was
    /// called from a thread with no current [`ScriptRunContext`](crate::ScriptRunContext)
    /// (outside [`Session::run`](crate::Session::run)). The job never ran.
    NoScriptRunContext,
    /// The worker process running the job died before it replied (it
    /// aborted, called `exit`, or was killed by a signal). The pool starts a
    /// new worker for later jobs.
    WorkerDied {
        /// The worker's exit code, if it exited.
        exit_code: Option<i32>,
        /// The signal that killed the worker, if one did (Unix).
        signal: Option<i32>,
    },
    /// The job did not finish within the function's `timeout`, counted from
    /// the call. A job still queued then never runs; a running thread job is
    /// abandoned (it runs on, and its result is dropped); a process job's
    /// worker is killed and replaced.
    Timeout(Duration),
    /// An argument or the result could not be encoded or decoded for the
    /// trip to or from a worker process.
    Codec(String),
    /// No worker process could be started, or the one started did not speak
    /// the worker protocol.
    WorkerStart(String),
    /// No pool thread could be started to run a `#[executor(thread)]` job
    /// (the operating system refused a new thread) and none was running to
    /// take it: the job never ran. The payload is the operating system's
    /// reason. Later calls try to start a thread again.
    ThreadStart(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Panicked(message) => write!(f, "the job panicked: {message}"),
            ExecError::NoScriptRunContext => f.write_str(
                "the job needs a script run context but was called outside a page run; \
                 call it inside `Session::run`, or attach a `ScriptRunContext` to this thread",
            ),
            ExecError::WorkerDied { exit_code, signal } => {
                f.write_str("the worker process died during the job")?;
                match (exit_code, signal) {
                    (Some(code), _) => write!(f, " (exit code {code})")?,
                    (None, Some(signal)) => write!(f, " (killed by signal {signal})")?,
                    (None, None) => {}
                }
                f.write_str("; a new worker runs the next job")
            }
            ExecError::Timeout(limit) => write!(
                f,
                "the job did not finish within its timeout of {limit:?}; \
                 raise `timeout` or make the job shorter"
            ),
            ExecError::Codec(message) => write!(
                f,
                "an argument or the result could not cross the process boundary: {message}"
            ),
            ExecError::WorkerStart(message) => {
                write!(f, "no worker process could be started: {message}")
            }
            ExecError::ThreadStart(message) => {
                write!(
                    f,
                    "no pool thread could be started to run the job: {message}"
                )
            }
        }
    }
}

impl Error for ExecError {}

/// Returned by the pool `configure` functions once the pool has started:
/// its size can only be chosen before the first job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the pool has already started; configure it before the first executor call")
    }
}

impl Error for AlreadyStarted {}

/// The message of a panic payload, as `std` prints it.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "Box<dyn Any> (a panic payload that is not a string)".to_owned()
    }
}
