//! pagestate against the crates a Rust user would pick instead, measured
//! side by side in one run on one machine.
//!
//! ```text
//! cargo bench --bench peers                 # the full run the README quotes
//! cargo bench --bench peers -- --quick      # fewer, shorter samples
//! cargo bench --bench peers -- 1 5          # only figures 1 and 5
//! ```
//!
//! Every figure measures all its contenders in alternating batches (see
//! `pagestate_benches::measure::interleave`) and compares medians; the run
//! ends with one markdown table, `| figure | pagestate | peer | peer name |
//! ratio |`, where ratio = pagestate's time / the peer's time (lower is
//! better, also for the throughput figure), and a line describing the
//! machine.
//!
//! The figures and their fairness rules are documented in the modules:
//! `cache` (1-4), `executor` (5-7, 9), `state` (8), `session_end` (10) and
//! `redis` (11-13; these start their own `redis-server`, and are skipped
//! without one).

use std::process::ExitCode;

use pagestate_benches::measure::Plan;
use pagestate_benches::report::{Machine, Report};

#[path = "peers/cache.rs"]
mod cache;
#[path = "peers/executor.rs"]
mod executor;
#[path = "peers/redis.rs"]
mod redis;
#[path = "peers/session_end.rs"]
mod session_end;
#[path = "peers/state.rs"]
mod state;

/// A figure's number and the function that measures it.
type FigureFn = fn(Plan, &mut Report);

const FIGURES: &[(u32, FigureFn)] = &[
    (1, cache::hit_one_thread),
    (2, cache::hit_two_threads),
    (3, cache::hit_string_key),
    (4, cache::miss_storm),
    (5, executor::thread_round_trip),
    (6, executor::process_round_trip),
    (7, executor::process_cold_start),
    (8, state::use_state_ops),
    (9, executor::fan_out),
    (10, session_end::drop_sessions),
    (11, redis::redis_hit),
    (12, redis::redis_memory_hit),
    (13, redis::miss_storm_two_processes),
];

const USAGE: &str = "usage: cargo bench --bench peers [-- [--quick] [FIGURE...]]
  --quick     fewer and shorter samples (well under two minutes)
  FIGURE      figure numbers to run (1-13); all when none is given";

fn main() -> ExitCode {
    // procspawn starts its workers by running this executable again: in a
    // worker, `init` serves the job and exits, so it must come first.
    procspawn::init();
    executor::serve_cold_start_probe();
    redis::serve_storm_peer();

    let (plan, selected) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    executor::configure_pools();

    let machine = Machine::detect();
    println!(
        "pagestate peer benchmarks: {} samples per contender, batches of about {:?}",
        plan.samples, plan.batch_time
    );
    println!("{machine}");
    println!("Peers: {}", env!("PAGESTATE_BENCH_PEERS"));
    let mut report = Report::new();
    for (number, figure) in FIGURES {
        if selected.is_empty() || selected.contains(number) {
            figure(plan, &mut report);
        }
    }
    redis::stop_server();
    println!("\n{}", report.table());
    println!("{}", machine.finished());
    ExitCode::SUCCESS
}

/// The plan and the selected figure numbers (empty: all). Cargo passes
/// `--bench` to every bench target; it is accepted and ignored.
fn parse_args(args: impl Iterator<Item = String>) -> Result<(Plan, Vec<u32>), String> {
    let mut plan = Plan::FULL;
    let mut selected = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--quick" => plan = Plan::QUICK,
            "--bench" => {}
            "--help" | "-h" => return Err(String::new()),
            number => match number.parse::<u32>() {
                Ok(n) if FIGURES.iter().any(|(figure, _)| *figure == n) => selected.push(n),
                _ => return Err(format!("unknown argument `{number}`")),
            },
        }
    }
    Ok((plan, selected))
}
