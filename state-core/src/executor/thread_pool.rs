//! pagestate's shared thread pool: bounded, threads started lazily, jobs
//! completed through a oneshot so the caller needs no async runtime.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use futures_channel::oneshot;

use super::error::{panic_message, AlreadyStarted, ExecError};
use super::pool_size::PoolSize;
use super::timer;
use crate::ScriptRunContext;

/// The thread pool that runs `#[executor(thread)]` jobs.
///
/// One pool serves the whole process. It starts no thread until the first
/// job, then starts one whenever a job arrives and no thread is idle, up to
/// its bound (as Python's `ThreadPoolExecutor` does); threads live as long
/// as the process. The default bound, `min(32, CPUs + 4)`, suits I/O-bound
/// work; an application with other needs sets it once, before its first
/// executor call:
///
/// ```
/// use pagestate_core::ThreadPool;
///
/// fn main() {
///     ThreadPool::configure(8).expect("configured before the first job");
///     assert_eq!(ThreadPool::max_threads(), 8);
///     // ... run the app
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ThreadPool;

impl ThreadPool {
    /// Sets how many threads the pool may start. Call it before the first
    /// `#[executor(thread)]` call; afterwards it returns [`AlreadyStarted`]
    /// and changes nothing.
    ///
    /// # Panics
    ///
    /// If `max_threads` is 0: such a pool could run no job.
    pub fn configure(max_threads: usize) -> Result<(), AlreadyStarted> {
        assert!(
            max_threads > 0,
            "pagestate: a thread pool needs at least one thread"
        );
        SIZE.configure(max_threads)
    }

    /// The most threads the pool starts: the configured bound, or the
    /// default `min(32, CPUs + 4)`.
    pub fn max_threads() -> usize {
        match POOL.get() {
            Some(pool) => pool.max_threads,
            None => SIZE.get(),
        }
    }

    /// How many threads the pool has started so far (0 before the first
    /// job). Threads never stop, also not when a job panics.
    pub fn started_threads() -> usize {
        POOL.get()
            .map_or(0, |pool| pool.started.load(Ordering::SeqCst))
    }
}

fn default_max_threads() -> usize {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

static SIZE: PoolSize = PoolSize::new(default_max_threads);

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| Pool::new(SIZE.start()))
}

/// A queued job: called with `None` to run it, or with the error that
/// stops it from ever running, which it sends to its caller's future.
type Job = Box<dyn FnOnce(Option<ExecError>) + Send>;

struct Pool {
    max_threads: usize,
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    started: AtomicUsize,
    /// Threads that finished a job and will take another one without a new
    /// thread: each submission claims one or starts a thread.
    idle: AtomicUsize,
}

impl Pool {
    fn new(max_threads: usize) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded();
        Pool {
            max_threads,
            jobs,
            queue,
            started: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        }
    }

    fn submit(&'static self, job: Job) {
        self.jobs
            .send(job)
            .expect("the pool holds its own receiver");
        let claimed = self
            .idle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            self.start_thread();
        }
    }

    fn start_thread(&'static self) {
        let Ok(running) = self
            .started
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max_threads).then_some(n + 1)
            })
        else {
            return; // at the bound: the job waits for a busy thread
        };
        let spawned = thread::Builder::new()
            .name(format!("pagestate-pool-{running}"))
            .spawn(move || self.work());
        if let Err(error) = spawned {
            // Out of OS threads. With a thread running, queued jobs wait for
            // it (and the next submission tries again); with none, nothing
            // would ever run them: they fail now instead of waiting forever.
            log::warn!("pagestate: cannot start a pool thread: {error}");
            if self.started.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.fail_queued(&error.to_string());
            }
        }
    }

    fn fail_queued(&self, why: &str) {
        while let Ok(job) = self.queue.try_recv() {
            let refused = ExecError::ThreadStart(why.to_owned());
            let _ = catch_unwind(AssertUnwindSafe(move || job(Some(refused))));
        }
    }

    fn work(&self) {
        while let Ok(job) = self.queue.recv() {
            // Jobs catch their own panics; this catches one from dropping a
            // result or panic payload, so the thread always survives.
            let _ = catch_unwind(AssertUnwindSafe(move || job(None)));
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Submits `job` to the pool now and returns a future of its result.
///
/// With `with_context`, the caller's [`ScriptRunContext`] is captured here
/// and attached on the pool thread while the job runs; without a current
/// context the future yields [`ExecError::NoScriptRunContext`] and the job
/// never runs. With `timeout`, the future yields [`ExecError::Timeout`] once
/// that long has passed since this call, time spent waiting for a free pool
/// thread included (a saturated pool must not make a timeout wait forever);
/// a job still queued then never runs, one already running runs on and its
/// result is dropped.
pub fn run_on_thread<T, F>(job: F, with_context: bool, timeout: Option<Duration>) -> ExecFuture<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let context = if with_context {
        match ScriptRunContext::current() {
            Some(context) => Some(context),
            None => return ExecFuture::failed(ExecError::NoScriptRunContext),
        }
    } else {
        None
    };
    let (sender, receiver) = oneshot::channel();
    let reply = Reply::new(sender, timeout);
    pool().submit(Box::new(move |refused| match refused {
        None => run_job(job, context, reply),
        Some(error) => reply.send(Err(error)),
    }));
    ExecFuture {
        state: FutureState::Waiting(receiver),
    }
}

fn run_job<T, F>(job: F, context: Option<ScriptRunContext>, reply: Reply<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if reply.is_canceled() {
        return; // the caller dropped the future, or timed out, before the job started
    }
    let result = catch_unwind(AssertUnwindSafe(move || {
        // Attached inside the unwind boundary: a panic detaches it too.
        let _attached = context.as_ref().map(ScriptRunContext::attach);
        job()
    }));
    reply.send(result.map_err(|payload| ExecError::Panicked(panic_message(&*payload))));
}

type Outcome<T> = Result<T, ExecError>;

/// Where a job's outcome goes: straight to the caller's future, or, with a
/// timeout, to whichever comes first of the job and the timeout's alarm.
pub(super) enum Reply<T> {
    Direct(oneshot::Sender<Outcome<T>>),
    /// Shared with the timer: whichever completes first takes the sender.
    FirstWins(Arc<Mutex<Option<oneshot::Sender<Outcome<T>>>>>, Duration),
}

impl<T: Send + 'static> Reply<T> {
    /// A reply to `sender`; with `timeout`, the alarm is set now, so that
    /// time spent queued counts.
    pub(super) fn new(sender: oneshot::Sender<Outcome<T>>, timeout: Option<Duration>) -> Self {
        let reply = match timeout {
            None => Reply::Direct(sender),
            Some(limit) => Reply::FirstWins(Arc::new(Mutex::new(Some(sender))), limit),
        };
        reply.start_timeout();
        reply
    }

    /// Nobody waits for the outcome any more: the caller dropped its
    /// future, or the timeout already answered it.
    pub(super) fn is_canceled(&self) -> bool {
        match self {
            Reply::Direct(sender) => sender.is_canceled(),
            Reply::FirstWins(slot, _) => slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_none_or(oneshot::Sender::is_canceled),
        }
    }

    fn start_timeout(&self) {
        let Reply::FirstWins(slot, limit) = self else {
            return;
        };
        // A timeout too far out to represent is no timeout.
        let Some(deadline) = Instant::now().checked_add(*limit) else {
            return;
        };
        let slot = Arc::downgrade(slot);
        let limit = *limit;
        timer::schedule(deadline, move || {
            let Some(slot) = slot.upgrade() else { return };
            let sender = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(sender) = sender {
                let _ = sender.send(Err(ExecError::Timeout(limit)));
            }
        });
    }

    pub(super) fn send(self, outcome: Outcome<T>) {
        let sender = match self {
            Reply::Direct(sender) => Some(sender),
            Reply::FirstWins(slot, _) => slot.lock().unwrap_or_else(PoisonError::into_inner).take(),
        };
        // No sender: the timeout won. An error: the caller dropped the future.
        // Either way the outcome is dropped here, on the pool thread.
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }
}

/// The future an `#[executor(thread)]` function returns: the result of its
/// job, or why there is none. It needs no async runtime; dropping it before
/// the job has started cancels the job.
#[must_use = "the job's result and errors are only seen by awaiting the future"]
pub struct ExecFuture<T> {
    state: FutureState<T>,
}

enum FutureState<T> {
    Failed(Option<ExecError>),
    Waiting(oneshot::Receiver<Outcome<T>>),
}

impl<T> ExecFuture<T> {
    pub(crate) fn failed(error: ExecError) -> Self {
        ExecFuture {
            state: FutureState::Failed(Some(error)),
        }
    }
}

impl<T> Future for ExecFuture<T> {
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            FutureState::Failed(error) => Poll::Ready(Err(error
                .take()
                .expect("ExecFuture polled after it completed"))),
            FutureState::Waiting(receiver) => match Pin::new(receiver).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
                // The job was dropped unrun, which the pool never does
                // without answering; still, say what happened.
                Poll::Ready(Err(oneshot::Canceled)) => Poll::Ready(Err(ExecError::ThreadStart(
                    "the job was dropped before a pool thread ran it".to_owned(),
                ))),
            },
        }
    }
}

impl<T> std::fmt::Debug for ExecFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecFuture").finish_non_exhaustive()
    }
}

/// The job that runs an `async fn`'s future to completion on a pool
/// thread. Called where the function is called, so that with the `tokio`
/// feature it captures the caller's tokio runtime (or, outside one, the
/// pool's own) and enters it on the pool thread: tokio's timers and sockets
/// then work in the body. The future's output type is fixed by `T`, so that
/// `?` inside the body infers its error type.
pub fn async_job<T, F: Future<Output = T>>(future: F) -> impl FnOnce() -> T {
    #[cfg(feature = "tokio")]
    let runtime = super::tokio_context::capture();
    move || {
        #[cfg(feature = "tokio")]
        let _entered = runtime.enter();
        block_on(future)
    }
}

/// Polls `future` on this thread until it is ready, parking the thread
/// while it waits for its waker. The waker sets a flag before it unparks,
/// and the thread parks only while the flag is clear: code inside the
/// future that parks this thread too (a blocking receive in the body) may
/// take the unpark's token, but never the wake-up itself. A wake-up before
/// the park makes it return at once; a spurious one only polls once more.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Signal {
        thread: thread::Thread,
        woken: AtomicBool,
    }

    impl Wake for Signal {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.store(true, Ordering::Release);
            self.thread.unpark();
        }
    }

    let signal = Arc::new(Signal {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(Arc::clone(&signal));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        while !signal.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

/// Asserts at compile time that an executor argument can move to a
/// pool thread; the error points at the user's type.
#[doc(hidden)]
pub fn assert_thread_value<T: ThreadValue>() {}

/// A type that can move to a pool thread.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot move to a pool thread: it must be `Send + 'static`",
    label = "this type must be Send + 'static"
)]
#[doc(hidden)]
pub trait ThreadValue: Send + 'static {}
impl<T: Send + 'static> ThreadValue for T {}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Pending until another thread has sent it `rounds` values, each sent
    /// only after the previous poll handed over its waker: every wake-up
    /// crosses threads, and some come before the executor parks.
    struct Relay {
        rounds: usize,
        wakers: mpsc::Sender<Waker>,
        values: mpsc::Receiver<usize>,
        sum: usize,
    }

    impl Future for Relay {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<usize> {
            // A spurious poll sends one more waker, and so gets one more
            // value: only the first `rounds` count.
            while self.rounds > 0 {
                let Ok(value) = self.values.try_recv() else {
                    break;
                };
                self.sum += value;
                self.rounds -= 1;
            }
            if self.rounds == 0 {
                return Poll::Ready(self.sum);
            }
            self.wakers.send(context.waker().clone()).unwrap();
            Poll::Pending
        }
    }

    #[test]
    fn block_on_runs_a_future_woken_from_another_thread_to_completion() {
        let (wakers, waker_rx) = mpsc::channel::<Waker>();
        let (value_tx, values) = mpsc::channel();
        let helper = thread::spawn(move || {
            for (i, waker) in waker_rx.into_iter().enumerate() {
                if value_tx.send(i + 1).is_err() {
                    return;
                }
                // Every other wake-up twice: a spurious one only polls again.
                if i % 2 == 0 {
                    waker.wake_by_ref();
                }
                waker.wake();
            }
        });
        let relay = Relay {
            rounds: 100,
            wakers,
            values,
            sum: 0,
        };
        assert_eq!(block_on(relay), (1..=100).sum::<usize>());
        helper.join().unwrap();
    }

    /// Wakes itself from another thread during its first poll, then parks
    /// this thread itself (as a blocking call in a body would), which takes
    /// the unpark's token: the wake-up must not be lost with it.
    struct ParksInsidePoll {
        polls: usize,
    }

    impl Future for ParksInsidePoll {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > 1 {
                return Poll::Ready(self.polls);
            }
            let waker = context.waker().clone();
            thread::spawn(move || waker.wake()).join().unwrap();
            // The token the wake left, taken as any park inside the body
            // would take it.
            thread::park_timeout(Duration::from_millis(1));
            Poll::Pending
        }
    }

    #[test]
    fn block_on_keeps_a_wake_up_whose_token_the_future_took() {
        // A lost wake-up parks forever: run it where that shows as a
        // failure, with a bound far above the microseconds it takes.
        let (done, result) = mpsc::channel();
        thread::spawn(move || done.send(block_on(ParksInsidePoll { polls: 0 })));
        assert_eq!(result.recv_timeout(Duration::from_secs(30)), Ok(2));
    }

    #[test]
    fn block_on_returns_a_ready_future_at_once() {
        assert_eq!(block_on(async { 7 }), 7);
    }
}
