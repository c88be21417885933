//! `#[cached]`: st.cache_data's semantics, single-flight, session scope and
//! disk persistence, each checked by what a caller can observe (which bodies
//! ran, in which order, what another session or process sees).

// The async tests hold the `EXCLUSIVE` guard across awaits on purpose: it
// only keeps `clear_all_caches` from running in the middle of them.
#![allow(clippy::await_holding_lock)]

use std::collections::HashMap;
use std::future::Future;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use pagestate::{cached, clear_all_caches, CacheStats, ScriptRunContext, Session};

/// `clear_all_caches` empties every cache of the process, so the test that
/// calls it runs alone; every other test holds this lock shared.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner())
}

/// A log of body executions, in order.
struct Log(Mutex<Vec<u64>>);

impl Log {
    const fn new() -> Self {
        Log(Mutex::new(Vec::new()))
    }

    fn push(&self, x: u64) {
        self.0.lock().unwrap().push(x);
    }

    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Waits until `n` parties have arrived, or fails after a generous timeout
/// (instead of hanging) when they never all arrive.
struct Gate {
    arrived: Mutex<usize>,
    all_in: Condvar,
}

impl Gate {
    const fn new() -> Self {
        Gate {
            arrived: Mutex::new(0),
            all_in: Condvar::new(),
        }
    }

    fn arrive_and_wait(&self, n: usize) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_in.notify_all();
        let (arrived, timeout) = self
            .all_in
            .wait_timeout_while(arrived, Duration::from_secs(30), |a| *a < n)
            .unwrap();
        !timeout.timed_out() || *arrived >= n
    }
}

/// How long a test waits for another thread to get somewhere before it
/// fails: a bound that only a hang reaches, never a guess at how fast a
/// thread runs.
const HANG: Duration = Duration::from_secs(60);

/// Polls `done` until it holds, or fails loudly after [`HANG`].
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + HANG;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after {HANG:?}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Polls until exactly `n` calls wait for the running computation of the
/// function whose stats `stats` reads ([`CacheStats::waiting`]): then each
/// of them found that computation, and none will run the body while it
/// lasts. Fails at once if `bodies` (the function's count of body runs)
/// passes 1, or more than `n` calls wait: a caller ran the body instead of
/// waiting.
fn until_waiting(stats: fn() -> CacheStats, n: usize, bodies: &AtomicUsize) {
    until(&format!("{n} calls waiting"), || {
        let now = stats();
        let runs = bodies.load(Ordering::SeqCst);
        assert!(
            runs <= 1,
            "{runs} bodies ran at once: a caller did not wait"
        );
        assert!(now.waiting <= n, "more than {n} calls wait: {now:?}");
        now.waiting == n
    });
}

/// Holds bodies (threads block, futures wait) until the test opens it.
struct Latch {
    state: Mutex<(bool, Vec<Waker>)>,
    opened: Condvar,
}

impl Latch {
    const fn new() -> Self {
        Latch {
            state: Mutex::new((false, Vec::new())),
            opened: Condvar::new(),
        }
    }

    /// Blocks until the latch is open; fails after [`HANG`].
    fn wait(&self) {
        let state = self.state.lock().unwrap();
        let (state, _) = self
            .opened
            .wait_timeout_while(state, HANG, |(open, _)| !*open)
            .unwrap();
        assert!(state.0, "the test never opened the latch");
    }

    /// Waits, without blocking the thread, until the latch is open.
    fn opened(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap();
            if state.0 {
                return Poll::Ready(());
            }
            state.1.push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Opens the latch: blocked bodies return, waiting futures wake.
    fn open(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 = true;
        state.1.drain(..).for_each(Waker::wake);
        self.opened.notify_all();
    }

    /// Runs `step`, then opens the latch, also when `step` fails: no body is
    /// left waiting for a test that has already failed.
    fn open_after<T>(&self, step: impl FnOnce() -> T) -> T {
        struct Open<'a>(&'a Latch);
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                self.0.open();
            }
        }
        let _open = Open(self);
        step()
    }
}

/// A future that is pending `n` times (waking itself), so a body really
/// suspends and other futures on the same thread get to run.
struct YieldTimes(usize);

impl Future for YieldTimes {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

// --- the seed's test_sync_cached ------------------------------------------

static SYNC_TTL_LOG: Log = Log::new();

#[cached(ttl = 0.2)]
fn sync_ttl(x: u64) -> u64 {
    SYNC_TTL_LOG.push(x);
    x * 10
}

/// The seed's ttl tests make three calls within a ttl of 0.2 s. A loaded
/// machine may stall a thread for that long, and then an attempt proves
/// nothing: it is repeated with fresh keys, never counted as a failure.
const WITHIN_TTL: Duration = Duration::from_millis(150);
const ATTEMPTS: u64 = 50;

#[test]
fn sync_cached_runs_body_once_per_key_until_ttl_passes() {
    let _shared = shared();
    for attempt in 0..ATTEMPTS {
        let (one, two) = (10 * attempt + 1, 10 * attempt + 2);
        SYNC_TTL_LOG.take();
        let started = Instant::now();
        assert_eq!(sync_ttl(one), one * 10);
        assert_eq!(sync_ttl(one), one * 10);
        assert_eq!(sync_ttl(two), two * 10);
        if started.elapsed() >= WITHIN_TTL {
            continue; // stalled: the second call may have come after the ttl
        }
        thread::sleep(Duration::from_millis(600)); // three times the ttl
        assert_eq!(sync_ttl(one), one * 10);
        assert_eq!(SYNC_TTL_LOG.take(), [one, two, one]);
        return;
    }
    panic!("no attempt made three calls within {WITHIN_TTL:?}");
}

static ASYNC_TTL_LOG: Log = Log::new();

#[cached(ttl = 0.2)]
async fn async_ttl(x: u64) -> u64 {
    YieldTimes(2).await;
    ASYNC_TTL_LOG.push(x);
    x * 10
}

#[tokio::test]
async fn async_cached_runs_body_once_per_key_until_ttl_passes() {
    let _shared = shared();
    for attempt in 0..ATTEMPTS {
        let (one, two) = (10 * attempt + 1, 10 * attempt + 2);
        ASYNC_TTL_LOG.take();
        let started = Instant::now();
        assert_eq!(async_ttl(one).await, one * 10);
        assert_eq!(async_ttl(one).await, one * 10);
        assert_eq!(async_ttl(two).await, two * 10);
        if started.elapsed() >= WITHIN_TTL {
            continue; // stalled: see WITHIN_TTL
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(async_ttl(one).await, one * 10);
        assert_eq!(ASYNC_TTL_LOG.take(), [one, two, one]);
        return;
    }
    panic!("no attempt made three calls within {WITHIN_TTL:?}");
}

static DURATION_LOG: Log = Log::new();

#[cached(ttl = "1h 30m")]
fn ttl_string(x: u64) -> u64 {
    DURATION_LOG.push(x);
    x
}

#[cached(ttl = Duration::from_secs(3600))]
fn ttl_expression(x: u64) -> u64 {
    DURATION_LOG.push(x + 100);
    x
}

#[test]
fn ttl_accepts_duration_strings_and_expressions() {
    let _shared = shared();
    for _ in 0..3 {
        ttl_string(1);
        ttl_expression(1);
    }
    assert_eq!(DURATION_LOG.take(), [1, 101]);
}

// --- single-flight --------------------------------------------------------

static ONE_KEY_RUNS: AtomicUsize = AtomicUsize::new(0);
static ONE_KEY_RELEASE: Latch = Latch::new();

#[cached]
fn one_key(x: u64) -> u64 {
    ONE_KEY_RUNS.fetch_add(1, Ordering::SeqCst);
    // The flight stays open until the test has seen every other caller
    // wait for it: without single-flight each of them would run the body.
    ONE_KEY_RELEASE.wait();
    x + 1
}

#[test]
fn sixteen_threads_with_one_key_run_the_body_once() {
    let _shared = shared();
    let results: Vec<u64> = thread::scope(|s| {
        let handles: Vec<_> = (0..16).map(|_| s.spawn(|| one_key(41))).collect();
        ONE_KEY_RELEASE.open_after(|| until_waiting(one_key::stats, 15, &ONE_KEY_RUNS));
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, vec![42; 16]);
    assert_eq!(ONE_KEY_RUNS.load(Ordering::SeqCst), 1);
    let stats = one_key::stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.entries, stats.waiting),
        (1, 15, 1, 0)
    );
}

static DISTINCT_GATE: Gate = Gate::new();

#[cached]
fn distinct_keys(x: u64) -> bool {
    // Every body waits here until all 16 are running at once: this only
    // passes if calls with different keys run in parallel.
    DISTINCT_GATE.arrive_and_wait(16) && x < 16
}

#[test]
fn sixteen_threads_with_distinct_keys_run_in_parallel() {
    let _shared = shared();
    let all_overlapped = thread::scope(|s| {
        let handles: Vec<_> = (0..16).map(|x| s.spawn(move || distinct_keys(x))).collect();
        handles.into_iter().all(|h| h.join().unwrap())
    });
    assert!(all_overlapped, "the 16 bodies were not all running at once");
    assert_eq!(distinct_keys::stats().misses, 16);
}

static ASYNC_ONE_KEY_RUNS: AtomicUsize = AtomicUsize::new(0);
static ASYNC_ONE_KEY_RELEASE: Latch = Latch::new();

#[cached]
async fn async_one_key(x: u64) -> u64 {
    ASYNC_ONE_KEY_RUNS.fetch_add(1, Ordering::SeqCst);
    ASYNC_ONE_KEY_RELEASE.opened().await;
    x + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tokio_tasks_with_one_key_run_the_body_once() {
    let _shared = shared();
    let tasks: Vec<_> = (0..16).map(|_| tokio::spawn(async_one_key(1))).collect();
    tokio::task::spawn_blocking(|| {
        ASYNC_ONE_KEY_RELEASE.open_after(|| {
            until_waiting(async_one_key::stats, 15, &ASYNC_ONE_KEY_RUNS);
        });
    })
    .await
    .unwrap();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 2);
    }
    assert_eq!(ASYNC_ONE_KEY_RUNS.load(Ordering::SeqCst), 1);
    let stats = async_one_key::stats();
    assert_eq!((stats.misses, stats.hits, stats.waiting), (1, 15, 0));
}

static BLOCK_ON_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn block_on_one_key(x: u64) -> u64 {
    BLOCK_ON_RUNS.fetch_add(1, Ordering::SeqCst);
    YieldTimes(50).await;
    x * 2
}

#[test]
fn waiters_await_without_blocking_the_thread_under_block_on() {
    let _shared = shared();
    // Eight calls joined on one thread: if a waiter blocked the thread, the
    // leader could never finish and this would hang.
    let results = futures::executor::block_on(futures::future::join_all(
        (0..8).map(|_| block_on_one_key(21)),
    ));
    assert_eq!(results, vec![42; 8]);
    assert_eq!(BLOCK_ON_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(block_on_one_key::stats().hits, 7);
}

static SMOL_RUNS: AtomicUsize = AtomicUsize::new(0);
static SMOL_RELEASE: Latch = Latch::new();

#[cached]
async fn smol_one_key(x: u64) -> u64 {
    SMOL_RUNS.fetch_add(1, Ordering::SeqCst);
    SMOL_RELEASE.opened().await;
    x * 2
}

#[test]
fn sixteen_smol_tasks_with_one_key_run_the_body_once() {
    let _shared = shared();
    let tasks: Vec<_> = (0..16).map(|_| smol::spawn(smol_one_key(21))).collect();
    SMOL_RELEASE.open_after(|| until_waiting(smol_one_key::stats, 15, &SMOL_RUNS));
    let results = smol::block_on(futures::future::join_all(tasks));
    assert_eq!(results, vec![42; 16]);
    assert_eq!(SMOL_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(smol_one_key::stats().waiting, 0);
}

static DROPPED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn dropped_leader(x: u64) -> u64 {
    let run = DROPPED_RUNS.fetch_add(1, Ordering::SeqCst);
    if run == 0 {
        // The first leader never finishes: its caller gives up.
        std::future::pending::<()>().await;
    }
    x + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_leader_future_hands_the_work_to_a_waiter() {
    let _shared = shared();
    let leader = tokio::spawn(dropped_leader(1));
    tokio::task::spawn_blocking(|| {
        until("the leader's body runs", || {
            DROPPED_RUNS.load(Ordering::SeqCst) == 1
        });
    })
    .await
    .unwrap();
    let waiter = tokio::spawn(dropped_leader(1));
    tokio::task::spawn_blocking(|| until_waiting(dropped_leader::stats, 1, &DROPPED_RUNS))
        .await
        .unwrap();
    // The leader's caller gives up: its future is dropped mid-computation.
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    let waited = tokio::time::timeout(HANG, waiter)
        .await
        .expect("the waiter was never woken");
    assert_eq!(waited.unwrap(), 2);
    assert_eq!(DROPPED_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(dropped_leader(1).await, 2);
    assert_eq!(DROPPED_RUNS.load(Ordering::SeqCst), 2);
}

// --- stats().waiting: a handshake for tests -------------------------------

static COUNTED_RUNS: AtomicUsize = AtomicUsize::new(0);
static COUNTED_RELEASE: Latch = Latch::new();

#[cached]
fn counted_wait(x: u64) -> u64 {
    COUNTED_RUNS.fetch_add(1, Ordering::SeqCst);
    COUNTED_RELEASE.wait();
    x
}

#[test]
fn stats_count_the_calls_waiting_for_a_running_computation() {
    let _shared = shared();
    thread::scope(|s| {
        let leader = s.spawn(|| counted_wait(1));
        until("the leader's body runs", || {
            COUNTED_RUNS.load(Ordering::SeqCst) == 1
        });
        COUNTED_RELEASE
            .open_after(|| {
                assert_eq!(counted_wait::stats().waiting, 0, "a leader is not waiting");
                let waiters: Vec<_> = (0..4).map(|_| s.spawn(|| counted_wait(1))).collect();
                until_waiting(counted_wait::stats, 4, &COUNTED_RUNS);
                waiters
            })
            .into_iter()
            .chain([leader])
            .for_each(|call| assert_eq!(call.join().unwrap(), 1));
    });
    let stats = counted_wait::stats();
    assert_eq!(
        (stats.waiting, stats.hits, stats.misses),
        (0, 4, 1),
        "the woken waiters still count as waiting"
    );
}

static COUNTED_ASYNC_RUNS: AtomicUsize = AtomicUsize::new(0);
static COUNTED_ASYNC_RELEASE: Latch = Latch::new();

#[cached]
async fn counted_async_wait(x: u64) -> u64 {
    COUNTED_ASYNC_RUNS.fetch_add(1, Ordering::SeqCst);
    COUNTED_ASYNC_RELEASE.opened().await;
    x
}

#[test]
fn a_dropped_waiting_future_no_longer_counts_as_waiting() {
    let _shared = shared();
    let leader = thread::spawn(|| futures::executor::block_on(counted_async_wait(1)));
    until("the leader's body runs", || {
        COUNTED_ASYNC_RUNS.load(Ordering::SeqCst) == 1
    });
    COUNTED_ASYNC_RELEASE.open_after(|| {
        let mut waiter = Box::pin(counted_async_wait(1));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiter.as_mut().poll(&mut cx).is_pending());
        assert_eq!(counted_async_wait::stats().waiting, 1);
        drop(waiter);
        assert_eq!(
            counted_async_wait::stats().waiting,
            0,
            "the dropped future still counts as waiting"
        );
    });
    assert_eq!(leader.join().unwrap(), 1);
    assert_eq!(COUNTED_ASYNC_RUNS.load(Ordering::SeqCst), 1);
}

// --- panics and errors ----------------------------------------------------

static PANIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn panics_first(x: u64) -> u64 {
    if PANIC_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        panic!("first run fails");
    }
    x + 1
}

#[test]
fn a_panicking_body_leaves_the_cache_usable() {
    let _shared = shared();
    let first = catch_unwind(|| panics_first(1)).unwrap_err();
    assert_eq!(
        first.downcast_ref::<&str>(),
        Some(&"first run fails"),
        "the panic reaches its own caller"
    );
    assert_eq!(panics_first(1), 2);
    assert_eq!(panics_first(1), 2);
    assert_eq!(PANIC_RUNS.load(Ordering::SeqCst), 2);
}

static PANIC_WAIT_RUNS: AtomicUsize = AtomicUsize::new(0);
static PANIC_WAIT_RELEASE: Latch = Latch::new();

#[cached]
fn panics_while_others_wait(x: u64) -> u64 {
    if PANIC_WAIT_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        // Fail only once the test has seen the others wait for this flight.
        PANIC_WAIT_RELEASE.wait();
        panic!("the leader fails");
    }
    x + 1
}

#[test]
fn when_the_leader_panics_a_waiter_computes_instead() {
    let _shared = shared();
    let outcomes: Vec<Result<u64, ()>> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| catch_unwind(|| panics_while_others_wait(1)).map_err(|_| ())))
            .collect();
        PANIC_WAIT_RELEASE.open_after(|| {
            until_waiting(panics_while_others_wait::stats, 3, &PANIC_WAIT_RUNS);
        });
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // One caller saw the panic, the others the value one waiter computed.
    assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Ok(2)).count(), 3);
    assert_eq!(PANIC_WAIT_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(
        panics_while_others_wait::stats().waiting,
        0,
        "the waiters woken by the panic still count as waiting"
    );
    assert_eq!(panics_while_others_wait(1), 2);
    assert_eq!(PANIC_WAIT_RUNS.load(Ordering::SeqCst), 2);
}

/// A value whose clone number `FRAGILE_PANIC_AT` panics.
#[derive(Debug, PartialEq)]
struct Fragile(u64);

static FRAGILE_CLONES: AtomicUsize = AtomicUsize::new(0);
static FRAGILE_PANIC_AT: AtomicUsize = AtomicUsize::new(usize::MAX);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        let n = FRAGILE_CLONES.fetch_add(1, Ordering::SeqCst) + 1;
        if n == FRAGILE_PANIC_AT.load(Ordering::SeqCst) {
            panic!("clone {n} fails");
        }
        Fragile(self.0)
    }
}

static FRAGILE_RUNS: AtomicUsize = AtomicUsize::new(0);
static FRAGILE_RELEASE: Latch = Latch::new();

#[cached]
fn fragile(x: u64) -> Fragile {
    let first = FRAGILE_RUNS.fetch_add(1, Ordering::SeqCst) == 0;
    if first {
        // Finish only once the test has seen the waiter wait for this flight.
        FRAGILE_RELEASE.wait();
    }
    // A leader clones its value once: the copy that the cache stores and
    // hands to the waiters. The first leader's clone fails, so it hands
    // over nothing and the waiter computes the value itself.
    FRAGILE_CLONES.store(0, Ordering::SeqCst);
    FRAGILE_PANIC_AT.store(if first { 1 } else { usize::MAX }, Ordering::SeqCst);
    Fragile(x)
}

#[test]
fn a_panicking_clone_while_storing_still_wakes_the_waiters() {
    let _shared = shared();
    let leader = thread::spawn(|| catch_unwind(|| fragile(5)).is_err());
    // The waiter calls once the leader's body runs, so it cannot lead.
    until("the leader's body runs", || {
        FRAGILE_RUNS.load(Ordering::SeqCst) == 1
    });
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(catch_unwind(|| fragile(5)).map_err(|_| ()));
    });
    FRAGILE_RELEASE.open_after(|| until_waiting(fragile::stats, 1, &FRAGILE_RUNS));
    let waited = finished
        .recv_timeout(HANG)
        .expect("the waiter was never woken");
    assert!(
        leader.join().unwrap(),
        "the failed clone reached the leader"
    );
    assert_eq!(waited, Ok(Fragile(5)));
    assert_eq!(FRAGILE_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(fragile::stats().waiting, 0);
    // The waiter's value was stored: the next call is a hit.
    assert_eq!(fragile(5), Fragile(5));
    assert_eq!(FRAGILE_RUNS.load(Ordering::SeqCst), 2);
}

static PARSE_LOG: Log = Log::new();

#[cached]
fn parse_number(text: &str) -> Result<u64, String> {
    PARSE_LOG.push(text.len() as u64);
    text.parse().map_err(|_| format!("not a number: {text}"))
}

static IO_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn read_config(ok: bool) -> std::io::Result<String> {
    IO_RUNS.fetch_add(1, Ordering::SeqCst);
    if ok {
        Ok("config".to_owned())
    } else {
        Err(std::io::Error::other("missing"))
    }
}

/// Any alias of `std::result::Result` caches `Ok` only: the choice is made
/// by type, not by the name `Result`.
type Outcome<T> = std::result::Result<T, String>;

static ALIAS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn through_alias(ok: bool) -> Outcome<u8> {
    ALIAS_RUNS.fetch_add(1, Ordering::SeqCst);
    if ok {
        Ok(1)
    } else {
        Err("no".to_owned())
    }
}

mod own_result {
    use super::*;

    /// A type of the user's that happens to be called `Result`: cached whole.
    #[derive(Clone, Debug, PartialEq)]
    pub enum Result {
        Pending,
    }

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached]
    pub fn poll(_x: u8) -> Result {
        RUNS.fetch_add(1, Ordering::SeqCst);
        Result::Pending
    }
}

#[test]
fn results_are_recognised_by_type_not_by_name() {
    let _shared = shared();
    assert!(through_alias(false).is_err());
    assert!(through_alias(false).is_err());
    assert_eq!(through_alias(true), Ok(1));
    assert_eq!(through_alias(true), Ok(1));
    assert_eq!(ALIAS_RUNS.load(Ordering::SeqCst), 3);

    assert_eq!(own_result::poll(0), own_result::Result::Pending);
    assert_eq!(own_result::poll(0), own_result::Result::Pending);
    assert_eq!(own_result::RUNS.load(Ordering::SeqCst), 1);
}

#[test]
fn err_is_returned_but_never_cached() {
    let _shared = shared();
    assert_eq!(parse_number("x"), Err("not a number: x".to_owned()));
    assert_eq!(parse_number("x"), Err("not a number: x".to_owned()));
    assert_eq!(parse_number("42"), Ok(42));
    assert_eq!(parse_number("42"), Ok(42));
    assert_eq!(PARSE_LOG.take(), [1, 1, 2]);
    assert_eq!(parse_number::stats().entries, 1);

    assert!(read_config(false).is_err());
    assert!(read_config(false).is_err());
    assert_eq!(read_config(true).unwrap(), "config");
    assert_eq!(read_config(true).unwrap(), "config");
    assert_eq!(IO_RUNS.load(Ordering::SeqCst), 3);
}

static ERR_WAIT_RUNS: AtomicUsize = AtomicUsize::new(0);
static ERR_WAIT_RELEASE: Latch = Latch::new();

#[cached]
fn fails_while_others_wait(x: u64) -> Result<u64, String> {
    if ERR_WAIT_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        // Fail only once the test has seen the others wait for this flight.
        ERR_WAIT_RELEASE.wait();
        return Err("the leader's own error".to_owned());
    }
    Ok(x)
}

#[test]
fn an_err_goes_to_its_own_caller_only() {
    let _shared = shared();
    let outcomes: Vec<Result<u64, String>> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| fails_while_others_wait(7)))
            .collect();
        ERR_WAIT_RELEASE.open_after(|| {
            until_waiting(fails_while_others_wait::stats, 3, &ERR_WAIT_RUNS);
        });
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // The waiters did not get the leader's `Err`: one of them computed the
    // value the other two took.
    assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == Ok(7)).count(), 3);
    assert_eq!(ERR_WAIT_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(fails_while_others_wait::stats().waiting, 0);
    assert_eq!(fails_while_others_wait(7), Ok(7), "the Ok was stored");
    assert_eq!(ERR_WAIT_RUNS.load(Ordering::SeqCst), 2);
}

// --- a body that calls itself ----------------------------------------------

static REENTRY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Calls itself with the same key on its first run, with another key after.
#[cached]
fn calls_itself(x: u64) -> u64 {
    if REENTRY_RUNS.fetch_add(1, Ordering::SeqCst) == 0 {
        return calls_itself(x);
    }
    if x == 0 {
        0
    } else {
        calls_itself(x - 1) + 1
    }
}

#[cached]
async fn async_calls_itself(x: u64) -> u64 {
    if x > 0 {
        // The same key again, polled inside this call's own poll.
        return Box::pin(async_calls_itself(x)).await;
    }
    0
}

/// Runs `call` on its own thread and returns its panic message, or `None`
/// when it neither returned nor panicked within a minute (it hangs).
fn panic_message_of<T>(call: impl FnOnce() -> T + Send + 'static) -> Option<String> {
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let outcome = catch_unwind(std::panic::AssertUnwindSafe(call));
        let message = outcome
            .err()
            .map(|panic| panic.downcast_ref::<String>().cloned().unwrap_or_default());
        let _ = done.send(message);
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("the call hung: it waits for itself")
}

#[test]
fn a_body_calling_itself_with_the_same_key_panics_instead_of_hanging() {
    let _shared = shared();
    let message = panic_message_of(|| calls_itself(3)).expect("a panic");
    assert!(
        message.contains("fn calls_itself called itself with the same arguments"),
        "{message}"
    );
    // Nothing is stuck or poisoned; calls with other keys recurse fine.
    assert_eq!(calls_itself(3), 3);
    assert_eq!(calls_itself(3), 3);

    let message =
        panic_message_of(|| futures::executor::block_on(async_calls_itself(1))).expect("a panic");
    assert!(
        message.contains("fn async_calls_itself called itself"),
        "{message}"
    );
    assert_eq!(futures::executor::block_on(async_calls_itself(0)), 0);
}

// --- max_entries ----------------------------------------------------------

static BOUNDED_LOG: Log = Log::new();

#[cached(max_entries = 3)]
fn bounded(x: u64) -> u64 {
    BOUNDED_LOG.push(x);
    x * x
}

#[test]
fn max_entries_bounds_the_cache_and_evicts_the_oldest() {
    let _shared = shared();
    for x in 0..10 {
        assert_eq!(bounded(x), x * x);
        assert!(bounded::stats().entries <= 3, "{:?}", bounded::stats());
    }
    assert_eq!(bounded::stats().entries, 3);
    BOUNDED_LOG.take();
    // The three newest are still there; the oldest was evicted.
    for x in [7, 8, 9] {
        bounded(x);
    }
    assert_eq!(BOUNDED_LOG.take(), Vec::<u64>::new());
    bounded(0);
    assert_eq!(BOUNDED_LOG.take(), [0]);
    assert_eq!(bounded::stats().entries, 3);
}

#[test]
fn max_entries_holds_under_concurrent_misses() {
    #[cached(max_entries = 5)]
    fn small(x: u64) -> u64 {
        x
    }
    let _shared = shared();
    thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for x in 0..500 {
                    small(t * 1000 + x);
                    assert!(small::stats().entries <= 5);
                }
            });
        }
    });
    assert_eq!(small::stats().entries, 5);
}

// --- session scope --------------------------------------------------------

static GREETING_LOG: Log = Log::new();

#[cached(scope = "session")]
fn greeting(name: &str) -> String {
    GREETING_LOG.push(ScriptRunContext::current().unwrap().session().id().as_u64());
    format!("hello {name}")
}

#[test]
fn session_entries_are_invisible_to_other_sessions_and_freed_with_them() {
    let _shared = shared();
    let alice = Session::new();
    let bob = Session::new();
    assert_eq!(alice.run(|| greeting("x")), "hello x");
    assert_eq!(alice.run(|| greeting("x")), "hello x");
    assert_eq!(bob.run(|| greeting("x")), "hello x");
    assert_eq!(
        GREETING_LOG.take(),
        [alice.id().as_u64(), bob.id().as_u64()],
        "bob did not see alice's entry"
    );
    assert_eq!(greeting::stats().entries, 2);

    drop(alice);
    assert_eq!(greeting::stats().entries, 1, "alice's entry left with her");
    bob.close();
    assert_eq!(
        greeting::stats().entries,
        0,
        "closing frees the session's entries"
    );
    assert_eq!(bob.run(|| greeting("x")), "hello x");
    assert_eq!(GREETING_LOG.take(), [bob.id().as_u64()]);
}

/// Each value holds the only handle of another session, so evicting or
/// purging an entry ends that session, which purges session caches again.
#[cached(scope = "session", max_entries = 1)]
fn helper_session(x: u64) -> (u64, Session) {
    (x, Session::new())
}

#[test]
fn values_holding_the_last_handle_of_a_session_are_dropped_without_deadlock() {
    let _shared = shared();
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let page = Session::new();
        page.run(|| {
            for x in 0..2000 {
                assert_eq!(helper_session(x).0, x);
            }
        });
        let _ = done.send(helper_session::stats().entries);
        drop(page);
        let _ = done.send(helper_session::stats().entries);
    });
    let wait = || {
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("deadlocked")
    };
    assert_eq!(wait(), 1, "max_entries = 1 held");
    assert_eq!(wait(), 0, "the page's entry left with its session");
}

#[test]
fn session_scope_without_a_run_context_panics_with_the_fix() {
    let _shared = shared();
    let panic = catch_unwind(|| greeting("nobody")).unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(message.contains("Session::run"), "{message}");
    assert!(message.contains("ScriptRunContext::attach"), "{message}");
}

static SLOW_SESSION_GATE: Gate = Gate::new();

#[cached(scope = "session")]
fn slow_session_value(x: u64) -> u64 {
    SLOW_SESSION_GATE.arrive_and_wait(2);
    x
}

#[test]
fn a_leader_finishing_after_its_session_ended_stores_nothing() {
    let _shared = shared();
    let session = Session::new();
    let ctx = ScriptRunContext::new(session.clone());
    let leader = thread::spawn(move || {
        let _guard = ctx.attach();
        slow_session_value(5)
    });
    // Wait until the body runs, end the session, then let the body finish.
    while *SLOW_SESSION_GATE.arrived.lock().unwrap() == 0 {
        thread::yield_now();
    }
    session.close();
    assert!(SLOW_SESSION_GATE.arrive_and_wait(2));
    assert_eq!(leader.join().unwrap(), 5, "the caller still gets its value");
    assert_eq!(slow_session_value::stats().entries, 0);
}

// --- keys -----------------------------------------------------------------

/// Not `Hash`: it can only be passed as an argument left out of the key.
struct Database {
    name: &'static str,
}

static LOAD_LOG: Log = Log::new();

#[cached]
fn load_table(table: &str, _db: &Database) -> String {
    LOAD_LOG.push(table.len() as u64);
    format!("{}.{table}", _db.name)
}

#[test]
fn underscore_arguments_are_left_out_of_the_key() {
    let _shared = shared();
    let primary = Database { name: "primary" };
    let replica = Database { name: "replica" };
    assert_eq!(load_table("users", &primary), "primary.users");
    assert_eq!(load_table("users", &replica), "primary.users");
    assert_eq!(LOAD_LOG.take(), [5]);
    assert!(load_table::invalidate("users"));
}

#[derive(Clone, Debug, PartialEq)]
struct Record {
    id: u64,
    payload: f64, // f64: not Hash, so the record cannot be a key itself
}

static BY_ID_LOG: Log = Log::new();

#[cached(key = record.id)]
fn by_id(record: &Record) -> f64 {
    BY_ID_LOG.push(record.id);
    record.payload
}

#[test]
fn a_custom_key_decides_which_calls_are_equal() {
    let _shared = shared();
    let a = Record {
        id: 1,
        payload: 0.5,
    };
    let b = Record {
        id: 1,
        payload: 9.0,
    };
    assert_eq!(by_id(&a), 0.5);
    assert_eq!(by_id(&b), 0.5, "equal keys share the entry");
    assert_eq!(BY_ID_LOG.take(), [1]);
    assert!(by_id::invalidate(&b));
    assert_eq!(by_id(&b), 9.0);
}

mod first {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached]
    pub fn value(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x + 1
    }
}

mod second {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached]
    pub fn value(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x + 2
    }
}

#[test]
fn functions_with_equal_names_never_share_entries() {
    let _shared = shared();
    assert_eq!(first::value(1), 2);
    assert_eq!(second::value(1), 3);
    assert_eq!(first::value(1), 2);
    assert_eq!(second::value(1), 3);
    assert_eq!(first::RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(second::RUNS.load(Ordering::SeqCst), 1);
}

// --- clear, invalidate, stats, clear_all_caches ---------------------------

static CONTROLS_LOG: Log = Log::new();

#[cached]
fn controlled(x: u64) -> u64 {
    CONTROLS_LOG.push(x);
    x
}

#[test]
fn clear_invalidate_and_stats_control_one_function() {
    let _shared = shared();
    assert_eq!(controlled::stats(), CacheStats::default());
    controlled(1);
    controlled(2);
    controlled(1);
    let stats = controlled::stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 2));

    assert!(controlled::invalidate(1));
    assert!(!controlled::invalidate(1), "nothing left to drop");
    controlled(1); // recomputed
    controlled(2); // still cached
    assert_eq!(CONTROLS_LOG.take(), [1, 2, 1]);

    controlled::clear();
    assert_eq!(controlled::stats().entries, 0);
    controlled(1);
    controlled(2);
    assert_eq!(CONTROLS_LOG.take(), [1, 2]);
}

static ALL_LOG: Log = Log::new();

#[cached]
fn everywhere_a(x: u64) -> u64 {
    ALL_LOG.push(x);
    x
}

#[cached]
async fn everywhere_b(x: u64) -> u64 {
    ALL_LOG.push(x + 100);
    x
}

#[test]
fn clear_all_caches_empties_every_cache() {
    let _exclusive = exclusive();
    everywhere_a(1);
    futures::executor::block_on(everywhere_b(1));
    everywhere_a(1);
    futures::executor::block_on(everywhere_b(1));
    assert_eq!(ALL_LOG.take(), [1, 101]);
    clear_all_caches();
    assert_eq!(everywhere_a::stats().entries, 0);
    assert_eq!(everywhere_b::stats().entries, 0);
    everywhere_a(1);
    futures::executor::block_on(everywhere_b(1));
    assert_eq!(ALL_LOG.take(), [1, 101]);
}

// --- the eager async entry point (for `#[executor]` under `#[cached]`) ----

static EAGER_SLOT: pagestate::__private_0_1_0::CacheSlot =
    pagestate::__private_0_1_0::CacheSlot::new(pagestate::__private_0_1_0::CacheConfig {
        name: "eager",
        module_path: module_path!(),
        fingerprint: 0,
        ttl: pagestate::__private_0_1_0::Setting::Unset,
        max_entries: pagestate::__private_0_1_0::Setting::Unset,
        session_scoped: false,
        persist: false,
        redis: false,
    });

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eager_entry_point_leads_at_call_time() {
    let _shared = shared();
    let made = Arc::new(AtomicUsize::new(0));
    let call = |x: u64| {
        let made = made.clone();
        EAGER_SLOT.typed::<u64, u64>().call_eager(x, move || {
            made.fetch_add(1, Ordering::SeqCst);
            async move { pagestate::__private_0_1_0::Always(x * 3) }
        })
    };
    let first = call(2);
    assert_eq!(
        made.load(Ordering::SeqCst),
        1,
        "the leader made its future at call time"
    );
    let second = call(2);
    assert_eq!(made.load(Ordering::SeqCst), 1, "a waiter does not make one");
    // Send + 'static: both can be spawned.
    let (a, b) = (tokio::spawn(first), tokio::spawn(second));
    assert_eq!((a.await.unwrap().0, b.await.unwrap().0), (6, 6));
    assert_eq!(call(2).await.0, 6);
    assert_eq!(made.load(Ordering::SeqCst), 1);

    // A `Result` outcome: only `Ok` is stored.
    let failing = EAGER_SLOT
        .typed::<u64, u64>()
        .call_eager(9, || async { Err::<u64, &str>("no") });
    assert_eq!(failing.await, Err("no"));
    let ok = EAGER_SLOT
        .typed::<u64, u64>()
        .call_eager(9, || async { Ok::<u64, &str>(1) });
    assert_eq!(ok.await, Ok(1));
    assert_eq!(EAGER_SLOT.stats().entries, 2);

    // The same entry point behind the macro's dispatch, as a stacked
    // wrapper reaches it.
    use pagestate::__private_0_1_0::{Always, Call, CallCached as _};
    let key = 2_u64;
    let call = Call::new(&EAGER_SLOT, &key, std::marker::PhantomData::<Always<u64>>);
    let cached = call.__pagestate_call_eager(key, || async { Always(0) });
    assert_eq!(
        tokio::spawn(cached).await.unwrap().0,
        6,
        "the entry made above"
    );
}

// --- persist = "disk": each scenario runs in a child process ---------------

mod persisted {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached(persist = "disk")]
    pub fn square(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * x
    }

    /// Same key and value types as `square`, so its files have the same
    /// names; only the identity in them tells them apart.
    #[cached(persist = "disk")]
    pub fn cube(x: u64) -> u64 {
        RUNS.fetch_add(1, Ordering::SeqCst);
        x * x * x
    }

    /// A value type of the user's: deriving is all serde needs from them.
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    pub struct Labels {
        pub values: Vec<String>,
    }

    pub static SLOW_ENTERED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    pub static SLOW_RELEASED: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    /// Computes until released, so that the cache can be cleared meanwhile.
    #[cached(persist = "disk")]
    pub fn slow_square(x: u64) -> u64 {
        SLOW_ENTERED.store(true, Ordering::SeqCst);
        while !SLOW_RELEASED.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        x * x
    }

    #[cached(persist = "disk", ttl = 3)]
    pub fn short_lived(x: u64) -> Labels {
        RUNS.fetch_add(1, Ordering::SeqCst);
        Labels {
            values: vec![x.to_string(); 2],
        }
    }
}

const CHILD_ENV: &str = "PAGESTATE_TEST_CHILD";

/// Where `plant_then_square` plants its symlinks, and what they point to.
const PLANT_DIR_ENV: &str = "PAGESTATE_TEST_PLANT_DIR";
const PLANT_STEM_ENV: &str = "PAGESTATE_TEST_PLANT_STEM";
const PLANT_TARGET_ENV: &str = "PAGESTATE_TEST_PLANT_TARGET";

/// One function as two versions of a program define it: the same module
/// path and name, an edited body.
mod edited {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    pub fn version_1() -> u64 {
        #[cached(persist = "disk")]
        fn price(x: u64) -> u64 {
            RUNS.fetch_add(1, Ordering::SeqCst);
            x + 1
        }
        price(7)
    }

    pub fn version_2() -> u64 {
        #[cached(persist = "disk")]
        fn price(x: u64) -> u64 {
            RUNS.fetch_add(1, Ordering::SeqCst);
            x + 2
        }
        price(7)
    }
}

/// Runs one persistence scenario when started by [`run_child`]. Run on its
/// own, without the scenario variable, it fails: it proves nothing alone.
#[test]
#[ignore = "runs only as the child process of the persistence tests"]
fn persistence_child() {
    let scenario = std::env::var(CHILD_ENV).unwrap_or_else(|_| {
        panic!("persistence_child is started by the persistence tests, with {CHILD_ENV} set")
    });
    let report = match scenario.as_str() {
        "square" => format!("value={} runs={}", persisted::square(7), runs()),
        "cube" => format!("value={} runs={}", persisted::cube(7), runs()),
        "short_lived" => format!("value={:?} runs={}", persisted::short_lived(3), runs()),
        "clear" => {
            persisted::square(7);
            persisted::square::clear();
            format!("runs={}", runs())
        }
        "invalidate" => format!("removed={}", persisted::square::invalidate(7)),
        "call_then_invalidate" => {
            persisted::square(7);
            format!("removed={}", persisted::square::invalidate(7))
        }
        "clear_while_computing" => {
            let computing = thread::spawn(|| persisted::slow_square(7));
            while !persisted::SLOW_ENTERED.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            persisted::slow_square::clear();
            persisted::SLOW_RELEASED.store(true, Ordering::SeqCst);
            format!("value={}", computing.join().unwrap())
        }
        "clear_all" => {
            clear_all_caches();
            "cleared".to_owned()
        }
        "clear_only" => {
            persisted::square::clear();
            "cleared".to_owned()
        }
        "version_1" => format!("value={} runs={}", edited::version_1(), edited_runs()),
        "version_2" => format!("value={} runs={}", edited::version_2(), edited_runs()),
        #[cfg(unix)]
        "plant_then_square" => {
            // Symlinks at the temp-file names this process would have used
            // with a pid-and-counter naming scheme.
            let var = |name: &str| std::env::var(name).expect("set by the parent test");
            let (dir, stem) = (PathBuf::from(var(PLANT_DIR_ENV)), var(PLANT_STEM_ENV));
            let target = var(PLANT_TARGET_ENV);
            for n in 0..4 {
                let name = format!(".{stem}.{}.{n}.tmp", std::process::id());
                std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
            }
            format!("value={} runs={}", persisted::square(7), runs())
        }
        other => panic!("unknown scenario {other}"),
    };
    println!("CHILD-REPORT {report}");
}

fn runs() -> usize {
    persisted::RUNS.load(Ordering::SeqCst)
}

fn edited_runs() -> usize {
    edited::RUNS.load(Ordering::SeqCst)
}

/// This test binary started again as a fresh process, for one scenario.
fn child_command(scenario: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "persistence_child",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, scenario);
    command
}

/// Runs one scenario in a fresh process with `dir` as the cache directory;
/// returns its report line.
fn run_child(dir: &Path, scenario: &str) -> String {
    let mut command = child_command(scenario);
    command.env("PAGESTATE_CACHE_DIR", dir);
    child_report(command, scenario)
}

/// Runs `command` (a [`child_command`]) and returns its report line.
fn child_report(mut command: Command, scenario: &str) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| Some(&line[line.find("CHILD-REPORT ")? + 13..]))
        .unwrap_or_else(|| panic!("child {scenario} reported nothing:\n{stdout}"))
        .to_owned()
}

/// A fresh, empty directory under the system's temp dir.
fn temp_cache_dir(test: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "pagestate-cache-test-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Entry files under the cache dir, by function directory.
fn entry_files(dir: &Path) -> HashMap<String, Vec<PathBuf>> {
    let mut files = HashMap::new();
    for function in std::fs::read_dir(dir).unwrap().flatten() {
        let entries: Vec<PathBuf> = std::fs::read_dir(function.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.insert(function.file_name().to_string_lossy().into_owned(), entries);
    }
    files
}

#[test]
fn persisted_entries_survive_a_process_restart() {
    let dir = temp_cache_dir("restart");
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    assert_eq!(
        run_child(&dir.0, "square"),
        "value=49 runs=0",
        "served from disk"
    );
    let files = entry_files(&dir.0);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files.values().next().unwrap().len(), 1, "{files:?}");
}

#[test]
fn a_corrupted_entry_file_is_recomputed() {
    let dir = temp_cache_dir("corrupt");
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    let file = entry_files(&dir.0).into_values().next().unwrap().remove(0);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    // The payload is postcard's one-byte varint 49; 5 still decodes, as a
    // wrong value: only the checksum can tell.
    assert_eq!(bytes[last], 49);
    bytes[last] = 5;
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1", "recomputed");
    assert_eq!(
        run_child(&dir.0, "square"),
        "value=49 runs=0",
        "and stored again"
    );

    // A truncated file and a file of garbage are misses too, never panics.
    std::fs::write(&file, &bytes[..10]).unwrap();
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    std::fs::write(&file, b"not a cache entry at all").unwrap();
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
}

#[test]
fn an_entry_of_another_function_identity_is_ignored() {
    // Editing a function changes its identity (see the macro's fingerprint
    // tests); here the old entry is put where the new function looks, under
    // the name its key has, and must still not be read.
    let dir = temp_cache_dir("foreign");
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    let square_dir = entry_files(&dir.0).into_keys().next().unwrap();
    assert_eq!(run_child(&dir.0, "cube"), "value=343 runs=1");
    let files = entry_files(&dir.0);
    assert_eq!(files.len(), 2, "one directory per function: {files:?}");
    let (cube_dir, cube_files) = files.iter().find(|(d, _)| **d != square_dir).unwrap();
    let square_file = &files[&square_dir][0];
    assert_eq!(
        square_file.file_name(),
        cube_files[0].file_name(),
        "equal keys have equal file names"
    );
    std::fs::copy(
        square_file,
        dir.0.join(cube_dir).join(square_file.file_name().unwrap()),
    )
    .unwrap();
    assert_eq!(
        run_child(&dir.0, "cube"),
        "value=343 runs=1",
        "square's entry was not read"
    );
    assert_eq!(run_child(&dir.0, "cube"), "value=343 runs=0");
}

#[test]
fn ttl_is_honoured_on_disk() {
    let value = r#"value=Labels { values: ["3", "3"] }"#;
    // Two child processes must run within the ttl of 3 s; on a machine so
    // loaded that they did not, the attempt proves nothing and is repeated.
    let dir = (0..10)
        .find_map(|attempt| {
            let dir = temp_cache_dir(&format!("ttl-{attempt}"));
            let started = Instant::now();
            assert_eq!(run_child(&dir.0, "short_lived"), format!("{value} runs=1"));
            let second = run_child(&dir.0, "short_lived");
            if started.elapsed() >= Duration::from_secs(3) {
                return None;
            }
            // Within the ttl: served from disk.
            assert_eq!(second, format!("{value} runs=0"));
            Some(dir)
        })
        .expect("no attempt ran two child processes within the ttl");
    thread::sleep(Duration::from_secs(5));
    assert_eq!(
        run_child(&dir.0, "short_lived"),
        format!("{value} runs=1"),
        "expired on disk"
    );
}

#[test]
fn a_computation_running_while_its_cache_is_cleared_writes_no_file() {
    let dir = temp_cache_dir("clear-while-computing");
    // The caller still gets its value...
    assert_eq!(run_child(&dir.0, "clear_while_computing"), "value=49");
    // ...but it is not stored, on disk either: a restart recomputes.
    let files = entry_files(&dir.0);
    assert!(files.values().all(Vec::is_empty), "{files:?}");
}

#[test]
fn clear_and_invalidate_delete_persisted_files() {
    let dir = temp_cache_dir("clear");
    assert_eq!(run_child(&dir.0, "clear"), "runs=1");
    assert!(entry_files(&dir.0).values().all(Vec::is_empty));

    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    // A fresh process that never called `square` still finds its file.
    assert_eq!(run_child(&dir.0, "invalidate"), "removed=true");
    assert_eq!(run_child(&dir.0, "invalidate"), "removed=false");
    // And one that did: memory and disk both lose the entry.
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
    assert_eq!(run_child(&dir.0, "call_then_invalidate"), "removed=true");
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");

    assert_eq!(run_child(&dir.0, "cube"), "value=343 runs=1");
    assert_eq!(run_child(&dir.0, "clear_all"), "cleared");
    assert!(entry_files(&dir.0).values().all(Vec::is_empty));
    assert_eq!(run_child(&dir.0, "square"), "value=49 runs=1");
}

// --- function shapes the macro must keep working --------------------------

mod shapes {
    use super::*;

    pub static RUNS: AtomicUsize = AtomicUsize::new(0);

    /// Doc comments and attributes stay on the function.
    #[cached]
    #[inline]
    pub(crate) fn with_lifetime<'a>(text: &'a str, mut extra: u64) -> usize {
        RUNS.fetch_add(1, Ordering::SeqCst);
        extra += 1;
        text.len() + extra as usize
    }

    #[cached]
    pub fn no_arguments() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    #[cached]
    pub fn early_return(r#type: u8, _: &str) -> Result<u8, std::num::ParseIntError> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        if r#type == 0 {
            return Ok(0);
        }
        let parsed: u8 = "7".parse()?;
        Ok(parsed + r#type)
    }

    #[cached(ttl = "10m", max_entries = 8)]
    pub async fn async_with_refs(name: &str, bytes: &[u8]) -> Result<String, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        YieldTimes(1).await;
        let n: u64 = name.parse().map_err(|_| "bad".to_owned())?;
        Ok(format!("{n}:{}", bytes.len()))
    }
}

#[test]
fn function_shapes_expand_and_behave() {
    let _shared = shared();
    let runs = || shapes::RUNS.load(Ordering::SeqCst);
    assert_eq!(shapes::with_lifetime("abc", 1), 5);
    assert_eq!(shapes::with_lifetime("abc", 1), 5);
    shapes::no_arguments();
    shapes::no_arguments();
    assert_eq!(runs(), 2);
    assert_eq!(shapes::early_return(0, "ignored"), Ok(0));
    assert_eq!(shapes::early_return(1, "ignored"), Ok(8));
    assert_eq!(shapes::early_return(1, "other"), Ok(8));
    assert_eq!(runs(), 4);
    let block_on = futures::executor::block_on;
    assert_eq!(
        block_on(shapes::async_with_refs("12", b"xy")),
        Ok("12:2".to_owned())
    );
    assert_eq!(
        block_on(shapes::async_with_refs("12", b"xy")),
        Ok("12:2".to_owned())
    );
    assert!(block_on(shapes::async_with_refs("x", b"")).is_err());
    assert!(block_on(shapes::async_with_refs("x", b"")).is_err());
    assert_eq!(runs(), 7);
    assert!(shapes::with_lifetime::invalidate("abc", 1));
    assert!(shapes::async_with_refs::invalidate("12", b"xy"));
    assert!(shapes::no_arguments::invalidate());

    // A cached function local to a test body, with its cache controls.
    #[cached]
    fn local(x: u64) -> u64 {
        x + 1
    }
    assert_eq!(local(1), 2);
    assert_eq!(local(1), 2);
    assert_eq!(local::stats().hits, 1);
}

// --- stress ---------------------------------------------------------------

static STRESS_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(max_entries = 4)]
fn stressed(x: u64) -> Result<u64, String> {
    let run = STRESS_RUNS.fetch_add(1, Ordering::SeqCst);
    match run % 7 {
        3 => panic!("run {run} panics"),
        5 => Err(format!("run {run} fails")),
        _ => Ok(x * 2),
    }
}

#[test]
fn stress_many_threads_few_keys_with_panics_errors_and_clears() {
    let _shared = shared();
    thread::scope(|s| {
        for t in 0..8_u64 {
            s.spawn(move || {
                for i in 0..300_u64 {
                    let key = (t + i) % 6;
                    match catch_unwind(|| stressed(key)) {
                        Ok(Ok(value)) => assert_eq!(value, key * 2),
                        Ok(Err(message)) => assert!(message.contains("fails")),
                        Err(_) => {} // this call's own body panicked
                    }
                    match i % 50 {
                        10 => drop(stressed::invalidate(key)),
                        20 if t == 0 => stressed::clear(),
                        _ => {}
                    }
                    assert!(stressed::stats().entries <= 4);
                }
            });
        }
    });
    // Nothing is stuck or poisoned afterwards.
    stressed::clear();
    let before = STRESS_RUNS.load(Ordering::SeqCst);
    let value = (0..10).find_map(|_| catch_unwind(|| stressed(1)).ok().and_then(Result::ok));
    assert_eq!(value, Some(2));
    let ran = STRESS_RUNS.load(Ordering::SeqCst) - before;
    assert_eq!(stressed(1), Ok(2));
    assert_eq!(
        STRESS_RUNS.load(Ordering::SeqCst) - before,
        ran,
        "the value was cached"
    );
}

// --- async and eager calls in a session -----------------------------------

static ASYNC_SESSION_LOG: Log = Log::new();

#[cached(scope = "session")]
async fn async_session_value(x: u64) -> u64 {
    ASYNC_SESSION_LOG.push(ScriptRunContext::current().unwrap().session().id().as_u64());
    x
}

#[test]
fn async_session_scope_uses_the_session_polling_the_call() {
    let _shared = shared();
    let (alice, bob) = (Session::new(), Session::new());
    let run =
        |session: &Session| session.run(|| futures::executor::block_on(async_session_value(1)));
    assert_eq!(run(&alice), 1);
    assert_eq!(run(&alice), 1);
    assert_eq!(run(&bob), 1);
    assert_eq!(
        ASYNC_SESSION_LOG.take(),
        [alice.id().as_u64(), bob.id().as_u64()]
    );
}

static EAGER_SESSION_SLOT: pagestate::__private_0_1_0::CacheSlot =
    pagestate::__private_0_1_0::CacheSlot::new(pagestate::__private_0_1_0::CacheConfig {
        name: "eager_session",
        module_path: module_path!(),
        fingerprint: 0,
        ttl: pagestate::__private_0_1_0::Setting::Unset,
        max_entries: pagestate::__private_0_1_0::Setting::Unset,
        session_scoped: true,
        persist: false,
        redis: false,
    });

#[test]
fn the_eager_entry_point_takes_the_session_at_call_time() {
    let _shared = shared();
    let (alice, bob) = (Session::new(), Session::new());
    let cache = EAGER_SESSION_SLOT.typed::<u64, u64>();
    // Calls made inside each session's run, polled outside any.
    let for_alice =
        alice.run(|| cache.call_eager(1, || async { pagestate::__private_0_1_0::Always(10) }));
    let for_bob =
        bob.run(|| cache.call_eager(1, || async { pagestate::__private_0_1_0::Always(20) }));
    assert_eq!(
        (
            futures::executor::block_on(for_alice).0,
            futures::executor::block_on(for_bob).0
        ),
        (10, 20)
    );
    let again =
        alice.run(|| cache.call_eager(1, || async { pagestate::__private_0_1_0::Always(99) }));
    assert_eq!(futures::executor::block_on(again).0, 10, "alice's entry");
    drop(alice);
    assert_eq!(EAGER_SESSION_SLOT.stats().entries, 1);
}

// --- the disk tier against planted links, and its permissions --------------

/// The function directory and the entry file `square(7)` writes under `dir`.
fn square_entry(dir: &Path) -> (PathBuf, PathBuf) {
    let files = entry_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let (function, entries) = files.into_iter().next().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    (dir.join(function), entries[0].clone())
}

#[test]
fn with_no_directory_set_entries_go_to_dot_pagestate_cache_under_the_working_directory() {
    let cwd = temp_cache_dir("default-dir");
    let mut command = child_command("square");
    command
        .env_remove("PAGESTATE_CACHE_DIR")
        .current_dir(&cwd.0);
    assert_eq!(child_report(command, "square"), "value=49 runs=1");
    let (_, entry) = square_entry(&cwd.0.join(".pagestate").join("cache"));
    assert_eq!(entry.extension().unwrap(), "entry");
    let mut command = child_command("square");
    command
        .env_remove("PAGESTATE_CACHE_DIR")
        .current_dir(&cwd.0);
    assert_eq!(
        child_report(command, "square"),
        "value=49 runs=0",
        "the next process finds the entry there"
    );
}

#[test]
fn editing_a_function_invalidates_its_persisted_entries_across_a_restart() {
    let dir = temp_cache_dir("edited");
    assert_eq!(run_child(&dir.0, "version_1"), "value=8 runs=1");
    assert_eq!(
        run_child(&dir.0, "version_1"),
        "value=8 runs=0",
        "from disk"
    );
    // The edited body is a new function: the old value is not served.
    assert_eq!(run_child(&dir.0, "version_2"), "value=9 runs=1");
    assert_eq!(
        run_child(&dir.0, "version_2"),
        "value=9 runs=0",
        "from disk"
    );
    assert_eq!(entry_files(&dir.0).len(), 2, "one directory per version");
}

#[cfg(unix)]
#[test]
fn clearing_never_follows_a_symlink_out_of_the_cache_directory() {
    let root = temp_cache_dir("clear-symlinks");
    let (cache, victim) = (root.0.join("cache"), root.0.join("victim"));
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    for name in ["precious.entry", "precious.tmp"] {
        std::fs::write(victim.join(name), b"not the cache's").unwrap();
    }
    // The name square's function directory has, learnt in another directory.
    let elsewhere = root.0.join("elsewhere");
    assert_eq!(run_child(&elsewhere, "square"), "value=49 runs=1");
    let (function, _) = square_entry(&elsewhere);
    let function_name = function.file_name().unwrap();
    // A link named like some function's directory, and one named like
    // square's own.
    std::os::unix::fs::symlink(&victim, cache.join("0123456789abcdef0123456789abcdef")).unwrap();
    std::os::unix::fs::symlink(&victim, cache.join(function_name)).unwrap();

    assert_eq!(run_child(&cache, "clear_all"), "cleared");
    assert_eq!(run_child(&cache, "clear_only"), "cleared");
    for name in ["precious.entry", "precious.tmp"] {
        assert_eq!(
            std::fs::read(victim.join(name)).ok().as_deref(),
            Some(&b"not the cache's"[..]),
            "{name} outside the cache directory was deleted"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_cache_write_never_follows_a_symlink_planted_in_its_directory() {
    let root = temp_cache_dir("write-symlinks");
    let cache = root.0.join("cache");
    assert_eq!(run_child(&cache, "square"), "value=49 runs=1");
    let (function, entry) = square_entry(&cache);
    std::fs::remove_file(&entry).unwrap();
    let target = root.0.join("victim.txt");
    std::fs::write(&target, b"precious").unwrap();

    let mut command = child_command("plant_then_square");
    command
        .env("PAGESTATE_CACHE_DIR", &cache)
        .env(PLANT_DIR_ENV, &function)
        .env(PLANT_STEM_ENV, entry.file_stem().unwrap())
        .env(PLANT_TARGET_ENV, &target);
    assert_eq!(
        child_report(command, "plant_then_square"),
        "value=49 runs=1"
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"precious",
        "the write went through a planted symlink"
    );
    let written = std::fs::symlink_metadata(&entry).unwrap();
    assert!(written.file_type().is_file(), "{written:?}");
    assert_eq!(run_child(&cache, "square"), "value=49 runs=0", "from disk");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn cache_directories_and_files_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let root = temp_cache_dir("private");
    // Directories pagestate creates: 0700, entry files 0600.
    let made = root.0.join("made").join("cache");
    assert_eq!(run_child(&made, "square"), "value=49 runs=1");
    let (function, entry) = square_entry(&made);
    for dir in [root.0.join("made"), made.clone(), function] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode(&entry), 0o600);

    // A directory that exists already is used as it is.
    let shared_dir = root.0.join("shared");
    std::fs::create_dir(&shared_dir).unwrap();
    std::fs::set_permissions(&shared_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run_child(&shared_dir, "square"), "value=49 runs=1");
    assert_eq!(run_child(&shared_dir, "square"), "value=49 runs=0");
    assert_eq!(mode(&shared_dir), 0o755);
    let (function, entry) = square_entry(&shared_dir);
    assert_eq!((mode(&function), mode(&entry)), (0o700, 0o600));
}

// --- a clear wins over a computation running when it happens ---------------

/// What the next computation of a function sees, and the channels that hold
/// one computation mid-way.
struct Probe {
    generation: AtomicUsize,
    hold: Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

impl Probe {
    const fn new() -> Self {
        Probe {
            generation: AtomicUsize::new(0),
            hold: Mutex::new(None),
        }
    }

    /// The body: reads the generation, then, if asked to, says it started
    /// and waits to be released.
    fn compute(&self) -> usize {
        let generation = self.generation.load(Ordering::SeqCst);
        let hold = self
            .hold
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((started, release)) = hold {
            started.send(()).unwrap();
            let _ = release.recv_timeout(Duration::from_secs(120));
        }
        generation
    }

    /// Holds the first call of `call` mid-computation, runs `reset`, then
    /// checks that a call made after `reset` returned computes afresh.
    fn check(&'static self, call: fn(u64) -> usize, reset: impl FnOnce()) {
        let (started, started_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        *self.hold.lock().unwrap() = Some((started, release_rx));
        self.generation.store(1, Ordering::SeqCst);
        let before = thread::spawn(move || call(1));
        started_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the first call started computing");
        self.generation.store(2, Ordering::SeqCst);
        reset();
        let (done, after) = std::sync::mpsc::channel();
        thread::spawn(move || done.send(call(1)));
        let after = after.recv_timeout(Duration::from_secs(30));
        let _ = release.send(());
        assert_eq!(
            after,
            Ok(2),
            "a call made after the reset waited for the computation from before it"
        );
        assert_eq!(
            before.join().unwrap(),
            1,
            "the leader returns its own value"
        );
        assert_eq!(call(1), 2, "the value from before was not stored");
    }
}

static CLEARED_PROBE: Probe = Probe::new();

#[cached]
fn cleared_while_computing(key: u64) -> usize {
    let _ = key;
    CLEARED_PROBE.compute()
}

#[test]
fn after_clear_returns_no_call_receives_a_value_computed_before_it() {
    let _shared = shared();
    CLEARED_PROBE.check(cleared_while_computing, cleared_while_computing::clear);
}

static WAITER_PROBE: Probe = Probe::new();

#[cached]
fn waited_on_while_cleared(key: u64) -> usize {
    let _ = key;
    WAITER_PROBE.compute()
}

#[test]
fn a_waiter_of_a_computation_that_a_clear_cancelled_computes_afresh() {
    let _shared = shared();
    let probe = &WAITER_PROBE;
    let (started, started_rx) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    *probe.hold.lock().unwrap() = Some((started, release_rx));
    probe.generation.store(1, Ordering::SeqCst);
    let leader = thread::spawn(|| waited_on_while_cleared(1));
    started_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the leader started computing");
    // A caller that comes while the leader computes, and waits for it.
    let waiter = thread::spawn(|| waited_on_while_cleared(1));
    until("the waiter waits for the leader", || {
        waited_on_while_cleared::stats().waiting == 1
    });
    probe.generation.store(2, Ordering::SeqCst);
    waited_on_while_cleared::clear();
    release.send(()).unwrap();
    assert_eq!(
        leader.join().unwrap(),
        1,
        "the leader returns its own value"
    );
    assert_eq!(
        waiter.join().unwrap(),
        2,
        "the waiter got a value from before the clear"
    );
    assert_eq!(waited_on_while_cleared(1), 2);
}

static ASYNC_CLEARED_PROBE: Probe = Probe::new();

#[cached]
async fn async_cleared_while_computing(key: u64) -> usize {
    let _ = key;
    ASYNC_CLEARED_PROBE.compute()
}

#[test]
fn after_clear_returns_no_async_call_receives_a_value_computed_before_it() {
    let _shared = shared();
    ASYNC_CLEARED_PROBE.check(
        |key| futures::executor::block_on(async_cleared_while_computing(key)),
        async_cleared_while_computing::clear,
    );
}

static INVALIDATED_PROBE: Probe = Probe::new();

#[cached]
fn invalidated_while_computing(key: u64) -> usize {
    let _ = key;
    INVALIDATED_PROBE.compute()
}

#[test]
fn after_invalidate_returns_no_call_receives_a_value_computed_before_it() {
    let _shared = shared();
    INVALIDATED_PROBE.check(invalidated_while_computing, || {
        invalidated_while_computing::invalidate(1);
    });
}

// --- ending a session costs its own entries --------------------------------

#[cached(scope = "session")]
fn one_entry_per_session(x: u64) -> u64 {
    x + 1
}

#[test]
fn ending_a_session_costs_its_own_entries_not_every_sessions() {
    // Alone: the count of examined entries is the process's, and other
    // tests end sessions too.
    let _exclusive = exclusive();
    let examined = pagestate::__private_0_1_0::session_purge_examined;
    const SESSIONS: usize = 10_000;
    let mut sessions: Vec<Session> = (0..SESSIONS).map(|_| Session::new()).collect();
    for (n, session) in sessions.iter().enumerate() {
        assert_eq!(
            session.run(|| one_entry_per_session(n as u64)),
            n as u64 + 1
        );
    }
    assert_eq!(one_entry_per_session::stats().entries, SESSIONS);

    let before = examined();
    drop(sessions.pop());
    // A purge that scans every session's entries examines 10,000 here.
    assert_eq!(
        examined() - before,
        1,
        "ending one session of {SESSIONS} examined more than its own entry"
    );
    assert_eq!(one_entry_per_session::stats().entries, SESSIONS - 1);

    let before = examined();
    drop(sessions);
    assert_eq!(
        examined() - before,
        SESSIONS as u64 - 1,
        "each session end examines its own entry only"
    );
    assert_eq!(one_entry_per_session::stats().entries, 0);
}
