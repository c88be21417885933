//! A tour of pagestate: a small "page" rerun several times in two sessions,
//! the way Streamlit reruns a script on every interaction.
//!
//! Run it with `cargo run --example tour`.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::{cached, executor, use_state, Session};

/// One run of the page, top to bottom. `clicked` stands for the widget
/// event that caused this rerun.
fn counter_page(user: &str, clicked: bool) {
    // Session-wide state: initialised on the first run, kept afterwards.
    let clicks = use_state!("clicks", factory = || 0_u32);
    // Page-scoped state: the namespace keeps it apart from other pages' "history".
    let history = use_state!(
        "history",
        namespace = "counter-page",
        factory = Vec::<u32>::new
    );

    if clicked {
        let now = clicks.reduce(|n, by| n + by, 1).unwrap();
        history.update(|h| h.push(now)).unwrap();
    }
    println!(
        "  [{user}] clicks = {}, history = {:?}",
        clicks.get().unwrap(),
        history.get().unwrap()
    );
}

/// A slow computation, memoized by its argument for ten minutes.
#[cached(ttl = "10m")]
fn expensive_report(rows: u64) -> Vec<u64> {
    println!("  (computing the report for {rows} rows)");
    (0..rows).map(|r| r * r).collect()
}

/// A page that shows a report: only the first run computes it.
fn report_page(user: &str) {
    let report = expensive_report(1_000);
    println!("  [{user}] report has {} rows", report.len());
}

/// Stands for a slow, blocking HTTP call: it runs on the thread pool.
#[executor(thread)]
fn fetch_price(item: String) -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    item.len() as u32 * 100
}

/// CPU-bound work runs in a worker process (this executable, started again),
/// and its results are cached here, in the calling process.
#[cached(ttl = 5, max_entries = 3)]
#[executor(process)]
fn cpu_intensive_computation(n: u64) -> (u64, u32) {
    ((0..n).map(|i| i * i).sum(), std::process::id())
}

fn main() {
    println!("== state that survives reruns, per session");
    let alice = Session::new();
    let bob = Session::new();
    for clicked in [false, true, true] {
        alice.run(|| counter_page("alice", clicked));
    }
    bob.run(|| counter_page("bob", true));
    alice.run(|| counter_page("alice", true));

    // The host (a web handler, a UI loop) can read a session's state without
    // running its page.
    let alice_clicks = alice.state::<u32>(None, "clicks").get().unwrap();
    let bob_clicks = bob.state::<u32>(None, "clicks").get().unwrap();
    println!("  host view: alice clicked {alice_clicks} times, bob {bob_clicks}");
    assert_eq!((alice_clicks, bob_clicks), (3, 1));

    // Closing a session frees its state; the handle starts over empty.
    alice.close();
    alice.run(|| counter_page("alice after close", false));

    println!("\n== caching across reruns and sessions");
    alice.run(|| report_page("alice"));
    alice.run(|| report_page("alice"));
    bob.run(|| report_page("bob"));
    let stats = expensive_report::stats();
    println!(
        "  cache: {} miss, {} hits, {} entry",
        stats.misses, stats.hits, stats.entries
    );
    assert_eq!((stats.misses, stats.hits), (1, 2));

    println!("\n== four 200 ms fetches on the thread pool, at once");
    let started = Instant::now();
    // Each call submits its job right away; the futures are awaited together.
    let fetches = ["tea", "coffee", "cocoa", "mate"].map(|item| fetch_price(item.to_owned()));
    let prices: Vec<u32> = block_on(join_all(fetches))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    println!(
        "  prices {prices:?} in {:?} (not 800 ms)",
        started.elapsed()
    );

    println!("\n== a process job, cached in this process");
    let (sum, worker) = block_on(cpu_intensive_computation(1000)).unwrap();
    println!(
        "  sum = {sum}, computed by process {worker}; this is process {}",
        std::process::id()
    );
    assert_eq!(sum, 332833500);
    assert_ne!(worker, std::process::id());
    block_on(cpu_intensive_computation(1000)).unwrap();
    let stats = cpu_intensive_computation::stats();
    println!(
        "  called twice: {} job, {} cache hit",
        stats.misses, stats.hits
    );
}
