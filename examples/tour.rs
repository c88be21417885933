//! A tour of pagestate: a small "page" rerun several times in two sessions,
//! the way Streamlit reruns a script on every interaction.
//!
//! Run it with `cargo run --example tour`.

use pagestate::{cached, use_state, Session};

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
}
