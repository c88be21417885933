//! When the operating system refuses the pool a thread, a queued job's
//! future yields `ExecError::ThreadStart` instead of waiting forever.
//!
//! `harness = false`: this binary must start no thread before it makes
//! every default-sized thread impossible (a stack larger than the address
//! space, through `RUST_MIN_STACK`, which std reads once, at the first
//! spawn).

use std::time::Duration;

use futures::executor::block_on;
use pagestate::{executor, ExecError, ThreadPool};

#[executor(thread)]
fn job() -> u32 {
    7
}

#[executor(thread)]
async fn async_job() -> u32 {
    8
}

fn main() {
    std::env::set_var("RUST_MIN_STACK", (1_u64 << 60).to_string());
    // A failing test ends instead of hanging: a watchdog with a stack size
    // of its own, so that it can start.
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            std::thread::sleep(Duration::from_secs(120));
            eprintln!("thread_spawn_failure: a job's future never completed");
            std::process::exit(1);
        })
        .expect("the watchdog starts");

    for round in 0..2 {
        match block_on(job()) {
            Err(ExecError::ThreadStart(why)) => assert!(!why.is_empty()),
            other => panic!("round {round}: expected ThreadStart, got {other:?}"),
        }
        assert!(matches!(
            block_on(async_job()),
            Err(ExecError::ThreadStart(_))
        ));
    }
    // Several jobs queued at once all get the error.
    let futures: Vec<_> = (0..4).map(|_| job()).collect();
    for future in futures {
        let error = block_on(future).unwrap_err();
        assert!(matches!(error, ExecError::ThreadStart(_)), "{error:?}");
        assert!(error
            .to_string()
            .contains("no pool thread could be started"));
    }
    assert_eq!(ThreadPool::started_threads(), 0);
    println!("test result: ok. 1 passed; 0 failed");
}
