//! Figure 10: ending sessions that each hold one session-scoped cache
//! entry, against the store a Rust user would write by hand for the same
//! job: a `Mutex<HashMap<session, HashMap<u64, u64>>>`, where ending a
//! session removes its inner map.
//!
//! A batch builds 10,000 sessions with one entry each (not timed) and then
//! times dropping them all, one by one, as users leave. Each pagestate drop
//! runs the session-end hooks, which free that session's entries only; a
//! store that scanned every session's entries at each end would make this
//! quadratic (4.4 s for 10,000 sessions in a debug build before the entries
//! were indexed by session).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pagestate::Session;
use pagestate_benches::figure::Figure;
use pagestate_benches::measure::{Contender, Plan};
use pagestate_benches::report::{Report, Shown};

/// Sessions per batch.
const SESSIONS: u64 = 10_000;

#[pagestate::cached(scope = "session")]
fn per_session(n: u64) -> u64 {
    n.wrapping_mul(3)
}

/// Times dropping `SESSIONS` sessions that hold one entry each.
fn drop_pagestate_sessions() -> Duration {
    let sessions: Vec<Session> = (0..SESSIONS).map(|_| Session::new()).collect();
    for (n, session) in (0..SESSIONS).zip(&sessions) {
        black_box(session.run(|| per_session(black_box(n))));
    }
    assert_eq!(per_session::stats().entries, SESSIONS as usize);
    let start = Instant::now();
    for session in sessions {
        drop(black_box(session));
    }
    let elapsed = start.elapsed();
    assert_eq!(per_session::stats().entries, 0, "every entry was freed");
    elapsed
}

type ByHand = Mutex<HashMap<u64, HashMap<u64, u64>>>;

/// Times removing `SESSIONS` sessions, one entry each, from the hand-written
/// store, one lock per session end.
fn drop_hand_written_sessions() -> Duration {
    let store: ByHand = Mutex::new(HashMap::new());
    for session in 0..SESSIONS {
        let mut store = store.lock().unwrap();
        let entries = store.entry(session).or_default();
        entries.insert(session, session.wrapping_mul(3));
    }
    let start = Instant::now();
    for session in 0..SESSIONS {
        drop(black_box(store.lock().unwrap().remove(&black_box(session))));
    }
    let elapsed = start.elapsed();
    assert!(store.lock().unwrap().is_empty());
    elapsed
}

/// Figure 10: one batch is one drop of 10,000 sessions.
pub fn drop_sessions(plan: Plan, report: &mut Report) {
    let mut figure =
        Figure::new("10. drop 10,000 sessions with one entry each", Shown::Time).max_samples(21);
    let ours = figure.add(
        Contender::timed("pagestate Session drop (scope = \"session\" entry)", |_| {
            drop_pagestate_sessions()
        })
        .fixed_iters(1),
    );
    let by_hand = figure.add(
        Contender::timed("Mutex<HashMap<session, HashMap<u64, u64>>> remove", |_| {
            drop_hand_written_sessions()
        })
        .fixed_iters(1),
    );
    figure.row(ours, by_hand, None);
    figure.run(plan, report);
}
