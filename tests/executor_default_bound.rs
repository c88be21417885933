//! The thread pool's default bound, `min(32, CPUs + 4)`: as many jobs as
//! the bound run at once on distinct threads, and one more waits for a
//! free thread instead of starting another. A binary of its own, so that
//! nothing configures the pool and no other test holds a pool thread.

use std::collections::HashSet;
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::{executor, ThreadPool};

/// Meets every other held job, then waits until released.
#[executor(thread)]
fn hold(barrier: Arc<Barrier>, release: Arc<Mutex<mpsc::Receiver<()>>>) -> ThreadId {
    barrier.wait();
    let _ = release
        .lock()
        .unwrap()
        .recv_timeout(Duration::from_secs(120));
    thread::current().id()
}

#[executor(thread)]
fn which_thread() -> ThreadId {
    thread::current().id()
}

#[test]
fn the_default_bound_is_min_32_cpus_plus_4_and_holds() {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let bound = (cpus + 4).min(32);
    assert_eq!(ThreadPool::max_threads(), bound);

    let barrier = Arc::new(Barrier::new(bound + 1));
    let (release, released) = mpsc::channel();
    let released = Arc::new(Mutex::new(released));
    let held: Vec<_> = (0..bound)
        .map(|_| hold(Arc::clone(&barrier), Arc::clone(&released)))
        .collect();
    // Every pool thread is in `hold` once the barrier opens.
    barrier.wait();
    // One more job: with every thread held, a pool that kept its bound
    // cannot run it until a held job ends.
    let extra = which_thread();
    for _ in 0..bound {
        release.send(()).unwrap();
    }
    let held: HashSet<ThreadId> = block_on(join_all(held))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(held.len(), bound, "the held jobs ran on distinct threads");
    let extra = block_on(extra).unwrap();
    assert!(
        held.contains(&extra),
        "the extra job started a thread past the bound"
    );
    assert_eq!(ThreadPool::started_threads(), bound);
}
