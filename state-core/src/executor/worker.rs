//! The worker side of the process executor: the registry of functions a
//! worker can run, and the loop a worker process runs instead of `main`.
//!
//! A worker is the application's own executable started again with
//! [`WORKER_ENV`](super::codec::WORKER_ENV) set. A constructor in this crate
//! (run by the platform loader before `main`) sees the variable, removes it
//! so that the worker's own children start normally, and serves jobs until
//! its parent goes away; it never returns, so `main` (or libtest's harness,
//! in a test binary) never starts in a worker.

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
}

/// Every `#[executor(process)]` function in the executable.
#[linkme::distributed_slice]
pub static PROCESS_FUNCTIONS: [ProcessFunction];

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{BufReader, Write};
    use std::mem::ManuallyDrop;
    use std::os::unix::io::FromRawFd;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::process;
    use std::thread;

    use super::super::codec::{self, PARENT_ENV, PROTOCOL_VERSION, WORKER_ENV};
    use super::super::error::panic_message;
    use super::PROCESS_FUNCTIONS;

    /// Exit code of a worker that could not set up its protocol channel.
    const SETUP_FAILED: i32 = 121;

    /// How often a worker checks that its parent is alive.
    const PARENT_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

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
        let parent = std::env::var(PARENT_ENV)
            .ok()
            .and_then(|pid| pid.parse().ok());
        // Still single-threaded here, so changing the environment is sound.
        std::env::remove_var(WORKER_ENV);
        std::env::remove_var(PARENT_ENV);
        serve_forever(parent)
    }

    fn serve_forever(parent: Option<libc::pid_t>) -> ! {
        // The protocol keeps the original stdout to itself; fd 1 becomes a
        // copy of stderr, so a job's `println!` cannot corrupt a frame.
        // SAFETY: plain fd calls on fds this process owns.
        let protocol_fd = unsafe { libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3) };
        if protocol_fd < 0 || unsafe { libc::dup2(2, 1) } < 0 {
            process::exit(SETUP_FAILED);
        }
        // SAFETY: `protocol_fd` is a fresh fd that nothing else owns.
        let mut protocol = unsafe { File::from_raw_fd(protocol_fd) };
        die_with_parent(parent);
        if let Some(parent) = parent {
            watch_parent(parent);
        }

        // Requests are read on this thread, the one that runs the jobs: a
        // hand-over to another thread would cost a wake-up per job.
        // SAFETY: fd 0 stays open for the life of the process; the
        // ManuallyDrop keeps this File from closing it.
        let stdin = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
        let mut stdin = BufReader::new(&*stdin);
        if codec::write_frame(&mut protocol, &[codec::HELLO]).is_err() {
            process::exit(SETUP_FAILED);
        }
        // The end of stdin (the parent closed it, or died) ends the worker.
        let mut frame = Vec::new();
        while let Ok(true) = codec::read_frame_into(&mut stdin, &mut frame) {
            let (tag, body) = answer(&frame);
            if codec::write_frame(&mut protocol, &[&[tag], &body]).is_err() {
                break;
            }
            protocol.flush().ok();
        }
        process::exit(0)
    }

    /// Ends the worker soon after its parent is gone, even in the middle of
    /// a job, where the end of stdin would go unnoticed: a dead parent's
    /// children are handed to another process, which changes `getppid`.
    fn watch_parent(parent: libc::pid_t) {
        let watcher = thread::Builder::new()
            .name("pagestate-worker-watch".to_owned())
            .spawn(move || loop {
                thread::sleep(PARENT_CHECK);
                // SAFETY: getppid cannot fail.
                if unsafe { libc::getppid() } != parent {
                    process::exit(0);
                }
            });
        if watcher.is_err() {
            process::exit(SETUP_FAILED);
        }
    }

    fn answer(frame: &[u8]) -> (u8, Vec<u8>) {
        let Some((id, arguments)) = codec::parse_request(frame) else {
            return (codec::REPLY_CODEC, b"malformed request frame".to_vec());
        };
        let Some(function) = PROCESS_FUNCTIONS.iter().find(|function| function.id == id) else {
            return (codec::REPLY_UNKNOWN_FUNCTION, id.as_bytes().to_vec());
        };
        match catch_unwind(AssertUnwindSafe(|| (function.call)(arguments))) {
            Ok(Ok(result)) => (codec::REPLY_OK, result),
            Ok(Err(message)) => (codec::REPLY_CODEC, message.into_bytes()),
            Err(payload) => (codec::REPLY_PANICKED, panic_message(&*payload).into_bytes()),
        }
    }

    /// On Linux the kernel kills the worker when the thread that started it
    /// (a long-lived pool manager thread) ends, which covers a parent killed
    /// with SIGKILL; elsewhere the end of stdin does the same job.
    fn die_with_parent(parent: Option<libc::pid_t>) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        // The parent may have died before the line above: then we already
        // belong to another process.
        // SAFETY: getppid cannot fail.
        if parent.is_some_and(|parent| parent != unsafe { libc::getppid() }) {
            process::exit(0);
        }
    }
}
