//! `#[executor(thread)]` on a pool of exactly one thread, so that "the next
//! job on that pool thread" and "before the job started" are certain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, Once, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

use futures::executor::block_on;
use pagestate::{executor, ExecError, ScriptRunContext, Session, SessionId, ThreadPool};

/// Sets the bound before the first job and runs the tests one at a time:
/// with one thread, a blocked test would only slow the others down.
fn one_thread() -> MutexGuard<'static, ()> {
    static CONFIGURE: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    CONFIGURE.call_once(|| ThreadPool::configure(1).expect("no job ran before"));
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

#[executor(thread, with_script_run_context = true)]
fn panic_with_context(message: String) -> ThreadId {
    assert!(
        ScriptRunContext::current().is_some(),
        "the context is attached"
    );
    panic!("{message}")
}

#[executor(thread, with_script_run_context = true)]
async fn async_panic_with_context(message: String) -> ThreadId {
    assert!(
        ScriptRunContext::current().is_some(),
        "the context is attached"
    );
    futures::future::ready(()).await;
    panic!("{message}")
}

/// The pool thread's id and whether it has a context.
#[executor(thread)]
fn context_here() -> (ThreadId, Option<SessionId>) {
    let context = ScriptRunContext::current().map(|context| context.session().id());
    (std::thread::current().id(), context)
}

#[test]
fn after_a_panic_the_pool_thread_has_no_context() {
    let _serial = one_thread();
    let session = Session::new();
    let (thread_before, none) = block_on(context_here()).unwrap();
    assert_eq!(none, None);

    let error = block_on(session.run(|| panic_with_context("mid-job".to_owned())));
    assert_eq!(error, Err(ExecError::Panicked("mid-job".to_owned())));
    let (thread_after, context) = block_on(context_here()).unwrap();
    assert_eq!(thread_after, thread_before, "the same, single pool thread");
    assert_eq!(context, None, "the panicking job's context leaked");

    let error = block_on(session.run(|| async_panic_with_context("async".to_owned())));
    assert_eq!(error, Err(ExecError::Panicked("async".to_owned())));
    assert_eq!(block_on(context_here()), Ok((thread_before, None)));
    assert_eq!(ThreadPool::started_threads(), 1);
}

#[executor(thread, with_script_run_context = true)]
fn session_here() -> SessionId {
    ScriptRunContext::current().unwrap().session().id()
}

#[test]
fn successive_jobs_see_their_own_callers_session() {
    let _serial = one_thread();
    let sessions: Vec<Session> = (0..20).map(|_| Session::new()).collect();
    let futures: Vec<_> = sessions.iter().map(|s| s.run(session_here)).collect();
    for (session, future) in sessions.iter().zip(futures) {
        assert_eq!(block_on(future), Ok(session.id()));
    }
    assert_eq!(block_on(context_here()).unwrap().1, None);
}

#[executor(thread)]
fn block_until(release: mpsc::Receiver<()>) -> bool {
    release.recv_timeout(Duration::from_secs(120)).is_ok()
}

static CANCELLED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[executor(thread)]
fn count_a_run() -> usize {
    CANCELLED_RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn dropping_the_future_before_the_job_starts_cancels_it() {
    let _serial = one_thread();
    let (release, wait) = mpsc::channel();
    let blocker = block_until(wait); // occupies the only thread
    drop(count_a_run()); // queued behind it, then dropped
    release.send(()).unwrap();
    assert_eq!(block_on(blocker), Ok(true));
    // Jobs run in order: once this one ran, the dropped one had its turn.
    assert_eq!(block_on(context_here()).unwrap().1, None);
    assert_eq!(CANCELLED_RUNS.load(Ordering::SeqCst), 0);
    assert_eq!(block_on(count_a_run()), Ok(1));
}

#[executor(thread, timeout = 1)]
fn overstay(release: mpsc::Receiver<()>) -> bool {
    release.recv_timeout(Duration::from_secs(120)).is_ok()
}

#[test]
fn a_timeout_on_the_only_thread_is_followed_by_jobs_that_succeed() {
    let _serial = one_thread();
    let (release, wait) = mpsc::channel();
    assert_eq!(
        block_on(overstay(wait)),
        Err(ExecError::Timeout(Duration::from_secs(1)))
    );
    // The abandoned job still holds the thread; the next job waits for it.
    // (On a machine so loaded that it was still queued after a second, it
    // never ran, and its receiver is gone: the send may fail.)
    let next = context_here();
    let _ = release.send(());
    assert_eq!(block_on(next).map(|(_, context)| context), Ok(None));
    assert_eq!(ThreadPool::started_threads(), 1);
}

/// Holds the only pool thread until released, or for 30 s at most.
#[executor(thread)]
fn hold_the_thread(release: mpsc::Receiver<()>) -> bool {
    release.recv_timeout(Duration::from_secs(30)).is_ok()
}

static QUEUED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[executor(thread, timeout = 1)]
fn quick_but_queued() -> usize {
    QUEUED_RUNS.fetch_add(1, Ordering::SeqCst) + 1
}

#[test]
fn a_timeout_counts_from_the_call_even_while_the_pool_is_busy() {
    let _serial = one_thread();
    let (release, wait) = mpsc::channel();
    let blocker = hold_the_thread(wait); // occupies the only thread
                                         // Queued behind the blocker: its timeout must still fire, not wait for
                                         // a thread that may never come free.
    assert_eq!(
        block_on(quick_but_queued()),
        Err(ExecError::Timeout(Duration::from_secs(1)))
    );
    release.send(()).unwrap();
    assert_eq!(block_on(blocker), Ok(true), "the blocker was still running");
    // Jobs run in order: once this one ran, the timed-out one had its turn
    // and, as nobody waits for it any more, did not run.
    let (_, context) = block_on(context_here()).unwrap();
    assert_eq!(context, None);
    assert_eq!(QUEUED_RUNS.load(Ordering::SeqCst), 0);
    assert_eq!(block_on(quick_but_queued()), Ok(1));
}

#[executor(thread)]
fn explode(n: u32) -> u32 {
    if n.is_multiple_of(2) {
        panic!("even {n}");
    }
    n
}

#[test]
fn panics_keep_the_pool_at_one_thread() {
    let _serial = one_thread();
    let (thread, _) = block_on(context_here()).unwrap();
    for n in 0..50 {
        let outcome = block_on(explode(n));
        if n % 2 == 0 {
            assert_eq!(outcome, Err(ExecError::Panicked(format!("even {n}"))));
        } else {
            assert_eq!(outcome, Ok(n));
        }
    }
    assert_eq!(ThreadPool::started_threads(), 1);
    assert_eq!(block_on(context_here()), Ok((thread, None)));
}

#[test]
fn configuring_after_the_start_is_refused() {
    let _serial = one_thread();
    let (thread, context) = block_on(context_here()).unwrap();
    assert_ne!(thread, std::thread::current().id());
    assert_eq!(context, None);
    assert_eq!(ThreadPool::configure(8), Err(pagestate::AlreadyStarted));
    assert_eq!(ThreadPool::max_threads(), 1);
    assert_eq!(ThreadPool::started_threads(), 1);
}
