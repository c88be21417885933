//! `#[executor(thread)]`: jobs on pagestate's thread pool, awaited from any
//! runtime, with or without the caller's run context.
//!
//! This binary's pool has 64 threads (see `pool`); tests/executor_one_thread.rs
//! covers what needs a pool of exactly one thread, and
//! tests/executor_pool_size.rs and tests/executor_default_bound.rs the
//! pool's bound.
//!
//! Tests run in parallel: a test that counts executions counts those of a
//! function no other test calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard, Once, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::{executor, use_state, ExecError, ScriptRunContext, Session, SessionId, ThreadPool};

const POOL_THREADS: usize = 64;

/// Every test calls this first, so the bound is set before the first job.
fn pool() {
    static CONFIGURE: Once = Once::new();
    CONFIGURE.call_once(|| ThreadPool::configure(POOL_THREADS).expect("no job ran before"));
}

/// How long a handshake may take on a loaded machine before the test fails
/// instead of hanging.
const HANDSHAKE: Duration = Duration::from_secs(60);

/// A lock that ignores poisoning: one failed test must not fail the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Which thread ran the job, and its name.
#[executor(thread)]
fn where_am_i(tag: String) -> (ThreadId, Option<String>, String) {
    let me = thread::current();
    (me.id(), me.name().map(str::to_owned), tag)
}

/// Called by one test only, so that its count is that test's.
static ONCE_RUNS: Mutex<usize> = Mutex::new(0);

#[executor(thread)]
fn where_am_i_once(tag: String) -> (ThreadId, Option<String>, String) {
    *lock(&ONCE_RUNS) += 1;
    let me = thread::current();
    (me.id(), me.name().map(str::to_owned), tag)
}

#[test]
fn a_job_runs_exactly_once_on_a_pool_thread() {
    pool();
    let (id, name, tag) = block_on(where_am_i_once("x".to_owned())).unwrap();
    assert_ne!(id, thread::current().id());
    assert!(name.unwrap().starts_with("pagestate-pool-"));
    assert_eq!(tag, "x");
    assert_eq!(*lock(&ONCE_RUNS), 1);
}

#[executor(thread)]
async fn async_where_am_i(tag: String) -> (ThreadId, String) {
    futures::future::ready(()).await;
    (thread::current().id(), tag)
}

/// Called by one test only, so that its count is that test's.
static ASYNC_ONCE_RUNS: Mutex<usize> = Mutex::new(0);

#[executor(thread)]
async fn async_where_am_i_once(tag: String) -> (ThreadId, String) {
    futures::future::ready(()).await;
    *lock(&ASYNC_ONCE_RUNS) += 1;
    (thread::current().id(), tag)
}

#[test]
fn an_async_job_runs_exactly_once_on_a_pool_thread() {
    pool();
    let (id, tag) = block_on(async_where_am_i_once("y".to_owned())).unwrap();
    assert_ne!(id, thread::current().id());
    assert_eq!(tag, "y");
    assert_eq!(*lock(&ASYNC_ONCE_RUNS), 1);
}

#[executor(thread)]
fn say_started(started: mpsc::Sender<ThreadId>) -> ThreadId {
    let me = thread::current().id();
    started.send(me).unwrap();
    me
}

#[test]
fn the_job_starts_when_called_not_when_polled() {
    pool();
    let (started, has_started) = mpsc::channel();
    let future = say_started(started);
    // Not polled yet: the job runs all the same.
    let ran_on = has_started
        .recv_timeout(HANDSHAKE)
        .expect("the job started before its future was polled");
    assert_ne!(ran_on, thread::current().id());
    assert_eq!(block_on(future), Ok(ran_on));
}

#[executor(thread)]
fn meet(
    me: &'static str,
    send: mpsc::Sender<&'static str>,
    wait: mpsc::Receiver<&'static str>,
) -> &'static str {
    send.send(me).unwrap();
    wait.recv_timeout(Duration::from_secs(60))
        .unwrap_or("nobody")
}

#[test]
fn two_calls_run_at_the_same_time() {
    pool();
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    // Each job waits for the other: they only meet if both run at once.
    let a = meet("a", to_b, from_b);
    let b = meet("b", to_a, from_a);
    assert_eq!(block_on(async { (a.await, b.await) }), (Ok("b"), Ok("a")));
}

#[executor(thread)]
fn nap() -> ThreadId {
    thread::sleep(Duration::from_millis(100));
    thread::current().id()
}

/// Bumps a per-session counter: needs the caller's session.
#[executor(thread, with_script_run_context = true)]
fn bump(by: u32) -> (SessionId, u32) {
    let count = use_state!("bumps", factory = || 0_u32);
    let id = ScriptRunContext::current().unwrap().session().id();
    (id, count.reduce(|n, by| n + by, by).unwrap())
}

#[executor(thread, with_script_run_context = true)]
async fn async_bump(by: u32) -> (SessionId, u32) {
    let count = use_state!("bumps", factory = || 0_u32);
    let id = ScriptRunContext::current().unwrap().session().id();
    (id, count.reduce(|n, by| n + by, by).unwrap())
}

/// Calls `call` inside `session`'s page run and awaits outside it.
fn from_page<F: std::future::Future>(session: &Session, call: impl FnOnce() -> F) -> F::Output {
    block_on(session.run(call))
}

#[test]
fn with_context_the_job_reads_and_writes_the_callers_session() {
    pool();
    let _lock = lock(&NO_CONTEXT_CHECK);
    let session = Session::new();
    assert_eq!(from_page(&session, || bump(2)), Ok((session.id(), 2)));
    assert_eq!(from_page(&session, || async_bump(3)), Ok((session.id(), 5)));
    // The page itself sees what the jobs wrote.
    let seen = session.run(|| use_state!("bumps", factory = || 0_u32).get());
    assert_eq!(seen, Ok(5));
    // Another session has its own counter.
    let other = Session::new();
    assert_eq!(from_page(&other, || bump(1)), Ok((other.id(), 1)));
}

/// Called by one test only, so that its count is that test's.
static NEEDS_CONTEXT_RUNS: Mutex<usize> = Mutex::new(0);

#[executor(thread, with_script_run_context = true)]
fn needs_context() -> u32 {
    *lock(&NEEDS_CONTEXT_RUNS) += 1;
    1
}

#[executor(thread, with_script_run_context = true)]
async fn async_needs_context() -> u32 {
    *lock(&NEEDS_CONTEXT_RUNS) += 1;
    2
}

#[test]
fn with_context_but_none_current_the_job_never_runs() {
    pool();
    let _lock = lock(&NO_CONTEXT_CHECK);
    assert_eq!(
        block_on(needs_context()),
        Err(ExecError::NoScriptRunContext)
    );
    assert_eq!(
        block_on(async_needs_context()),
        Err(ExecError::NoScriptRunContext)
    );
    assert_eq!(*lock(&NEEDS_CONTEXT_RUNS), 0, "a job ran without a context");
    // With a context the same functions run: the count above could move.
    let session = Session::new();
    assert_eq!(from_page(&session, needs_context), Ok(1));
    assert_eq!(from_page(&session, async_needs_context), Ok(2));
    assert_eq!(*lock(&NEEDS_CONTEXT_RUNS), 2);
}

/// Held by the tests whose pool threads run with a context, and by those
/// that check that no pool thread kept one.
static NO_CONTEXT_CHECK: Mutex<()> = Mutex::new(());

#[executor(thread)]
fn context_on_worker() -> bool {
    ScriptRunContext::current().is_some()
}

#[test]
fn without_the_option_the_worker_has_no_context() {
    pool();
    let _lock = lock(&NO_CONTEXT_CHECK);
    let session = Session::new();
    assert_eq!(from_page(&session, context_on_worker), Ok(false));
}

#[executor(thread)]
fn fail(message: String) -> u32 {
    panic!("{message}")
}

#[executor(thread)]
async fn async_fail(message: String) -> u32 {
    futures::future::ready(()).await;
    panic!("{message}")
}

#[test]
fn a_panic_becomes_an_error_and_later_jobs_run() {
    pool();
    let errors = block_on(join_all((0..100).map(|i| fail(format!("boom {i}")))));
    for (i, error) in errors.into_iter().enumerate() {
        assert_eq!(error, Err(ExecError::Panicked(format!("boom {i}"))));
    }
    assert_eq!(
        block_on(async_fail("async boom".to_owned())),
        Err(ExecError::Panicked("async boom".to_owned()))
    );
    assert!(ThreadPool::started_threads() <= POOL_THREADS);
    assert_ne!(block_on(nap()), Ok(thread::current().id()));
}

#[executor(thread, timeout = 1)]
fn wait_for(
    started: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
    finished: mpsc::Sender<u32>,
) -> u32 {
    started.send(()).unwrap();
    let released = release.recv_timeout(Duration::from_secs(120)).is_ok();
    finished.send(u32::from(released)).unwrap();
    7
}

#[test]
fn a_timeout_abandons_the_job_and_later_jobs_run() {
    pool();
    // The timeout counts from the call: on a machine so loaded that the
    // job was still queued after a second, it never runs, and the attempt
    // proves nothing about a running job; it is repeated.
    let abandoned = (0..10).find_map(|_| {
        let (started, has_started) = mpsc::channel();
        let (release, wait) = mpsc::channel();
        let (finished, has_finished) = mpsc::channel();
        let began = Instant::now();
        assert_eq!(
            block_on(wait_for(started, wait, finished)),
            Err(ExecError::Timeout(Duration::from_secs(1)))
        );
        assert!(began.elapsed() >= Duration::from_secs(1));
        match has_started.recv_timeout(HANDSHAKE) {
            Ok(()) => Some((release, has_finished)),
            Err(mpsc::RecvTimeoutError::Disconnected) => None, // dropped while queued
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the job neither ran nor was dropped"),
        }
    });
    let (release, has_finished) = abandoned.expect("no attempt started its job within 1 s");
    // The abandoned job was still running; it finishes once released.
    assert_eq!(has_finished.try_recv(), Err(mpsc::TryRecvError::Empty));
    release.send(()).unwrap();
    assert_eq!(has_finished.recv_timeout(HANDSHAKE), Ok(1));
    // A job that ends within the timeout returns its value.
    let (started, _has_started) = mpsc::channel();
    let (release, wait) = mpsc::channel();
    let (finished, has_finished) = mpsc::channel();
    release.send(()).unwrap();
    let outcome = block_on(wait_for(started, wait, finished));
    // (On a machine that stalls this job past its second, it times out.)
    if outcome != Err(ExecError::Timeout(Duration::from_secs(1))) {
        assert_eq!(outcome, Ok(7));
        assert_eq!(has_finished.recv_timeout(HANDSHAKE), Ok(1));
    }
}

/// Every option at once, as the issue spells it.
#[executor(thread, with_script_run_context = true, timeout = 5)]
fn session_id_soon() -> SessionId {
    ScriptRunContext::current().unwrap().session().id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_work_under_tokio() {
    pool();
    let session = Session::new();
    let future = session.run(session_id_soon);
    assert_eq!(future.await, Ok(session.id()));
    let (a, b) = tokio::join!(nap(), async_where_am_i("tokio".to_owned()));
    let here = thread::current().id();
    assert_ne!(a.unwrap(), here);
    let (ran_on, tag) = b.unwrap();
    assert_ne!(ran_on, here);
    assert_eq!(tag, "tokio");
}

#[test]
fn futures_work_under_smol() {
    pool();
    let session = Session::new();
    let future = session.run(session_id_soon);
    let (a, b, c) = smol::block_on(async {
        let (a, b) = (nap(), async_where_am_i("smol".to_owned()));
        (future.await, a.await, b.await)
    });
    assert_eq!(a, Ok(session.id()));
    let here = thread::current().id();
    assert_ne!(b.unwrap(), here);
    let (ran_on, tag) = c.unwrap();
    assert_ne!(ran_on, here);
    assert_eq!(tag, "smol");
}

#[executor(thread)]
fn parse(text: String) -> u64 {
    text.parse().unwrap()
}

#[executor(thread)]
async fn nested(n: u64) -> u64 {
    // An async job may await other executor jobs.
    parse(n.to_string()).await.unwrap() + 1
}

#[test]
fn an_async_job_can_await_other_jobs() {
    pool();
    assert_eq!(block_on(nested(41)), Ok(42));
}

/// A user's own `Result` and `Option` must not break the expansion.
mod shadowed {
    #![allow(dead_code)]
    type Result<T> = std::result::Result<T, ()>;
    struct Option;
    struct Send;

    #[pagestate::executor(thread)]
    pub fn shadowed_names(n: u32) -> u32 {
        n + 1
    }

    #[pagestate::executor(process)]
    pub fn shadowed_names_process(n: u32) -> u32 {
        n + 1
    }
}

#[test]
fn user_types_named_like_std_ones_do_not_break_the_expansion() {
    pool();
    assert_eq!(block_on(shadowed::shadowed_names(1)), Ok(2));
    #[cfg(unix)]
    assert_eq!(block_on(shadowed::shadowed_names_process(1)), Ok(2));
}

/// Methods: a receiver taken by value moves to the pool thread.
struct Report {
    rows: Vec<u32>,
}

impl Report {
    #[executor(thread)]
    fn total(self) -> u32 {
        self.rows.iter().sum()
    }

    #[executor(thread)]
    fn scaled<T: Into<u32> + Send + 'static>(self, by: T) -> u32 {
        let by = by.into();
        self.rows.iter().map(|row| row * by).sum()
    }
}

#[test]
fn methods_and_generic_functions_work() {
    pool();
    assert_eq!(
        block_on(
            Report {
                rows: vec![1, 2, 3]
            }
            .total()
        ),
        Ok(6)
    );
    assert_eq!(block_on(Report { rows: vec![1, 2] }.scaled(10_u8)), Ok(30));
}

#[executor(thread)]
fn fallible(n: i32) -> Result<u32, std::num::TryFromIntError> {
    let n = u32::try_from(n)?;
    Ok(n)
}

#[executor(thread)]
async fn async_fallible(n: i32) -> Result<u32, std::num::TryFromIntError> {
    let n = u32::try_from(n)?;
    Ok(n)
}

#[test]
fn the_functions_own_errors_travel_inside_ok() {
    pool();
    let negative = u32::try_from(-1_i32).unwrap_err();
    assert_eq!(block_on(fallible(3)), Ok(Ok(3)));
    assert_eq!(block_on(fallible(-3)), Ok(Err(negative)));
    assert_eq!(block_on(async_fallible(4)), Ok(Ok(4)));
    assert_eq!(block_on(async_fallible(-4)), Ok(Err(negative)));
}

static STRESS_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Panics on multiples of 7; checks it sees exactly its caller's session.
#[executor(thread, with_script_run_context = true)]
fn stress_job(n: u32, expected: SessionId) -> u32 {
    STRESS_RUNS.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        ScriptRunContext::current().unwrap().session().id(),
        expected
    );
    if n.is_multiple_of(7) {
        panic!("stress {n}");
    }
    use_state!("stress", factory = || 0_u32)
        .reduce(|sum, by| sum + by, 1)
        .unwrap()
}

#[test]
fn eight_callers_with_panics_and_drops_lose_nothing_and_leak_no_context() {
    pool();
    let _lock = lock(&NO_CONTEXT_CHECK);
    let callers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(|| {
                let session = Session::new();
                let mut kept = Vec::new();
                for n in 1..=300_u32 {
                    let future = session.run(|| stress_job(n, session.id()));
                    if n % 5 == 0 {
                        drop(future); // may or may not have started: both are fine
                    } else {
                        kept.push((n, future));
                    }
                }
                let mut ok = 0;
                for (n, future) in kept {
                    match block_on(future) {
                        Ok(_) => ok += 1,
                        Err(error) => assert_eq!(error, ExecError::Panicked(format!("stress {n}"))),
                    }
                }
                // Every kept job that did not panic counted once; dropped ones
                // counted at most once each.
                let total = session.run(|| use_state!("stress", factory = || 0_u32).get().unwrap());
                let dropped_ok = (1..=300).filter(|n| n % 5 == 0 && n % 7 != 0).count() as u32;
                assert!(total >= ok && total <= ok + dropped_ok, "{total} vs {ok}");
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    assert!(ThreadPool::started_threads() <= POOL_THREADS);
    // No pool thread kept a context: ask many of them at once.
    let contexts = block_on(join_all((0..POOL_THREADS).map(|_| context_on_worker())));
    assert!(contexts.into_iter().all(|seen| seen == Ok(false)));
    assert!(STRESS_RUNS.load(Ordering::SeqCst) >= 8 * 240);
}

#[executor(thread, timeout = 0.25)]
fn wait_briefly(release: mpsc::Receiver<()>) -> bool {
    release.recv_timeout(Duration::from_secs(120)).is_ok()
}

#[executor(thread, timeout = 18446744073709551615)]
fn practically_no_timeout() -> u8 {
    1
}

#[test]
fn timeouts_take_fractions_and_huge_values() {
    pool();
    let (release, wait) = mpsc::channel();
    assert_eq!(
        block_on(wait_briefly(wait)),
        Err(ExecError::Timeout(Duration::from_millis(250)))
    );
    release.send(()).unwrap();
    assert_eq!(block_on(practically_no_timeout()), Ok(1));
}

#[test]
fn every_executor_future_is_send_and_static() {
    fn spawnable<F: std::future::Future + Send + 'static>(future: F) -> F {
        future
    }
    pool();
    // Each can be handed to another thread or a multi-threaded runtime.
    let jobs = (
        spawnable(where_am_i("a".to_owned())),
        spawnable(async_where_am_i("b".to_owned())),
        spawnable(shadowed::shadowed_names(1)),
        spawnable(shadowed::shadowed_names_process(1)),
    );
    let awaited =
        thread::spawn(move || block_on(async { (jobs.0.await, jobs.1.await, jobs.2.await) }));
    let (a, b, c) = awaited.join().unwrap();
    assert_eq!(a.unwrap().2, "a");
    assert_eq!(b.unwrap().1, "b");
    assert_eq!(c, Ok(2));
    drop(jobs.3);
}
