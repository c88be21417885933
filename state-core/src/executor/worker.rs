//! The worker side of the process executor: the loop a worker process
//! runs instead of `main`.
//!
//! A worker is the application's own executable started again with
//! [`WORKER_ENV`](super::codec::WORKER_ENV) set. The constructor in
//! the `pagestate-registry` crate sees the variable before `main` and enters
//! [`enter`] here, through the registry: an executable without
//! `#[executor(process)]` functions never links this loop. It removes the
//! variable so that the worker's own children start normally, and serves
//! jobs until its parent goes away; it never returns, so `main` (or
//! libtest's harness, in a test binary) never starts in a worker.

#[cfg(unix)]
pub use unix::enter;

/// Where workers would start: nowhere, off Unix (the pool starts none, so
/// nothing calls this).
#[cfg(not(unix))]
pub fn enter() -> ! {
    std::process::exit(0)
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{BufReader, Write};
    use std::os::unix::io::{AsRawFd, FromRawFd};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::process;
    use std::thread;

    use super::super::codec::{self, PARENT_ENV, WORKER_ENV};
    use super::super::error::panic_message;
    use super::super::registry::PROCESS_FUNCTIONS;

    /// Exit code of a worker that could not set up its protocol channel.
    const SETUP_FAILED: i32 = 121;

    /// How often a worker checks that its parent is alive.
    const PARENT_CHECK: std::time::Duration = std::time::Duration::from_millis(250);

    /// Turns this process into a worker: the registry's constructor calls
    /// this before `main` once it has seen `PAGESTATE_WORKER` with this
    /// version's protocol.
    pub fn enter() -> ! {
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
        // Requests likewise move to a private close-on-exec fd, and fd 0
        // becomes /dev/null: a command a job starts (`cat`, `ssh`,
        // `sh -c 'read line'`) inherits stdin and must not read, or wait
        // on, the requests meant for this worker.
        let Some(requests) = take_stdin() else {
            process::exit(SETUP_FAILED);
        };
        die_with_parent(parent);
        if let Some(parent) = parent {
            watch_parent(parent);
        }

        // Requests are read on this thread, the one that runs the jobs: a
        // hand-over to another thread would cost a wake-up per job.
        let mut stdin = BufReader::new(requests);
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

    /// Moves the request pipe (fd 0) to a fresh close-on-exec fd and puts
    /// /dev/null in its place.
    fn take_stdin() -> Option<File> {
        let null = File::open("/dev/null").ok()?;
        // SAFETY: plain fd calls on fds this process owns.
        let requests_fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
        if requests_fd < 0 {
            return None;
        }
        // SAFETY: `requests_fd` is a fresh fd that nothing else owns.
        let requests = unsafe { File::from_raw_fd(requests_fd) };
        // SAFETY: dup2 onto fd 0, which this process owns; `null` stays
        // open until after the call.
        if unsafe { libc::dup2(null.as_raw_fd(), 0) } < 0 {
            return None;
        }
        Some(requests)
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
        let Some(request) = codec::parse_request(frame) else {
            return (codec::REPLY_CODEC, b"malformed request frame".to_vec());
        };
        let function = usize::try_from(request.index)
            .ok()
            .and_then(|index| PROCESS_FUNCTIONS.get(index))
            .filter(|function| function.id == request.id);
        let Some(function) = function else {
            return (
                codec::REPLY_UNKNOWN_FUNCTION,
                request.id.as_bytes().to_vec(),
            );
        };
        match catch_unwind(AssertUnwindSafe(|| (function.call)(request.arguments))) {
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
