//! `#[executor(process)]`: jobs run in worker processes started from this
//! very test binary (caught before libtest's `main`), with failures
//! contained and workers replaced.

use std::sync::Once;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use pagestate::{executor, ExecError, ProcessPool};
use serde::{Deserialize, Serialize};

/// Every test in this binary shares one pool of two workers.
fn pool() {
    static CONFIGURE: Once = Once::new();
    CONFIGURE.call_once(|| ProcessPool::configure(2).expect("no process job ran before"));
}

#[executor(process)]
fn cpu_intensive_computation(n: u64) -> (u64, u32) {
    ((0..n).map(|i| i * i).sum(), std::process::id())
}

#[test]
fn computes_in_another_process() {
    pool();
    let (sum, worker) = block_on(cpu_intensive_computation(1000)).unwrap();
    assert_eq!(sum, 332833500);
    assert_ne!(worker, std::process::id());
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u32,
    items: Vec<String>,
    note: Option<String>,
}

/// Tallies an order; user output must not corrupt the protocol.
#[executor(process)]
fn tally(order: Order, (scale, offset): (u32, u32), mut extra: Vec<String>) -> Order {
    println!("printed by the worker: goes to stderr, not into the protocol");
    extra.push(format!("{}", order.id * scale + offset));
    Order {
        items: order.items.into_iter().chain(extra).collect(),
        ..order
    }
}

#[test]
fn structured_arguments_and_results_round_trip() {
    pool();
    let order = Order {
        id: 7,
        items: vec!["tea".into()],
        note: Some("käse".into()),
    };
    let out = block_on(tally(order.clone(), (10, 2), vec!["milk".into()])).unwrap();
    assert_eq!(
        out,
        Order {
            items: vec!["tea".into(), "milk".into(), "72".into()],
            ..order
        }
    );
}

#[executor(process)]
fn worker_pid() -> u32 {
    std::process::id()
}

#[executor(process)]
fn abort_worker() -> u32 {
    std::process::abort()
}

#[executor(process)]
fn exit_worker(code: i32) -> u32 {
    std::process::exit(code)
}

#[executor(process)]
fn panic_in_worker(message: String) -> u32 {
    panic!("{message}")
}

#[executor(process, timeout = 1)]
fn stuck(seconds: u64) -> u32 {
    std::thread::sleep(Duration::from_secs(seconds));
    std::process::id()
}

#[test]
fn an_aborting_worker_is_reported_and_replaced() {
    pool();
    let error = block_on(abort_worker()).unwrap_err();
    assert_eq!(
        error,
        ExecError::WorkerDied {
            exit_code: None,
            signal: Some(6)
        },
        "{error}"
    );
    for _ in 0..4 {
        assert_ne!(block_on(worker_pid()).unwrap(), std::process::id());
    }
}

#[test]
fn an_exiting_worker_is_reported_with_its_code() {
    pool();
    assert_eq!(
        block_on(exit_worker(3)),
        Err(ExecError::WorkerDied {
            exit_code: Some(3),
            signal: None
        })
    );
    assert!(block_on(worker_pid()).is_ok());
}

#[test]
fn a_panic_is_reported_and_the_worker_survives() {
    pool();
    let error = block_on(panic_in_worker("boom in worker".into())).unwrap_err();
    assert_eq!(error, ExecError::Panicked("boom in worker".into()));
    assert!(block_on(worker_pid()).is_ok());
}

#[test]
fn a_stuck_worker_times_out_and_is_replaced() {
    pool();
    let started = Instant::now();
    let error = block_on(stuck(3600)).unwrap_err();
    assert_eq!(error, ExecError::Timeout(Duration::from_secs(1)));
    assert!(started.elapsed() < Duration::from_secs(600));
    // The same function within its timeout still works afterwards.
    assert!(block_on(stuck(0)).is_ok());
}
