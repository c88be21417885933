//! Executors: slow I/O on the thread pool, CPU-bound work in worker
//! processes, both awaited from page code.
//!
//! Run it with `cargo run --example executors`.

use std::time::{Duration, Instant};

use futures::executor::block_on;
use futures::future::join_all;
use pagestate::{executor, use_state, ExecError, Session};

/// Stands for a blocking HTTP call.
#[executor(thread)]
fn fetch_price(item: String) -> u32 {
    std::thread::sleep(Duration::from_millis(200));
    item.len() as u32 * 100
}

/// Records the fetch in the caller's session, from the pool thread.
#[executor(thread, with_script_run_context = true, timeout = 5)]
fn remember_fetch(item: String) -> usize {
    let fetched = use_state!("fetched", factory = Vec::<String>::new);
    fetched
        .update(|list| {
            list.push(item);
            list.len()
        })
        .unwrap()
}

/// CPU-bound: runs in a worker process, not on the page's thread.
#[executor(process)]
fn cpu_intensive_computation(n: u64) -> (u64, u32) {
    ((0..n).map(|i| i * i).sum(), std::process::id())
}

#[executor(process, timeout = 1)]
fn never_finishes() -> u64 {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn page() -> (Vec<u32>, usize) {
    // Submitted now, all at once; awaited together.
    let items = ["tea", "coffee", "cocoa", "mate"];
    let prices = items.map(|item| fetch_price(item.to_owned()));
    let noted = remember_fetch("tea".to_owned());
    block_on(async {
        let prices = join_all(prices)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        (prices, noted.await.unwrap())
    })
}

fn main() {
    println!("== four 200 ms fetches on the thread pool, at once");
    let session = Session::new();
    let started = Instant::now();
    let (prices, noted) = session.run(page);
    println!(
        "  prices {prices:?} in {:?}; session noted {noted} fetch",
        started.elapsed()
    );

    println!("== a process job");
    let (sum, worker) = block_on(cpu_intensive_computation(1000)).unwrap();
    println!(
        "  sum = {sum}, computed by process {worker} (this is {})",
        std::process::id()
    );
    assert_eq!(sum, 332833500);
    assert_ne!(worker, std::process::id());

    println!("== failures are values");
    match block_on(never_finishes()) {
        Err(error @ ExecError::Timeout(_)) => println!("  {error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    println!(
        "  and the pool goes on: {:?}",
        block_on(cpu_intensive_computation(10)).map(|r| r.0)
    );
}
