//! `#[executor(process)]`: jobs run in worker processes started from this
//! very test binary (caught before libtest's `main`), with failures
//! contained and workers replaced.

#![cfg(unix)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use pagestate::{executor, ExecError, ProcessPool};
use serde::{Deserialize, Serialize};

const WORKERS: usize = 2;

/// Every test in this binary shares one pool of two workers, one test at a
/// time, so that a test knows which jobs occupy the workers.
fn pool() -> MutexGuard<'static, ()> {
    static CONFIGURE: Once = Once::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    CONFIGURE.call_once(|| ProcessPool::configure(WORKERS).expect("no process job ran before"));
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a handshake between the test and its workers may take on a
/// loaded machine before the test fails instead of hanging.
const HANDSHAKE: Duration = Duration::from_secs(60);

/// A fresh, empty directory for the files a test and its workers meet by.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pagestate-process-{}-{name}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until `done` holds, for at most [`HANDSHAKE`]; whether it did.
fn within_handshake(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + HANDSHAKE;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Says it is in (a file named after its pid in `dir`), waits until `all`
/// jobs are in, and returns its pid: `all` of these at once must run on
/// `all` distinct workers.
#[executor(process)]
fn pid_when_all_are_in(dir: PathBuf, all: usize) -> u32 {
    let me = std::process::id();
    std::fs::write(dir.join(me.to_string()), b"in").unwrap();
    within_handshake(|| std::fs::read_dir(&dir).map_or(0, Iterator::count) >= all);
    me
}

/// The pids of the pool's workers now, one job on each.
fn worker_pids() -> HashSet<u32> {
    let scratch = Scratch::new("pids");
    let jobs: Vec<_> = (0..WORKERS)
        .map(|_| pid_when_all_are_in(scratch.0.clone(), WORKERS))
        .collect();
    let pids: HashSet<u32> = jobs.into_iter().map(|job| block_on(job).unwrap()).collect();
    assert_eq!(pids.len(), WORKERS, "one job on each worker: {pids:?}");
    assert!(!pids.contains(&std::process::id()));
    pids
}

/// Writes its pid to `trace`, then waits until `release` exists; returns
/// its pid and whether it was released.
#[executor(process)]
fn hold_until(trace: PathBuf, release: PathBuf) -> (u32, bool) {
    let me = std::process::id();
    std::fs::write(&trace, me.to_string()).unwrap();
    (me, within_handshake(|| release.exists()))
}

/// The pid a [`hold_until`] job wrote once it started.
fn started_pid(trace: &Path) -> u32 {
    assert!(
        within_handshake(|| std::fs::read_to_string(trace).is_ok_and(|pid| !pid.is_empty())),
        "the job started"
    );
    std::fs::read_to_string(trace).unwrap().parse().unwrap()
}

#[executor(process)]
fn cpu_intensive_computation(n: u64) -> (u64, u32) {
    ((0..n).map(|i| i * i).sum(), std::process::id())
}

#[test]
fn computes_in_another_process() {
    let _serial = pool();
    let (sum, worker) = block_on(cpu_intensive_computation(1000)).unwrap();
    assert_eq!(sum, 332833500);
    assert_ne!(worker, std::process::id());
    assert_eq!(ProcessPool::configure(8), Err(pagestate::AlreadyStarted));
    assert_eq!(ProcessPool::workers(), WORKERS);
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
    let _serial = pool();
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

/// An alias of `Vec<u8>`: byte vectors cross as one block, chosen by type.
type Image = Vec<u8>;

/// Reverses a byte payload next to other arguments, and returns both.
#[executor(process)]
fn flip(label: String, pixels: Image, tail: Vec<u8>) -> (Vec<u8>, Image, String) {
    let mut flipped = pixels;
    flipped.reverse();
    (flipped, tail, label)
}

#[test]
fn byte_vectors_cross_whole_in_both_directions() {
    let _serial = pool();
    let pixels: Vec<u8> = (0..=255).cycle().take(3 << 20).collect();
    let (flipped, tail, label) = block_on(flip("x".repeat(3), pixels.clone(), vec![])).unwrap();
    assert_eq!(flipped, pixels.iter().rev().copied().collect::<Vec<u8>>());
    assert_eq!((tail, label), (Vec::new(), "xxx".to_owned()));
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

/// Writes its pid to `trace`, then aborts.
#[executor(process)]
fn abort_after_writing_pid(trace: PathBuf) -> u32 {
    std::fs::write(&trace, std::process::id().to_string()).unwrap();
    std::process::abort()
}

/// Writes its pid to `trace`, then exits with `code`.
#[executor(process)]
fn exit_after_writing_pid(trace: PathBuf, code: i32) -> u32 {
    std::fs::write(&trace, std::process::id().to_string()).unwrap();
    std::process::exit(code)
}

/// Panics with a message that names its worker.
#[executor(process)]
fn panic_naming_pid(message: String) -> u32 {
    panic!("{message} in {}", std::process::id())
}

#[test]
fn an_aborting_worker_is_reported_and_replaced() {
    let _serial = pool();
    let scratch = Scratch::new("abort");
    let trace = scratch.path("pid");
    let error = block_on(abort_after_writing_pid(trace.clone())).unwrap_err();
    assert_eq!(
        error,
        ExecError::WorkerDied {
            exit_code: None,
            signal: Some(6)
        },
        "{error}"
    );
    let aborted: u32 = std::fs::read_to_string(&trace).unwrap().parse().unwrap();
    let after = worker_pids();
    assert!(!after.contains(&aborted), "{aborted} is in {after:?}");
}

#[test]
fn an_exiting_worker_is_reported_with_its_code_and_replaced() {
    let _serial = pool();
    let scratch = Scratch::new("exit");
    let trace = scratch.path("pid");
    assert_eq!(
        block_on(exit_after_writing_pid(trace.clone(), 3)),
        Err(ExecError::WorkerDied {
            exit_code: Some(3),
            signal: None
        })
    );
    let exited: u32 = std::fs::read_to_string(&trace).unwrap().parse().unwrap();
    let after = worker_pids();
    assert!(!after.contains(&exited), "{exited} is in {after:?}");
}

#[test]
fn a_panic_is_reported_and_the_worker_survives() {
    let _serial = pool();
    let before = worker_pids();
    let error = block_on(panic_naming_pid("boom".into())).unwrap_err();
    let ExecError::Panicked(message) = error else {
        panic!("expected a panic, got {error:?}");
    };
    let panicked: u32 = message
        .strip_prefix("boom in ")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message {message:?}"));
    assert!(before.contains(&panicked), "{panicked} not in {before:?}");
    assert_eq!(worker_pids(), before, "no worker was replaced");
}

/// Five seconds leave a loaded machine time to dispatch the job and let it
/// write its pid before the timeout kills it.
#[executor(process, timeout = 5)]
fn stuck(trace: PathBuf, seconds: u64) -> u32 {
    std::fs::write(&trace, std::process::id().to_string()).unwrap();
    std::thread::sleep(Duration::from_secs(seconds));
    std::process::id()
}

#[test]
fn a_stuck_worker_times_out_and_is_killed_and_replaced() {
    let _serial = pool();
    let scratch = Scratch::new("stuck");
    let trace = scratch.path("pid");
    let error = block_on(stuck(trace.clone(), 3600)).unwrap_err();
    assert_eq!(error, ExecError::Timeout(Duration::from_secs(5)));
    let stuck_pid = std::fs::read_to_string(&trace).unwrap();
    // Killed (and reaped) by the pool, not left to run for an hour.
    assert!(
        within_handshake(|| !is_running(&stuck_pid)),
        "the stuck worker {stuck_pid} still runs"
    );
    let after = worker_pids();
    assert!(!after.contains(&stuck_pid.parse().unwrap()), "{after:?}");
    // The same function within its timeout still works afterwards.
    let again = block_on(stuck(scratch.path("again"), 0)).unwrap();
    assert!(after.contains(&again));
}

/// Leaves a trace in the file system, which the test process can see.
#[executor(process)]
fn touch(path: std::path::PathBuf) -> bool {
    std::fs::write(path, b"ran").is_ok()
}

/// Occupies every worker until `release` exists.
fn occupy_every_worker(
    scratch: &Scratch,
) -> Vec<impl std::future::Future<Output = Result<(u32, bool), ExecError>>> {
    let busy: Vec<_> = (0..WORKERS)
        .map(|n| hold_until(scratch.path(&format!("busy-{n}")), scratch.path("release")))
        .collect();
    let pids: HashSet<u32> = (0..WORKERS)
        .map(|n| started_pid(&scratch.path(&format!("busy-{n}"))))
        .collect();
    assert_eq!(pids.len(), WORKERS, "each worker holds one job");
    busy
}

#[test]
fn a_dropped_future_whose_job_was_not_dispatched_runs_no_job() {
    let _serial = pool();
    let scratch = Scratch::new("dropped");
    let trace = scratch.path("touched");
    // Both workers are held; the touch waits behind them and is dropped.
    let busy = occupy_every_worker(&scratch);
    drop(touch(trace.clone()));
    std::fs::write(scratch.path("release"), b"go").unwrap();
    for job in busy {
        assert!(block_on(job).unwrap().1, "released");
    }
    // FIFO: by the time these ran, the dropped job had its turn and was skipped.
    let after: Vec<_> = (0..WORKERS).map(|_| worker_pid()).collect();
    for job in after {
        assert_ne!(block_on(job), Ok(std::process::id()));
    }
    assert!(!trace.exists(), "the dropped job ran");
    // The same job, awaited, runs.
    assert_eq!(block_on(touch(trace.clone())), Ok(true));
    assert!(trace.exists());
}

#[executor(process, timeout = 1)]
fn touch_in_time(path: std::path::PathBuf) -> bool {
    std::fs::write(path, b"ran").is_ok()
}

#[test]
fn a_timeout_counts_from_the_call_even_while_every_worker_is_busy() {
    let _serial = pool();
    let scratch = Scratch::new("queued");
    let trace = scratch.path("touched");
    // Both workers are held; the touch waits behind them, and its
    // one-second timeout must fire meanwhile.
    let busy = occupy_every_worker(&scratch);
    assert_eq!(
        block_on(touch_in_time(trace.clone())),
        Err(ExecError::Timeout(Duration::from_secs(1)))
    );
    std::fs::write(scratch.path("release"), b"go").unwrap();
    for job in busy {
        assert!(block_on(job).unwrap().1, "a busy worker was killed");
    }
    let after: Vec<_> = (0..WORKERS).map(|_| worker_pid()).collect();
    for job in after {
        assert_ne!(block_on(job), Ok(std::process::id()));
    }
    assert!(!trace.exists(), "the timed-out job ran later");
    assert_eq!(block_on(touch_in_time(trace.clone())), Ok(true));
}

/// 1 and 3 cannot be encoded; 4 cannot be decoded.
#[derive(Debug, PartialEq)]
struct Picky(u32);

impl Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            1 | 3 => Err(serde::ser::Error::custom("cannot encode 1 or 3")),
            n => serializer.serialize_u32(n),
        }
    }
}

/// Set in the test process; a worker (a fresh process) has it unset.
static IN_TEST_PROCESS: AtomicBool = AtomicBool::new(false);

/// Where workers note each `Picky` they decode: the test process's pid
/// names it, which is a worker's parent pid.
fn picky_trace(test_pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("pagestate-picky-{test_pid}"))
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(deserializer)?;
        if !IN_TEST_PROCESS.load(Ordering::SeqCst) {
            use std::io::Write;
            let trace = picky_trace(std::os::unix::process::parent_id());
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(trace)
                .unwrap();
            writeln!(file, "{value}").unwrap();
        }
        match value {
            4 => Err(serde::de::Error::custom("cannot decode 4")),
            n => Ok(Picky(n)),
        }
    }
}

static PICKY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[executor(process)]
fn add(value: Picky, by: u32) -> Picky {
    PICKY_RUNS.fetch_add(1, Ordering::SeqCst);
    Picky(value.0 + by)
}

#[test]
fn payloads_that_fail_the_codec_are_codec_errors_of_the_side_that_failed() {
    let _serial = pool();
    IN_TEST_PROCESS.store(true, Ordering::SeqCst);
    let trace = picky_trace(std::process::id());
    let _ = std::fs::remove_file(&trace);
    let decoded_by_workers = || std::fs::read_to_string(&trace).unwrap_or_default();
    let codec_error = |outcome: Result<Picky, ExecError>, side: &str| match outcome {
        Err(ExecError::Codec(message)) => {
            assert!(message.starts_with(side), "{side:?} expected: {message}")
        }
        other => panic!("expected a codec error, got {other:?}"),
    };
    // The argument cannot be encoded here: no job is sent.
    codec_error(block_on(add(Picky(1), 1)), "cannot encode an argument: ");
    assert_eq!(decoded_by_workers(), "", "a job was sent");
    // 2 + 1: the worker cannot encode its result.
    codec_error(
        block_on(add(Picky(2), 1)),
        "the worker cannot encode the result: ",
    );
    // The worker cannot decode the argument.
    codec_error(
        block_on(add(Picky(4), 0)),
        "the worker cannot decode the arguments: ",
    );
    // 2 + 2: the result cannot be decoded here.
    codec_error(block_on(add(Picky(2), 2)), "cannot decode the result: ");
    assert_eq!(block_on(add(Picky(6), 2)), Ok(Picky(8)));
    // Each sent job's argument reached a worker; the unsendable one did not.
    assert_eq!(decoded_by_workers(), "2\n4\n2\n6\n");
    // The counter here never moved: the jobs ran in workers.
    assert_eq!(PICKY_RUNS.load(Ordering::SeqCst), 0);
    let _ = std::fs::remove_file(&trace);
}

#[test]
fn process_jobs_are_awaited_under_tokio_without_blocking_it() {
    let _serial = pool();
    let scratch = Scratch::new("tokio");
    let release = scratch.path("release");
    // One runtime thread: it must keep running other tasks while it waits.
    // The jobs end only once the third task has run, after they started.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (a, b) = runtime.block_on(async {
        let a = hold_until(scratch.path("a"), release.clone());
        let b = hold_until(scratch.path("b"), release.clone());
        let (a, b, ()) = tokio::join!(a, b, async {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            std::fs::write(&release, b"go").unwrap();
        });
        (a, b)
    });
    let ((a, a_released), (b, b_released)) = (a.unwrap(), b.unwrap());
    assert!(a_released && b_released, "the runtime thread was blocked");
    assert_ne!(a, b, "two jobs at once ran on two workers");
    assert!(![a, b].contains(&std::process::id()));
}

/// Set in the child processes that the next two tests start.
const CHILD_ROLE: &str = "PAGESTATE_TEST_CHILD_ROLE";

/// A child test process, killed when the test ends, also by a failure.
struct ChildTest(std::process::Child);

impl ChildTest {
    fn start(test: &str, role: &str) -> ChildTest {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--nocapture"])
            .env(CHILD_ROLE, role)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        ChildTest(child)
    }
}

impl Drop for ChildTest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails unless this process was started for `role`: a child role proves
/// nothing when run on its own.
fn require_role(role: &str) {
    let actual = std::env::var(CHILD_ROLE);
    assert_eq!(
        actual.as_deref(),
        Ok(role),
        "this test is a child role, started by another test with {CHILD_ROLE}={role}"
    );
}

/// In a child: starts both workers, keeps one busy with a job, prints the
/// pids and waits to be killed.
#[test]
#[ignore = "started by workers_exit_when_the_application_is_killed"]
fn child_holding_workers() {
    require_role("hold");
    let _serial = pool();
    let pids: Vec<String> = worker_pids().iter().map(u32::to_string).collect();
    let scratch = Scratch::new("child-busy");
    let trace = scratch.path("busy");
    let busy = hold_until(trace.clone(), scratch.path("never"));
    let busy_pid = started_pid(&trace);
    println!("WORKERS {} BUSY {busy_pid}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(120));
    drop(busy);
}

fn is_running(pid: &str) -> bool {
    // Gone, or a zombie nobody reaped yet: either way it is not running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(target_os = "linux")]
#[test]
fn workers_exit_when_the_application_is_killed() {
    let _serial = pool();
    let mut child = ChildTest::start("child_holding_workers", "hold");
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    // libtest prints `test child_holding_workers ... ` before the output.
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| Some(line.split_once("WORKERS ")?.1.to_owned()))
        .expect("the child reports its workers");
    let (workers, busy) = line.split_once(" BUSY ").expect("and its busy worker");
    let pids: Vec<String> = workers.split_whitespace().map(str::to_owned).collect();
    assert_eq!(pids.len(), WORKERS);
    assert!(pids.iter().any(|pid| pid == busy), "{busy} in {pids:?}");
    assert!(pids.iter().all(|pid| is_running(pid)));

    child.0.kill().unwrap(); // SIGKILL: no chance to clean up
    child.0.wait().unwrap();
    // The busy worker is in the middle of a job: it must not wait for the
    // job to end, nor for its stdin to close.
    let killed = Instant::now();
    while is_running(busy) && killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !is_running(busy),
        "the busy worker outlived its application by 2 s"
    );
    let deadline = Instant::now() + HANDSHAKE;
    while pids.iter().any(|pid| is_running(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<_> = pids.iter().filter(|pid| is_running(pid)).collect();
    assert!(
        survivors.is_empty(),
        "workers outlived their application: {survivors:?}"
    );
}

/// In a child started with the worker variable set to a value the worker
/// constructor does not accept: the pool must refuse instead of starting
/// workers of its own.
#[test]
#[ignore = "started by a_process_the_constructor_did_not_catch_starts_no_workers"]
fn child_with_stray_worker_variable() {
    require_role("stray");
    let _serial = pool();
    match block_on(worker_pid()) {
        Err(ExecError::WorkerStart(message)) => println!("REFUSED {message}"),
        other => println!("STARTED {other:?}"),
    }
}

#[test]
fn a_process_the_constructor_did_not_catch_starts_no_workers() {
    let _serial = pool();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_with_stray_worker_variable",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ROLE, "stray")
        .env("PAGESTATE_WORKER", "some-other-protocol")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let refused = stdout
        .lines()
        .find_map(|line| line.split_once("REFUSED ").map(|(_, message)| message))
        .unwrap_or_else(|| panic!("the pool did not refuse:\n{stdout}"));
    assert!(
        refused.starts_with("this process was started as a worker (`PAGESTATE_WORKER` is set)"),
        "{refused}"
    );
    assert!(output.status.success(), "{stdout}");
}

/// The pids of the processes that are this process's children and zombies.
#[cfg(target_os = "linux")]
fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        if fields.next() == Some("Z") && fields.next() == Some(me.as_str()) {
            zombies.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    zombies
}

#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[cfg(target_os = "linux")]
#[test]
fn many_worker_deaths_leak_no_fds_and_leave_no_zombies() {
    let _serial = pool();
    // Warm: both workers started, as after any earlier test.
    worker_pids();
    let fds_before = open_fds();
    for round in 0..12 {
        let crash = if round % 2 == 0 {
            block_on(abort_worker())
        } else {
            block_on(exit_worker(round))
        };
        assert!(
            matches!(crash, Err(ExecError::WorkerDied { .. })),
            "{crash:?}"
        );
        assert_eq!(
            block_on(panic_in_worker("p".into())),
            Err(ExecError::Panicked("p".into()))
        );
        assert_ne!(block_on(worker_pid()), Ok(std::process::id()));
    }
    // A manager replaces its dead worker after replying, so the last
    // replacement may still be starting: wait for the counts to settle.
    let deadline = Instant::now() + Duration::from_secs(60);
    while (open_fds() != fds_before || !zombie_children().is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_fds(), fds_before, "pipes of dead workers leaked");
    assert_eq!(
        zombie_children(),
        Vec::<String>::new(),
        "dead workers were not reaped"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_worker_that_died_while_idle_is_replaced_and_the_next_job_runs() {
    let _serial = pool();
    let pids: Vec<String> = worker_pids().iter().map(u32::to_string).collect();
    for pid in &pids {
        let killed = Command::new("kill").args(["-9", pid]).status().unwrap();
        assert!(killed.success());
    }
    // A killed process shows as a zombie while its other threads still
    // exit and hold its pipes open: wait until they are gone too.
    let exited = |pid: &String| {
        let entries =
            |dir: &str| std::fs::read_dir(format!("/proc/{pid}/{dir}")).map_or(0, |d| d.count());
        !is_running(pid) && entries("task") <= 1 && entries("fd") == 0
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pids.iter().all(exited) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Both managers now hold a dead worker; each takes one of these jobs,
    // which never reached a worker and so must not fail as if it had.
    let scratch = Scratch::new("after-kill");
    let jobs: Vec<_> = (0..WORKERS)
        .map(|_| pid_when_all_are_in(scratch.0.clone(), WORKERS))
        .collect();
    for job in jobs {
        let pid = block_on(job).expect("the job ran on a fresh worker");
        assert!(!pids.contains(&pid.to_string()));
    }
    assert_eq!(zombie_children(), Vec::<String>::new());
}

#[cfg(target_os = "linux")]
#[test]
fn a_worker_killed_while_idle_is_reaped_without_waiting_for_a_job() {
    let _serial = pool();
    let pid = block_on(worker_pid()).unwrap().to_string();
    let killed = Command::new("kill").args(["-9", &pid]).status().unwrap();
    assert!(killed.success());
    // No job follows: the pool must notice on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the killed worker is left a zombie: {:?}",
        zombie_children()
    );
    let after = worker_pids();
    assert!(!after.contains(&pid.parse().unwrap()), "{after:?}");
}

#[executor(process)]
fn square(n: u64) -> u64 {
    n * n
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, ExecError>> + Send>>;

#[test]
fn eight_callers_with_panics_and_a_crash_mid_flight_lose_nothing() {
    let _serial = pool();
    let callers: Vec<_> = (0..8_u64)
        .map(|caller| {
            std::thread::spawn(move || {
                // Submitted all at once, then awaited: the jobs queue up.
                let jobs: Vec<(u64, Job)> = (0..20_u64)
                    .map(|i| {
                        let n = caller * 100 + i;
                        let job: Job = if caller == 3 && i == 10 {
                            let crash = abort_worker();
                            Box::pin(async { crash.await.map(u64::from) })
                        } else if i % 5 == 0 {
                            let panic = panic_in_worker(format!("p{n}"));
                            Box::pin(async { panic.await.map(u64::from) })
                        } else {
                            Box::pin(square(n))
                        };
                        (n, job)
                    })
                    .collect();
                for (n, job) in jobs {
                    let (i, outcome) = (n % 100, block_on(job));
                    match outcome {
                        Err(ExecError::WorkerDied { .. }) if caller == 3 && i == 10 => {}
                        Err(ExecError::Panicked(message)) if i % 5 == 0 => {
                            assert_eq!(message, format!("p{n}"));
                        }
                        Ok(value) if i % 5 != 0 => assert_eq!(value, n * n),
                        other => panic!("job {n}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    assert_eq!(block_on(square(12)), Ok(144));
}

/// Starts `sh -c 'read line'` with the worker's stdin, as any command a job
/// starts inherits it. `read` must meet the end of input at once, not the
/// job pipe: its exit code is 1 at end of input, and nothing was read.
#[executor(process, timeout = 30)]
fn run_a_command_that_reads_stdin() -> (Option<i32>, String) {
    let output = Command::new("sh")
        .args([
            "-c",
            "read line; status=$?; printf '%s' \"$line\"; exit $status",
        ])
        .stdin(Stdio::inherit())
        .stderr(Stdio::inherit())
        .output()
        .expect("sh runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn a_command_started_by_a_job_cannot_read_the_job_pipe() {
    let _serial = pool();
    for _ in 0..2 * WORKERS {
        assert_eq!(
            block_on(run_a_command_that_reads_stdin()),
            Ok((Some(1), String::new())),
            "the command read something other than an empty stdin"
        );
    }
    // Later jobs reach their workers intact.
    for n in 0..2 * WORKERS as u64 {
        assert_eq!(block_on(square(n)), Ok(n * n));
    }
}

/// Two functions of one name from one `macro_rules!` invocation: the same
/// module path, name, line and column.
macro_rules! two_same_named_jobs {
    () => {
        fn first_job() -> impl std::future::Future<Output = Result<String, ExecError>> {
            #[executor(process)]
            fn job() -> String {
                "first body".to_owned()
            }
            job()
        }

        fn second_job() -> impl std::future::Future<Output = Result<String, ExecError>> {
            #[executor(process)]
            fn job() -> String {
                "second body".to_owned()
            }
            job()
        }
    };
}

two_same_named_jobs!();

#[test]
fn same_named_functions_from_one_macro_run_their_own_bodies() {
    let _serial = pool();
    for _ in 0..WORKERS {
        assert_eq!(block_on(second_job()), Ok("second body".to_owned()));
        assert_eq!(block_on(first_job()), Ok("first body".to_owned()));
    }
}

/// A process function's own `Result` travels inside `Ok`.
#[executor(process)]
fn parse_port(text: String) -> Result<u16, String> {
    text.parse()
        .map_err(|error| format!("{text:?} is not a port: {error}"))
}

#[test]
fn a_process_functions_own_result_travels_inside_ok() {
    let _serial = pool();
    assert_eq!(block_on(parse_port("8080".into())), Ok(Ok(8080)));
    assert_eq!(
        block_on(parse_port("http".into())),
        Ok(Err(
            "\"http\" is not a port: invalid digit found in string".to_owned()
        ))
    );
}

const PRINTED_BY_JOB: &str = "printed on stdout by a process job";

#[executor(process)]
fn print_on_stdout() -> u32 {
    println!("{PRINTED_BY_JOB}");
    std::process::id()
}

/// In a child: runs a job that prints on stdout.
#[test]
#[ignore = "started by a_jobs_stdout_goes_to_stderr"]
fn child_printing_in_a_job() {
    require_role("print");
    let _serial = pool();
    let worker = block_on(print_on_stdout()).unwrap();
    assert_ne!(worker, std::process::id());
    println!("JOB-RAN");
}

#[test]
fn a_jobs_stdout_goes_to_stderr() {
    let _serial = pool();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_printing_in_a_job",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ROLE, "print")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("JOB-RAN"), "{stdout}");
    assert!(!stdout.contains(PRINTED_BY_JOB), "{stdout}");
    assert!(stderr.contains(PRINTED_BY_JOB), "{stderr}");
}
