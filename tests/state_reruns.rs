//! `use_state!` on every rerun finds the state the previous run left, also
//! through the page thread's memory of recent states: for each session
//! apart, after a close, beyond that memory's size, and without keeping a
//! dropped session's values alive.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use pagestate::{use_state, Session};

#[test]
fn sessions_that_take_turns_on_one_thread_keep_their_own_values() {
    let (alice, bob) = (Session::new(), Session::new());
    let visit = |by: u32| {
        move || {
            let visits = use_state!("visits", factory = || 0_u32);
            visits.reduce(|n, by| n + by, by).unwrap()
        }
    };
    for round in 1..=5 {
        assert_eq!(alice.run(visit(1)), round);
        assert_eq!(bob.run(visit(10)), round * 10);
    }
}

#[test]
fn a_rerun_after_close_starts_over_and_keeps_what_it_sets() {
    let session = Session::new();
    let page = || use_state!("n", namespace = "p", factory = || 1_i64);
    session.run(|| page().set(5).unwrap());
    assert_eq!(session.run(|| page().get()), Ok(5));
    session.close();
    assert_eq!(session.run(|| page().get()), Ok(1), "the factory ran again");
    session.run(|| page().set(9).unwrap());
    assert_eq!(session.run(|| page().get()), Ok(9));
    assert_eq!(
        session.state::<i64>("p", "n").get(),
        Ok(9),
        "in the session's map"
    );
}

#[test]
fn more_states_than_the_thread_remembers_are_all_kept() {
    let session = Session::new();
    let keys: Vec<String> = (0..40).map(|i| format!("cell-{i}")).collect();
    for round in 0..3_u64 {
        session.run(|| {
            for (i, key) in keys.iter().enumerate() {
                let cell = use_state!(key, factory = || 0_u64);
                assert_eq!(cell.get(), Ok(round * i as u64), "{key}");
                cell.set((round + 1) * i as u64).unwrap();
            }
        });
    }
}

/// Counts its drops.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_sessions_values_are_freed_though_its_page_thread_saw_them() {
    let drops = Arc::new(AtomicUsize::new(0));
    let session = Session::new();
    for _ in 0..3 {
        session.run(|| {
            let state = use_state!("tracked", factory = || Tracked(Arc::clone(&drops)));
            assert!(state.is_initialized());
        });
    }
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(session);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "freed with its session");
}
