//! `#[cached]` stacked with `#[executor(..)]`, in either order: the cache
//! lives in the calling process, a hit dispatches no job, and only a job that
//! succeeded with an `Ok` outcome is cached.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use futures::executor::block_on;
use pagestate::{cached, executor, use_state, ExecError, Session};

/// The seed's example, verbatim: a process job behind a small cache.
#[cached(ttl = 5, max_entries = 3)]
#[executor(process)]
fn cpu_intensive_computation(n: u64) -> u64 {
    (0..n).map(|i| i * i).sum()
}

/// Which process ran the job, and a value no two executions share.
#[cached(ttl = 600)]
#[executor(process)]
fn process_job_identity(n: u64) -> (u32, u128) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (std::process::id(), nanos + u128::from(n))
}

#[cfg(unix)]
#[test]
fn the_seeds_process_example_runs_once_per_argument() {
    assert_eq!(block_on(cpu_intensive_computation(1000)), Ok(332833500));
    assert_eq!(block_on(cpu_intensive_computation(1000)), Ok(332833500));
    let stats = cpu_intensive_computation::stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (1, 1, 1));

    let (pid, first) = block_on(process_job_identity(1)).unwrap();
    assert_ne!(pid, std::process::id(), "the job ran in this process");
    // A second run of the job would produce another value: this one was served
    // from the cache of this process without dispatching a job.
    assert_eq!(block_on(process_job_identity(1)), Ok((pid, first)));
    assert_ne!(block_on(process_job_identity(2)).unwrap().1, first);
}

static CACHED_FIRST_RUNS: AtomicUsize = AtomicUsize::new(0);
static EXECUTOR_FIRST_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(max_entries = 3)]
#[executor(thread)]
fn cached_first(n: u64) -> (u64, Option<String>) {
    CACHED_FIRST_RUNS.fetch_add(1, Ordering::SeqCst);
    (n * 2, std::thread::current().name().map(Into::into))
}

#[executor(thread)]
#[cached(max_entries = 3)]
fn executor_first(n: u64) -> (u64, Option<String>) {
    EXECUTOR_FIRST_RUNS.fetch_add(1, Ordering::SeqCst);
    (n * 2, std::thread::current().name().map(Into::into))
}

/// Calls through a stacked function: the first call runs a job on the pool,
/// the second is a hit that runs none.
fn check_stacked<F>(call: impl Fn(u64) -> F, runs: &AtomicUsize)
where
    F: std::future::Future<Output = Result<(u64, Option<String>), ExecError>>,
{
    let (doubled, thread) = block_on(call(21)).unwrap();
    assert_eq!(doubled, 42);
    assert!(
        thread.unwrap().starts_with("pagestate-pool"),
        "the miss ran on the pool"
    );
    assert_eq!(block_on(call(21)).unwrap().0, 42);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the hit dispatched a job");
    for n in 0..5 {
        block_on(call(n)).unwrap();
    }
}

#[test]
fn either_order_caches_in_the_caller_and_runs_misses_on_the_pool() {
    check_stacked(cached_first, &CACHED_FIRST_RUNS);
    check_stacked(executor_first, &EXECUTOR_FIRST_RUNS);
    assert_eq!(cached_first::stats().entries, 3, "max_entries holds");
    assert_eq!(executor_first::stats().entries, 3, "max_entries holds");
    assert_eq!(cached_first::stats().hits, executor_first::stats().hits);
}

static ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
#[executor(thread)]
async fn async_square(n: u64) -> u64 {
    ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    n * n
}

#[test]
fn async_functions_stack_too() {
    assert_eq!(block_on(async_square(9)), Ok(81));
    assert_eq!(block_on(async_square(9)), Ok(81));
    assert_eq!(ASYNC_RUNS.load(Ordering::SeqCst), 1);
}

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Fails on its first run, panics on its second, succeeds after.
#[cached]
#[executor(thread)]
fn flaky(n: u64) -> Result<u64, String> {
    match FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => Err("first run fails".into()),
        1 => panic!("second run panics"),
        _ => Ok(n + 1),
    }
}

#[test]
fn only_an_ok_outcome_of_a_job_that_succeeded_is_cached() {
    assert_eq!(block_on(flaky(1)), Ok(Err("first run fails".into())));
    assert_eq!(
        block_on(flaky(1)),
        Err(ExecError::Panicked("second run panics".into()))
    );
    assert_eq!(block_on(flaky(1)), Ok(Ok(2)));
    assert_eq!(block_on(flaky(1)), Ok(Ok(2)));
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 3, "an error was cached");
    assert_eq!(flaky::stats().entries, 1);
}

/// Sends `n` as soon as the job starts, then waits to be released.
#[cached]
#[executor(thread)]
fn announce(n: u64, _started: mpsc::Sender<u64>, _release: mpsc::Receiver<()>) -> u64 {
    _started.send(n).unwrap();
    _release.recv_timeout(Duration::from_secs(60)).unwrap();
    n
}

#[test]
fn a_miss_submits_its_job_at_call_time_and_concurrent_callers_share_it() {
    let (started, job_started) = mpsc::channel();
    let (release, released) = mpsc::channel();
    let first = announce(5, started.clone(), released);
    // Not polled yet, and still the job runs.
    assert_eq!(job_started.recv_timeout(Duration::from_secs(60)), Ok(5));
    // A second call with the same key while the first runs waits for it:
    // its own job would announce itself, and it never does.
    let (unused_release, unused) = mpsc::channel::<()>();
    let second = announce(5, started, unused);
    release.send(()).unwrap();
    assert_eq!(block_on(first), Ok(5));
    assert_eq!(block_on(second), Ok(5));
    assert!(job_started.try_recv().is_err(), "the second call ran a job");
    drop(unused_release);
}

static SESSION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(scope = "session")]
#[executor(thread, with_script_run_context = true)]
fn visits_of(page: String) -> u32 {
    SESSION_RUNS.fetch_add(1, Ordering::SeqCst);
    use_state!(page, factory = || 0_u32)
        .reduce(|n, by| n + by, 1)
        .unwrap()
}

#[test]
fn session_scope_works_with_the_thread_executor() {
    let (alice, bob) = (Session::new(), Session::new());
    let call = |session: &Session| block_on(session.run(|| visits_of("home".into())));
    assert_eq!(call(&alice), Ok(1));
    assert_eq!(call(&alice), Ok(1), "served from alice's entry");
    assert_eq!(call(&bob), Ok(1), "bob has his own entry and his own state");
    assert_eq!(SESSION_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(visits_of::stats().entries, 2);
    drop(alice);
    assert_eq!(visits_of::stats().entries, 1, "alice's entry left with her");
    // A session-scoped cache needs a session to look in: without a run
    // context the call panics, as any session-scoped call does.
    let Err(outside) = std::panic::catch_unwind(|| visits_of("home".into())) else {
        panic!("a session-scoped call outside a page run returned");
    };
    let message = outside
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| outside.downcast_ref::<&str>().copied())
        .expect("a message");
    assert!(
        message.starts_with("#[cached(scope = \"session\")] was called outside a page run"),
        "{message}"
    );
}

/// `#[executor(process)]` above `#[cached]`: the same result as the other
/// order (the cache in the calling process, a hit dispatches no job).
#[executor(process)]
#[cached(ttl = 600)]
fn process_over_cache(n: u64) -> (u32, u128) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (std::process::id(), nanos + u128::from(n))
}

#[cfg(unix)]
#[test]
fn executor_process_above_cached_caches_in_the_calling_process() {
    let (pid, first) = block_on(process_over_cache(1)).unwrap();
    assert_ne!(pid, std::process::id(), "the job ran in this process");
    // Another run of the job would give another value: a hit, no job.
    assert_eq!(block_on(process_over_cache(1)), Ok((pid, first)));
    let stats = process_over_cache::stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (1, 1, 1));
    assert_ne!(block_on(process_over_cache(2)).unwrap().1, first);
}
