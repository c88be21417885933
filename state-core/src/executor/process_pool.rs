//! The application side of the process executor: a warm pool of worker
//! processes, each driven by one manager thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use super::codec::Codec;
use super::error::{AlreadyStarted, ExecError};
use super::pool_size::PoolSize;
use super::registry::{registry_index, ProcessFunction};
use super::thread_pool::Reply;
use futures_channel::oneshot;

/// The pool of worker processes that runs `#[executor(process)]` jobs.
///
/// A worker is the application's own executable started again; it is caught
/// by a constructor before `main` runs and then only serves jobs, so no
/// set-up line is needed, in binaries, examples and test files alike. The
/// pool starts its workers at the first job and keeps them: later jobs pay
/// no start-up cost. Workers exit when the application exits or is killed.
///
/// The default size is the number of CPUs; an application with other needs
/// sets it once, before its first process job:
///
/// ```
/// use pagestate_core::ProcessPool;
///
/// ProcessPool::configure(2).expect("configured before the first job");
/// assert_eq!(ProcessPool::workers(), 2);
/// ```
///
/// The process executor needs Unix (Linux, macOS, the BSDs). Elsewhere every
/// process job yields [`ExecError::WorkerStart`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ProcessPool;

impl ProcessPool {
    /// Sets how many worker processes the pool keeps. Call it before the
    /// first `#[executor(process)]` call; afterwards it returns
    /// [`AlreadyStarted`] and changes nothing.
    ///
    /// # Panics
    ///
    /// If `workers` is 0: such a pool could run no job.
    pub fn configure(workers: usize) -> Result<(), AlreadyStarted> {
        assert!(
            workers > 0,
            "pagestate: a process pool needs at least one worker"
        );
        SIZE.configure(workers)
    }

    /// How many worker processes the pool keeps: the configured number, or
    /// the number of CPUs.
    pub fn workers() -> usize {
        SIZE.get()
    }
}

fn default_workers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

static SIZE: PoolSize = PoolSize::new(default_workers);

/// One job on its way to a worker.
#[cfg_attr(not(unix), allow(dead_code))]
struct Job {
    /// The function's index in the registry, which selects it in a worker.
    index: u32,
    /// The function's id, which the worker checks against the index.
    function: &'static str,
    arguments: Vec<u8>,
    timeout: Option<Duration>,
    /// When the timeout ends, counted from the call.
    deadline: Option<Instant>,
    reply: Reply<Vec<u8>>,
}

/// Sends a call of `function` with its encoded `arguments` to the process
/// pool (starting the pool on first use) and returns a future of its
/// decoded result. The calling thread never waits for the worker.
pub fn run_in_process<T>(
    function: &'static ProcessFunction,
    arguments: Result<Vec<u8>, ExecError>,
    result: Codec<T>,
    timeout: Option<Duration>,
) -> ProcessFuture<T> {
    let arguments = match arguments {
        Ok(arguments) => arguments,
        Err(error) => return ProcessFuture::failed(error, result),
    };
    let Some(index) = registry_index(function) else {
        let error = ExecError::WorkerStart(format!(
            "the process function `{}` is not in pagestate's registry of process functions",
            function.id
        ));
        return ProcessFuture::failed(error, result);
    };
    let (reply, receiver) = oneshot::channel();
    let job = Job {
        index,
        function: function.id,
        arguments,
        timeout,
        // A timeout too far out to represent is no timeout.
        deadline: timeout.and_then(|limit| Instant::now().checked_add(limit)),
        reply: Reply::new(reply, timeout),
    };
    match imp::submit(job) {
        Ok(()) => ProcessFuture {
            state: State::Waiting(receiver),
            result,
        },
        Err(error) => ProcessFuture::failed(error, result),
    }
}

/// The future an `#[executor(process)]` function returns: the decoded
/// result of its job, or why there is none. It needs no async runtime;
/// dropping it before a worker has taken the job cancels the job.
#[must_use = "the job's result and errors are only seen by awaiting the future"]
pub struct ProcessFuture<T> {
    state: State,
    result: Codec<T>,
}

enum State {
    Failed(Option<ExecError>),
    Waiting(oneshot::Receiver<Result<Vec<u8>, ExecError>>),
}

impl<T> ProcessFuture<T> {
    fn failed(error: ExecError, result: Codec<T>) -> Self {
        ProcessFuture {
            state: State::Failed(Some(error)),
            result,
        }
    }
}

impl<T> Unpin for ProcessFuture<T> {}

impl<T> Future for ProcessFuture<T> {
    type Output = Result<T, ExecError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Failed(error) => Poll::Ready(Err(error
                .take()
                .expect("ProcessFuture polled after it completed"))),
            State::Waiting(receiver) => match Pin::new(receiver).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(Ok(bytes))) => Poll::Ready(this.result.decode_result(&bytes)),
                Poll::Ready(Ok(Err(error))) => Poll::Ready(Err(error)),
                Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(ExecError::WorkerStart(
                    "the process pool dropped the job: its manager thread could not start"
                        .to_owned(),
                ))),
            },
        }
    }
}

impl<T> std::fmt::Debug for ProcessFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessFuture").finish_non_exhaustive()
    }
}

#[cfg(not(unix))]
mod imp {
    use super::{ExecError, Job};

    pub(super) fn submit(_job: Job) -> Result<(), ExecError> {
        Err(ExecError::WorkerStart(
            "the process executor needs a Unix platform; use `#[executor(thread)]` here".to_owned(),
        ))
    }
}

#[cfg(unix)]
mod imp {
    use std::io::{self, Read};
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::path::PathBuf;
    use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
    use std::sync::OnceLock;
    use std::thread;
    use std::time::{Duration, Instant};

    use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

    use super::super::codec::{self, PARENT_ENV, PROTOCOL_VERSION, WORKER_ENV};
    use super::{ExecError, Job, SIZE};

    /// How long a freshly started worker may take to say hello. Generous for
    /// a loaded machine; a child that is not a worker is usually caught much
    /// sooner, when it exits or prints something that is not a hello.
    const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

    /// How often an idle manager checks that its worker is still alive.
    const IDLE_CHECK: Duration = Duration::from_secs(1);

    static POOL: OnceLock<Result<Sender<Job>, String>> = OnceLock::new();

    pub(super) fn submit(job: Job) -> Result<(), ExecError> {
        let jobs = POOL
            .get_or_init(start_pool)
            .as_ref()
            .map_err(|message| ExecError::WorkerStart(message.clone()))?;
        jobs.send(job).map_err(|_| {
            ExecError::WorkerStart("the process pool has no manager thread".to_owned())
        })
    }

    fn start_pool() -> Result<Sender<Job>, String> {
        let workers = SIZE.start();
        if std::env::var_os(WORKER_ENV).is_some() {
            // We were started as a worker, yet the worker constructor did not
            // take over: starting workers from here could recurse forever.
            return Err(format!(
                "this process was started as a worker (`{WORKER_ENV}` is set) but pagestate's \
                 worker constructor did not run, so it cannot start workers itself; \
                 make sure the executable links pagestate and its constructors run \
                 (and that `{WORKER_ENV}` is not set by hand)"
            ));
        }
        let executable = executable()?;
        let (jobs, queue) = crossbeam_channel::unbounded();
        let mut managers = 0;
        for n in 0..workers {
            let queue = queue.clone();
            let executable = executable.clone();
            let started = thread::Builder::new()
                .name(format!("pagestate-process-{n}"))
                .spawn(move || manage(&executable, &queue));
            managers += usize::from(started.is_ok());
        }
        if managers == 0 {
            return Err("cannot start a thread to manage worker processes".to_owned());
        }
        Ok(jobs)
    }

    fn executable() -> Result<PathBuf, String> {
        // /proc/self/exe still names this executable after it was replaced
        // or deleted on disk (an upgrade), so workers run the same code.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let path = PathBuf::from("/proc/self/exe");
            if path.exists() {
                return Ok(path);
            }
        }
        std::env::current_exe().map_err(|error| {
            format!("cannot find the current executable to start as a worker: {error}")
        })
    }

    /// Drives one worker process: takes jobs, one at a time, and replaces
    /// the worker when it dies or times out.
    fn manage(executable: &PathBuf, queue: &Receiver<Job>) {
        // Warm: start the worker before the first job arrives.
        let mut worker = Worker::start(executable).ok();
        loop {
            let job = match queue.recv_timeout(IDLE_CHECK) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    // A worker that died while idle (killed, out of memory)
                    // is reaped and replaced now, not at the next job: no
                    // zombie lingers, and the next job finds a warm worker.
                    if worker.as_mut().is_some_and(Worker::exited) {
                        worker = Worker::start(executable).ok();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if job.reply.is_canceled() {
                continue; // the caller dropped the future, or timed out, before dispatch
            }
            if job
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                let timeout = job.timeout.expect("a deadline needs a timeout");
                job.reply.send(Err(ExecError::Timeout(timeout)));
                continue; // timed out while queued: never dispatched
            }
            let current = match worker.take() {
                Some(worker) => worker,
                None => match Worker::start(executable) {
                    Ok(worker) => worker,
                    Err(error) => {
                        job.reply.send(Err(error));
                        continue;
                    }
                },
            };
            let (outcome, survivor) = match current.call(&job) {
                Call::Done(outcome, survivor) => (outcome, survivor),
                // The worker died while idle (killed, out of memory): the
                // job never reached it, so it runs on a fresh worker.
                Call::NotDelivered(_) => match Worker::start(executable) {
                    Ok(fresh) => match fresh.call(&job) {
                        Call::Done(outcome, survivor) => (outcome, survivor),
                        Call::NotDelivered(status) => (Err(died(status)), None),
                    },
                    Err(error) => (Err(error), None),
                },
            };
            job.reply.send(outcome);
            // A lost worker is replaced now, so the next job finds it warm.
            worker = survivor.or_else(|| Worker::start(executable).ok());
        }
    }

    struct Worker {
        child: Child,
        stdin: ChildStdin,
        stdout: ChildStdout,
    }

    /// What became of a job handed to a worker.
    enum Call {
        /// The worker took the job: its outcome, and the worker unless it
        /// was lost (died, killed after a timeout, broke protocol).
        Done(Result<Vec<u8>, ExecError>, Option<Worker>),
        /// The worker had exited before the job reached it; it never ran.
        NotDelivered(ExitStatus),
    }

    enum ReadError {
        Timeout,
        Eof,
        Io(io::Error),
    }

    impl Worker {
        fn start(executable: &PathBuf) -> Result<Worker, ExecError> {
            let mut command = Command::new(executable);
            command
                .env(WORKER_ENV, PROTOCOL_VERSION)
                .env(PARENT_ENV, std::process::id().to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            if let Ok(path) = std::env::current_exe() {
                command.arg0(path);
            }
            let mut child = command.spawn().map_err(|error| {
                ExecError::WorkerStart(format!("cannot run {}: {error}", executable.display()))
            })?;
            let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                unreachable!("both pipes were requested");
            };
            widen_pipe(stdin.as_raw_fd());
            widen_pipe(stdout.as_raw_fd());
            let mut worker = Worker {
                child,
                stdin,
                stdout,
            };
            match worker.read_frame(
                Some(Instant::now() + HELLO_TIMEOUT),
                Some(codec::HELLO.len()),
            ) {
                Ok(hello) if hello == codec::HELLO => Ok(worker),
                outcome => {
                    let status = worker.kill();
                    let why = match outcome {
                        Ok(_) => "it wrote something other than the worker hello to its stdout"
                            .to_owned(),
                        Err(ReadError::Io(error)) => format!(
                            "reading its hello failed ({error}): it probably wrote other output"
                        ),
                        Err(ReadError::Timeout) => {
                            format!("it did not say hello within {HELLO_TIMEOUT:?}")
                        }
                        Err(ReadError::Eof) => format!("it exited ({status})"),
                    };
                    Err(ExecError::WorkerStart(format!(
                        "the started process is not a pagestate worker: {why}; \
                         the executable must link pagestate so that its worker \
                         constructor runs before `main`"
                    )))
                }
            }
        }

        /// Runs one job on this worker.
        fn call(mut self, job: &Job) -> Call {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Call::NotDelivered(status);
            }
            let id = job.function.as_bytes();
            let len = (id.len() as u32).to_le_bytes();
            let sent = codec::write_frame(
                &mut self.stdin,
                &[
                    &[codec::REQUEST],
                    &job.index.to_le_bytes(),
                    &len,
                    id,
                    &job.arguments,
                ],
            );
            if sent.is_err() {
                // A worker reads a whole request before it runs anything.
                return Call::NotDelivered(self.kill());
            }
            let (outcome, survivor) = self.reply(job);
            Call::Done(outcome, survivor)
        }

        /// Reads the reply to the job just sent. Returns the outcome and the
        /// worker, unless the worker was lost.
        fn reply(mut self, job: &Job) -> (Result<Vec<u8>, ExecError>, Option<Worker>) {
            match self.read_frame(job.deadline, None) {
                Ok(frame) => match frame.split_first() {
                    Some((&codec::REPLY_OK, result)) => (Ok(result.to_vec()), Some(self)),
                    Some((&codec::REPLY_PANICKED, message)) => (
                        Err(ExecError::Panicked(
                            String::from_utf8_lossy(message).into_owned(),
                        )),
                        Some(self),
                    ),
                    Some((&codec::REPLY_CODEC, message)) => (
                        Err(ExecError::Codec(
                            String::from_utf8_lossy(message).into_owned(),
                        )),
                        Some(self),
                    ),
                    Some((&codec::REPLY_UNKNOWN_FUNCTION, id)) => (
                        Err(ExecError::WorkerStart(format!(
                            "the worker does not know the function `{}`: the executable \
                             changed since the application started",
                            String::from_utf8_lossy(id)
                        ))),
                        Some(self),
                    ),
                    _ => {
                        self.kill();
                        (Err(protocol_broken("unknown reply tag")), None)
                    }
                },
                Err(ReadError::Timeout) => {
                    self.kill();
                    (
                        Err(ExecError::Timeout(
                            job.timeout.expect("a deadline needs a timeout"),
                        )),
                        None,
                    )
                }
                Err(ReadError::Eof) => {
                    let status = self.kill();
                    (Err(died(status)), None)
                }
                Err(ReadError::Io(error)) => {
                    self.kill();
                    (Err(protocol_broken(&error.to_string())), None)
                }
            }
        }

        /// Reads one frame, giving up at `deadline`. With `expected_len`, a
        /// frame of another length fails at once (a child that prints text
        /// is not mistaken for a slow worker).
        fn read_frame(
            &mut self,
            deadline: Option<Instant>,
            expected_len: Option<usize>,
        ) -> Result<Vec<u8>, ReadError> {
            let mut header = [0_u8; 4];
            self.read_exact(&mut header, deadline)?;
            let len = codec::frame_len(header).map_err(ReadError::Io)?;
            if expected_len.is_some_and(|expected| expected != len) {
                return Err(ReadError::Io(io::ErrorKind::InvalidData.into()));
            }
            let mut frame = Vec::new();
            codec::read_body(&mut frame, len, |buffer| self.read_exact(buffer, deadline))?;
            Ok(frame)
        }

        fn read_exact(
            &mut self,
            buf: &mut [u8],
            deadline: Option<Instant>,
        ) -> Result<(), ReadError> {
            let mut filled = 0;
            while filled < buf.len() {
                if let Some(deadline) = deadline {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ReadError::Timeout);
                    }
                    if !readable_within(self.stdout.as_raw_fd(), left).map_err(ReadError::Io)? {
                        continue; // the loop checks the deadline again
                    }
                }
                match self.stdout.read(&mut buf[filled..]) {
                    Ok(0) => return Err(ReadError::Eof),
                    Ok(n) => filled += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(ReadError::Io(error)),
                }
            }
            Ok(())
        }

        /// Whether the worker has exited; reaps it if so.
        fn exited(&mut self) -> bool {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }

        /// Kills the worker (a no-op if it already exited) and reaps it.
        fn kill(&mut self) -> ExitStatus {
            let _ = self.child.kill();
            loop {
                match self.child.wait() {
                    Ok(status) => return status,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return ExitStatus::from_raw(0),
                }
            }
        }
    }

    impl Drop for Worker {
        fn drop(&mut self) {
            // Only reached for a live worker when its manager thread ends,
            // which happens only at process exit; reap it all the same.
            if let Ok(None) = self.child.try_wait() {
                self.kill();
            }
        }
    }

    /// Waits until `fd` has data (or EOF) for at most `wait`.
    /// Large payloads cross a pipe in as many hand-overs as it takes to fill
    /// the pipe's buffer (64 KiB by default on Linux), each one a wake-up of
    /// both ends; a 1 MiB buffer lets a megabyte through in one. Best effort:
    /// the kernel may refuse (`/proc/sys/fs/pipe-max-size`), which only costs
    /// speed.
    fn widen_pipe(fd: i32) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: F_SETPIPE_SZ on a pipe fd this process owns.
        unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = fd;
    }

    /// The pipe buffer asked for: Linux's default ceiling for unprivileged
    /// processes.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const PIPE_BYTES: libc::c_int = 1 << 20;

    fn readable_within(fd: i32, wait: Duration) -> io::Result<bool> {
        let mut poll_fd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = wait.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, count 1.
        match unsafe { libc::poll(&mut poll_fd, 1, millis) } {
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    fn died(status: ExitStatus) -> ExecError {
        ExecError::WorkerDied {
            exit_code: status.code(),
            signal: status.signal(),
        }
    }

    fn protocol_broken(detail: &str) -> ExecError {
        ExecError::WorkerStart(format!(
            "the worker broke the protocol ({detail}; did something write to its \
             protocol pipe?); it was replaced"
        ))
    }
}
