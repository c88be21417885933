//! The thread pool's bound, set with `ThreadPool::configure(64)`: 64 jobs
//! that can only finish together run on 64 distinct threads. A binary of
//! its own, so that no other test holds a pool thread meanwhile.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread::{self, ThreadId};

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::{executor, ThreadPool};

const THREADS: usize = 64;

/// Waits until all `THREADS` jobs are in, so each holds its thread until
/// every other job has one too.
#[executor(thread, timeout = 120)]
fn meet_all(barrier: Arc<Barrier>) -> ThreadId {
    barrier.wait();
    thread::current().id()
}

#[test]
fn sixty_four_concurrent_jobs_run_on_sixty_four_distinct_threads() {
    ThreadPool::configure(THREADS).expect("no job ran before");
    assert_eq!(ThreadPool::max_threads(), THREADS);
    let barrier = Arc::new(Barrier::new(THREADS));
    let ids = block_on(join_all(
        (0..THREADS).map(|_| meet_all(Arc::clone(&barrier))),
    ));
    let ids: HashSet<ThreadId> = ids
        .into_iter()
        .map(|id| id.expect("the job met the others"))
        .collect();
    assert_eq!(ids.len(), THREADS);
    assert!(!ids.contains(&thread::current().id()));
    assert_eq!(ThreadPool::started_threads(), THREADS);
    // The pool is warm: another round starts no thread.
    let barrier = Arc::new(Barrier::new(THREADS));
    let again = block_on(join_all(
        (0..THREADS).map(|_| meet_all(Arc::clone(&barrier))),
    ));
    assert!(again
        .iter()
        .all(|id| id.as_ref().is_ok_and(|id| ids.contains(id))));
    assert_eq!(ThreadPool::started_threads(), THREADS);
}
