//! Figures 5-7 and 9: `#[pagestate::executor(thread)]` and
//! `#[pagestate::executor(process)]` against tokio's `spawn_blocking`, the
//! `blocking` crate and procspawn.
//!
//! Fairness rules:
//! - A pagestate future is awaited in the same kind of context as the peer
//!   it is compared with: inside the same tokio runtime's `block_on` against
//!   `spawn_blocking`, and in `futures_lite::future::block_on` against
//!   `blocking::unblock` (and against procspawn, whose `join` blocks the
//!   calling thread).
//! - Process pools have the same size on both sides: one worker per CPU.
//! - Both sides move the same argument values (a 1 MiB payload is cloned per
//!   call on both sides, as a caller keeping its buffer would do).

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use pagestate_benches::figure::Figure;
use pagestate_benches::measure::{Contender, Plan};
use pagestate_benches::report::{Report, Shown};

/// Figure 9: concurrent jobs, each sleeping [`FAN_OUT_SLEEP`], on a thread
/// pool of as many threads.
const FAN_OUT_JOBS: usize = 100;
const FAN_OUT_SLEEP: Duration = Duration::from_millis(50);

/// The 1 MiB argument of figure 6.
const PAYLOAD_BYTES: usize = 1 << 20;

/// Set in the environment of the child process that measures one cold start
/// of pagestate's process pool (figure 7).
const COLD_START_PROBE: &str = "PAGESTATE_BENCH_COLD_START_PROBE";

/// The job of figure 5 on the peers' side.
fn no_op() {}

#[pagestate::executor(thread)]
fn pagestate_nothing() {}

#[pagestate::executor(thread)]
fn pagestate_nap() {
    std::thread::sleep(FAN_OUT_SLEEP);
}

#[pagestate::executor(process)]
fn pagestate_echo(n: u64) -> u64 {
    n
}

#[pagestate::executor(process)]
fn pagestate_payload_len(payload: Vec<u8>) -> u64 {
    payload.len() as u64
}

/// Sizes pagestate's pools before anything uses them: [`FAN_OUT_JOBS`]
/// threads for figure 9, and one worker process per CPU, the size of
/// procspawn's pool in figure 6.
pub fn configure_pools() {
    pagestate::ThreadPool::configure(FAN_OUT_JOBS)
        .expect("pagestate's thread pool is configured before its first job");
    pagestate::ProcessPool::configure(cpus())
        .expect("pagestate's process pool is configured before its first job");
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// Figure 5: submit a no-op job, run it on a pool thread, await its result.
pub fn thread_round_trip(plan: Plan, report: &mut Report) {
    let runtime = tokio_runtime();
    let label = "5. thread executor round trip, no-op job";
    let mut figure = Figure::new(label, Shown::Time);
    let ours_tokio = figure.add(Contender::timed(
        "pagestate #[executor(thread)] in tokio block_on",
        |iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    pagestate_nothing().await.expect("the job runs");
                }
                start.elapsed()
            })
        },
    ));
    let ours_lite = figure.add(Contender::timed(
        "pagestate #[executor(thread)] in futures-lite block_on",
        |iters| {
            block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    pagestate_nothing().await.expect("the job runs");
                }
                start.elapsed()
            })
        },
    ));
    let spawn_blocking = figure.add(Contender::timed("tokio::task::spawn_blocking", |iters| {
        runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                tokio::task::spawn_blocking(no_op)
                    .await
                    .expect("the job runs");
            }
            start.elapsed()
        })
    }));
    let unblock = figure.add(Contender::timed("blocking::unblock", |iters| {
        block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                blocking::unblock(no_op).await;
            }
            start.elapsed()
        })
    }));
    figure.row_as(
        format!("{label} (awaited in tokio)"),
        ours_tokio,
        spawn_blocking,
        Some(0.8),
    );
    figure.row_as(
        format!("{label} (awaited in futures-lite)"),
        ours_lite,
        unblock,
        None,
    );
    figure.run(plan, report);
}

/// Figure 6: a round trip to a warm process pool (workers already started),
/// with a `u64` argument and with a 1 MiB `Vec<u8>` argument.
pub fn process_round_trip(plan: Plan, report: &mut Report) {
    let pool = procspawn::Pool::new(cpus()).expect("procspawn starts its pool");
    let payload = vec![7_u8; PAYLOAD_BYTES];

    let mut figure = Figure::new("6. process executor round trip, warm pool", Shown::Time);
    let ours_u64 = figure.add(Contender::looped(
        "pagestate #[executor(process)], u64",
        |i| {
            black_box(block_on(pagestate_echo(black_box(i))).expect("the job runs"));
        },
    ));
    let ours_mib = figure.add(Contender::looped(
        "pagestate #[executor(process)], 1 MiB Vec<u8>",
        |_| {
            let arg = black_box(&payload).clone();
            black_box(block_on(pagestate_payload_len(arg)).expect("the job runs"));
        },
    ));
    let procspawn_u64 = figure.add(Contender::looped("procspawn::Pool, u64", |i| {
        black_box(
            pool.spawn(black_box(i), |n: u64| n)
                .join()
                .expect("the job runs"),
        );
    }));
    let procspawn_mib = figure.add(Contender::looped("procspawn::Pool, 1 MiB Vec<u8>", |_| {
        let arg = black_box(&payload).clone();
        black_box(
            pool.spawn(arg, |payload: Vec<u8>| payload.len() as u64)
                .join()
                .expect("the job runs"),
        );
    }));
    figure.row_as(
        "6. process executor round trip, warm pool, u64",
        ours_u64,
        procspawn_u64,
        Some(0.7),
    );
    figure.row_as(
        "6. process executor round trip, warm pool, 1 MiB Vec<u8>",
        ours_mib,
        procspawn_mib,
        Some(0.5),
    );
    figure.run(plan, report);
    pool.shutdown();
}

/// Figure 7: the first call to a process function, worker start included.
///
/// pagestate starts its pool on first use, once per process, so each
/// pagestate sample runs this executable again as a fresh child (see
/// [`serve_cold_start_probe`]) that times its own first call; starting the
/// child itself is not counted. `procspawn::spawn` starts a new process on
/// every call, so each of its calls is a cold start.
pub fn process_cold_start(plan: Plan, report: &mut Report) {
    let exe = std::env::current_exe().expect("the benchmark knows its executable");
    let mut figure =
        Figure::new("7. process executor cold start, first call", Shown::Time).max_samples(21);
    let ours = figure.add(
        Contender::timed("pagestate #[executor(process)], first call", |_| {
            let output = Command::new(&exe)
                .env(COLD_START_PROBE, "1")
                .output()
                .expect("the cold-start probe runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let nanos: u64 = stdout.trim().parse().unwrap_or_else(|_| {
                panic!(
                    "the cold-start probe failed ({}): {stdout}{}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
            });
            Duration::from_nanos(nanos)
        })
        .fixed_iters(1),
    );
    let theirs = figure.add(
        Contender::looped("procspawn::spawn", |i| {
            black_box(
                procspawn::spawn(black_box(i), |n: u64| n)
                    .join()
                    .expect("the job runs"),
            );
        })
        .fixed_iters(1),
    );
    figure.row(ours, theirs, None);
    figure.run(plan, report);
}

/// In the child started by figure 7: times the first call to a process
/// function, prints the nanoseconds and exits. Does nothing elsewhere.
pub fn serve_cold_start_probe() {
    if std::env::var_os(COLD_START_PROBE).is_none() {
        return;
    }
    let start = Instant::now();
    let echoed = block_on(pagestate_echo(7)).expect("the first process job runs");
    let took = start.elapsed();
    assert_eq!(echoed, 7);
    println!("{}", took.as_nanos());
    std::process::exit(0);
}

/// Figure 9: [`FAN_OUT_JOBS`] jobs submitted at once, each sleeping
/// [`FAN_OUT_SLEEP`], on a pool of as many threads; wall time from the first
/// call to the last result, against the sleep itself (no pool can do
/// better), and for context against the same fan-out on tokio's blocking
/// pool (512 threads by default).
pub fn fan_out(plan: Plan, report: &mut Report) {
    let runtime = tokio_runtime();
    let mut figure = Figure::new(
        "9. fan-out, 100 thread jobs sleeping 50 ms, 100-thread pool",
        Shown::Time,
    )
    .max_samples(21);
    let ours = figure.add(
        Contender::timed("pagestate #[executor(thread)]", |_| {
            let start = Instant::now();
            let jobs: Vec<_> = (0..FAN_OUT_JOBS).map(|_| pagestate_nap()).collect();
            block_on(async {
                for job in jobs {
                    job.await.expect("the job runs");
                }
            });
            start.elapsed()
        })
        .fixed_iters(1),
    );
    let tokio = figure.add(
        Contender::timed("tokio::task::spawn_blocking", |_| {
            runtime.block_on(async {
                let start = Instant::now();
                let jobs: Vec<_> = (0..FAN_OUT_JOBS)
                    .map(|_| tokio::task::spawn_blocking(|| std::thread::sleep(FAN_OUT_SLEEP)))
                    .collect();
                for job in jobs {
                    job.await.expect("the job runs");
                }
                start.elapsed()
            })
        })
        .fixed_iters(1),
    );
    figure.row_bound(
        ours,
        FAN_OUT_SLEEP.as_nanos() as f64,
        "one 50 ms sleep (physical limit)",
        Some(1.3),
    );
    figure.row(ours, tokio, None);
    figure.run(plan, report);
}
