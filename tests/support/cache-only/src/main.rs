//! An application that only caches, built with `default-features = false`:
//! `#[cached]` works in full (sync and async, ttl, size bound, disk
//! persistence, the controls) without pagestate's runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use pagestate::cached;

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, max_entries = 2)]
fn square(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[cached(persist = "disk")]
fn cube(x: u64) -> Result<u64, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x.checked_pow(3)
        .ok_or_else(|| format!("{x} cubed overflows"))
}

#[cached]
async fn double(x: u64) -> u64 {
    RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

/// Polls a future that never waits (a miss computes at once).
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("a cached call waited with nothing running"),
    }
}

fn runs() -> usize {
    RUNS.load(Ordering::SeqCst)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("pagestate-cache-only-{}", std::process::id()));
    std::env::set_var("PAGESTATE_CACHE_DIR", &dir);

    assert_eq!((square(3), square(3)), (9, 9));
    assert_eq!(runs(), 1);
    square(4);
    square(5); // evicts 3: at most two entries
    assert_eq!(square::stats().entries, 2);
    assert_eq!(square(3), 9);
    assert_eq!(runs(), 4);
    assert!(square::invalidate(3));

    assert_eq!(cube(2), Ok(8));
    assert_eq!(cube(2), Ok(8));
    assert!(cube(u64::MAX).is_err());
    assert!(cube(u64::MAX).is_err()); // an `Err` is not cached
    assert_eq!(runs(), 7);
    cube::clear();
    assert_eq!(cube::stats().entries, 0);

    assert_eq!(ready(double(21)), 42);
    assert_eq!(ready(double(21)), 42);
    assert_eq!(runs(), 8);

    pagestate::clear_all_caches();
    assert_eq!(square::stats().entries, 0);
    std::fs::remove_dir_all(&dir).ok();
    println!("cache-only: ok");
}
