//! `#[cached(persist = "redis")]`: a tier shared by processes, checked
//! against real `redis-server`s that these tests start on free loopback
//! ports (and kill, and restart). Every scenario runs in child processes
//! (this test binary started again), so that each has its own tier
//! configuration and several processes share one server, as replicas do.
//!
//! Without `redis-server` on the machine, each test says so on stderr and
//! passes, unless the environment variable `CI` is set: then it fails.
//! Each test that started a server writes `pagestate redis test ran:
//! <name>` to stderr, which `.ci/run` counts.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use pagestate::{cached, clear_all_caches, RedisConfig, RedisTier};

#[path = "support/redis_server.rs"]
mod redis_server;
use redis_server::{free_port, redis_server_binary, RedisServer};

// --- the functions under test, shared by the children -----------------------

const CHILD_ENV: &str = "PAGESTATE_TEST_REDIS_CHILD";
const DIR_ENV: &str = "PAGESTATE_TEST_REDIS_DIR";
const HANG_ENV: &str = "PAGESTATE_TEST_REDIS_HANG";
const LEASE_ENV: &str = "PAGESTATE_TEST_REDIS_LEASE_MS";
const COMMAND_TIMEOUT_ENV: &str = "PAGESTATE_TEST_REDIS_COMMAND_MS";
const PREFIX: &str = "pagestate-test:";

/// Body runs in this process.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Counts a body run in this process and, as a file, across processes.
fn record_run(function: &str) {
    let n = RUNS.fetch_add(1, Ordering::SeqCst);
    if let Some(dir) = std::env::var_os(DIR_ENV) {
        let file = Path::new(&dir).join(format!("run-{function}-{}-{n}", std::process::id()));
        std::fs::write(file, b"").unwrap();
    }
}

fn runs() -> usize {
    RUNS.load(Ordering::SeqCst)
}

fn test_dir() -> PathBuf {
    PathBuf::from(std::env::var_os(DIR_ENV).expect("the test's directory"))
}

/// Holds the body until every caller of the other process waits for it
/// (see [`announce_waiting`]), so that the body really overlaps the other
/// process's calls and they are served by this computation, not by a value
/// stored before they called.
///
/// The 60 s bound is the process's, not each call's: when it passes, the
/// body panics, a waiting caller of this process leads the retry and runs
/// the body again, and that one must fail at once, not wait 60 s more (8
/// callers would make the failure take 8 minutes).
fn wait_until_the_other_process_waits() {
    static DEADLINE: OnceLock<Instant> = OnceLock::new();
    let deadline = *DEADLINE.get_or_init(|| Instant::now() + Duration::from_secs(60));
    while files_starting_with(&test_dir(), "waiting-") == 0 {
        assert!(
            Instant::now() < deadline,
            "the other process's callers never all waited for this computation"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn files_starting_with(dir: &Path, prefix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[cached(persist = "redis")]
fn square(x: u64) -> u64 {
    record_run("square");
    x * x
}

#[cached(persist = "redis")]
fn slow_square(x: u64) -> u64 {
    record_run("slow_square");
    wait_until_the_other_process_waits();
    x * x
}

#[cached(persist = "redis")]
async fn async_square(x: u64) -> u64 {
    record_run("async_square");
    wait_until_the_other_process_waits();
    x * x
}

/// Hangs in the child that has `HANG_ENV` set, after saying so.
#[cached(persist = "redis")]
fn stuck(x: u64) -> u64 {
    record_run("stuck");
    if std::env::var_os(HANG_ENV).is_some() {
        println!("CHILD-ENTERED");
        loop {
            thread::sleep(Duration::from_secs(60));
        }
    }
    x * x
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Labels {
    values: Vec<String>,
}

#[cached(persist = "redis", ttl = 2)]
fn short_lived(x: u64) -> Labels {
    record_run("short_lived");
    Labels {
        values: vec![x.to_string(); 2],
    }
}

#[cached(persist = "redis")]
fn parse(text: &str) -> Result<u64, String> {
    record_run("parse");
    text.parse().map_err(|_| format!("not a number: {text}"))
}

/// The outage child's own server, which a body kills mid-call.
static OWN_SERVER: Mutex<Option<RedisServer>> = Mutex::new(None);

#[cached(persist = "redis")]
fn kills_redis_while_computing(x: u64) -> u64 {
    record_run("kills");
    if let Some(server) = OWN_SERVER.lock().unwrap().as_mut() {
        server.kill();
    }
    x + 1
}

// --- children ---------------------------------------------------------------

/// Counts the tier's warnings (outages) in a child.
struct CountingLogger {
    warnings: AtomicUsize,
    infos: AtomicUsize,
}

static LOGGER: CountingLogger = CountingLogger {
    warnings: AtomicUsize::new(0),
    infos: AtomicUsize::new(0),
};

impl log::Log for CountingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("pagestate")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        match record.level() {
            log::Level::Error | log::Level::Warn => {
                self.warnings.fetch_add(1, Ordering::SeqCst);
            }
            log::Level::Info => {
                self.infos.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }

    fn flush(&self) {}
}

/// Runs one scenario when started by [`Kid::start`]; a no-op in a normal
/// test run.
#[test]
#[ignore = "runs only as a child process of the Redis tests"]
fn redis_child() {
    let Ok(scenario) = std::env::var(CHILD_ENV) else {
        return;
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    // Generous timeouts for a loaded machine (a slow reply would count as
    // an outage); the default lease, but a short one where a test kills the
    // computing process.
    let lease = std::env::var(LEASE_ENV).map_or(Duration::from_secs(10), |ms| {
        Duration::from_millis(ms.parse().unwrap())
    });
    let command_timeout = std::env::var(COMMAND_TIMEOUT_ENV).map_or(Duration::from_secs(5), |ms| {
        Duration::from_millis(ms.parse().unwrap())
    });
    let config = RedisConfig::from_env()
        .connect_timeout(Duration::from_secs(5))
        .command_timeout(command_timeout)
        .lease(lease);
    RedisTier::configure(config).unwrap();
    let report = match scenario.as_str() {
        "square" => {
            let value = square(7);
            let stats = square::stats();
            format!(
                "value={value} runs={} redis_hits={} misses={}",
                runs(),
                stats.redis_hits,
                stats.misses
            )
        }
        "slow_square_threads" => {
            announce_waiting(8, slow_square::stats);
            let values = on_threads(8, || slow_square(5));
            format!("values={values:?} runs={}", runs())
        }
        "async_square_tokio" => {
            announce_waiting(8, async_square::stats);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .build()
                .unwrap();
            let values: Vec<u64> = runtime.block_on(async {
                let tasks: Vec<_> = (0..8).map(|_| tokio::spawn(async_square(5))).collect();
                let mut values = Vec::new();
                for task in tasks {
                    values.push(task.await.unwrap());
                }
                values
            });
            format!("values={:?} runs={}", dedup(values), runs())
        }
        "async_square_block_on" => {
            announce_waiting(8, async_square::stats);
            let values = on_threads(8, || futures::executor::block_on(async_square(5)));
            format!("values={values:?} runs={}", runs())
        }
        "stuck" => {
            println!("CHILD-CALLING");
            format!("value={} runs={}", stuck(3), runs())
        }
        "short_lived" => format!("value={:?} runs={}", short_lived(4).values, runs()),
        "parse" => {
            let bad = parse("x").is_err();
            let good = parse("12");
            format!("bad={bad} good={good:?} runs={}", runs())
        }
        "hold_then_recompute" => hold_then_recompute(),
        "clear" => {
            square::clear();
            "cleared".to_owned()
        }
        "invalidate" => format!("removed={}", square::invalidate(7)),
        "clear_all" => {
            clear_all_caches();
            "cleared".to_owned()
        }
        "outage" => outage(),
        "slow_redis" => slow_redis(),
        other => panic!("unknown scenario {other}"),
    };
    println!("CHILD-REPORT {report}");
}

/// Writes `waiting-<pid>` once all `callers` of this process wait for a
/// computation of the key: the one that leads here waits for the other
/// process in Redis, the others for it. In the process whose body computes,
/// one caller computes instead of waiting, so its count stays below
/// `callers` and it writes nothing.
fn announce_waiting(callers: usize, stats: fn() -> pagestate::CacheStats) {
    let file = test_dir().join(format!("waiting-{}", std::process::id()));
    thread::spawn(move || loop {
        if stats().waiting == callers {
            std::fs::write(&file, b"").unwrap();
            return;
        }
        thread::sleep(Duration::from_millis(5));
    });
}

/// Calls `call` on `n` threads released together; the distinct results.
fn on_threads(n: usize, call: impl Fn() -> u64 + Send + Sync + 'static) -> Vec<u64> {
    let call = Arc::new(call);
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (call, start) = (call.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                call()
            })
        })
        .collect();
    dedup(threads.into_iter().map(|t| t.join().unwrap()).collect())
}

fn dedup(values: Vec<u64>) -> Vec<u64> {
    let mut values: Vec<u64> = values
        .into_iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    values.sort_unstable();
    values
}

/// Computes `square(7)`, keeps it in memory, and once told to go, waits
/// (boundedly) for another process's clear to drop the memory copy, then
/// calls again.
fn hold_then_recompute() -> String {
    square(7);
    assert_eq!(square::stats().entries, 1);
    println!("CHILD-READY");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while square::stats().entries > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let dropped = square::stats().entries == 0;
    let value = square(7);
    format!("dropped={dropped} value={value} runs={}", runs())
}

/// Redis down at start, up later, killed mid-call, restarted: every call
/// returns its value, the outage is logged once per outage, and the tier
/// is used again once Redis is back.
fn outage() -> String {
    let server_url = RedisTier::config().url;
    let port: u16 = server_url.rsplit(':').next().unwrap().parse().unwrap();
    let binary = redis_server_binary().unwrap();
    let mut report = Vec::new();

    // Down at start: computed locally, cached in memory, one warning.
    let started = Instant::now();
    assert_eq!((square(1), square(1), square(2)), (1, 1, 4));
    report.push(format!(
        "down: runs={} warnings={} connected={}",
        runs(),
        LOGGER.warnings.load(Ordering::SeqCst),
        RedisTier::is_connected()
    ));
    let down_for = started.elapsed();

    // Redis appears: the tier connects by itself and drops memory copies
    // (events may have been missed), so the next call recomputes and stores.
    *OWN_SERVER.lock().unwrap() = Some(RedisServer::start_on(binary.clone(), port));
    let reconnected = wait_until(RedisTier::is_connected);
    assert_eq!(square(1), 1);
    let stored = with_server(|server| server.value_keys(PREFIX).len());
    report.push(format!(
        "up: reconnected={reconnected} runs={} stored={stored}",
        runs()
    ));

    // Killed during a body: the value is still returned.
    let killed_runs = runs();
    let value = kills_redis_while_computing(1);
    let after_kill = square(3);
    report.push(format!(
        "killed: value={value} then={after_kill} runs={} warnings={}",
        runs() - killed_runs,
        LOGGER.warnings.load(Ordering::SeqCst)
    ));

    // Restarted on the same port: used again.
    with_server(|server| server.restart());
    let reconnected = wait_until(RedisTier::is_connected);
    assert_eq!(square(4), 16);
    let stored = with_server(|server| server.value_keys(PREFIX).len());
    report.push(format!(
        "restarted: reconnected={reconnected} stored={stored}"
    ));
    report.push(format!("bounded={}", down_for < Duration::from_secs(20)));
    // A static is never dropped: stop the server here, or it outlives the
    // test run.
    drop(OWN_SERVER.lock().unwrap().take());
    report.join("; ")
}

/// Redis stops answering (`CLIENT PAUSE`) for longer than the command
/// timeout: the call computes locally once the timeout passes, and the
/// tier is used again when Redis answers again.
fn slow_redis() -> String {
    assert_eq!(square(1), 1);
    let url = RedisTier::config().url;
    let mut raw = redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query::<()>(&mut raw)
        .unwrap();
    let started = Instant::now();
    let value = square(2);
    let took = started.elapsed();
    let warnings = LOGGER.warnings.load(Ordering::SeqCst);
    let reconnected = wait_until(RedisTier::is_connected);
    assert_eq!(square(3), 9);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}*"))
        .query(&mut raw)
        .unwrap();
    let stored = keys
        .iter()
        .filter(|key| key.len() == PREFIX.len() + 65)
        .count();
    format!(
        "value={value} bounded={} warnings={warnings} reconnected={reconnected} stored={stored} \
         runs={}",
        took < Duration::from_millis(2500),
        runs()
    )
}

fn with_server<T>(f: impl FnOnce(&mut RedisServer) -> T) -> T {
    f(OWN_SERVER
        .lock()
        .unwrap()
        .as_mut()
        .expect("the outage child's server"))
}

fn wait_until(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// A child process running one scenario, whose stdout lines arrive on a
/// channel (so the parent can wait for them with a timeout) and whose
/// stdin the parent can write to.
struct Kid {
    scenario: String,
    process: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Kid {
    fn start(server_url: &str, dir: &Path, scenario: &str, extra_env: &[(&str, &str)]) -> Kid {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "redis_child",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, scenario)
            .env("PAGESTATE_REDIS_URL", server_url)
            .env("PAGESTATE_REDIS_PREFIX", PREFIX)
            .env(DIR_ENV, dir)
            .env("PAGESTATE_CACHE_DIR", dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut process = command.spawn().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (send, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Kid {
            scenario: scenario.to_owned(),
            stdin: process.stdin.take(),
            process,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `marker`; returns what follows it.
    fn expect(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find(marker) {
                        return line[at + marker.len()..].trim().to_owned();
                    }
                    self.seen.push(line);
                }
                Err(_) => panic!(
                    "child {} never printed {marker} (hung or failed); it printed:\n{}",
                    self.scenario,
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The child's report, after it exited successfully.
    fn report(mut self) -> String {
        let report = self.expect("CHILD-REPORT");
        let status = self.process.wait().unwrap();
        assert!(status.success(), "child {} failed", self.scenario);
        report
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn run_kid(server: &RedisServer, dir: &Path, scenario: &str) -> String {
    Kid::start(&server.url(), dir, scenario, &[]).report()
}

/// A fresh, empty directory under the system's temp dir.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "pagestate-redis-test-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn runs_of(&self, function: &str) -> usize {
        files_starting_with(&self.0, &format!("run-{function}-"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// --- the tests ----------------------------------------------------------------

#[test]
fn two_processes_of_eight_threads_run_the_body_once() {
    let Some(server) = RedisServer::start("two_processes_of_eight_threads_run_the_body_once")
    else {
        return;
    };
    let dir = TempDir::new("eight-threads");
    let a = Kid::start(&server.url(), &dir.0, "slow_square_threads", &[]);
    let b = Kid::start(&server.url(), &dir.0, "slow_square_threads", &[]);
    let reports = [a.report(), b.report()];
    for report in &reports {
        assert!(report.starts_with("values=[25] "), "{report}");
    }
    assert_eq!(dir.runs_of("slow_square"), 1, "{reports:?}");
}

#[test]
fn async_callers_under_tokio_and_block_on_in_two_processes_run_the_body_once() {
    let test = "async_callers_under_tokio_and_block_on_in_two_processes_run_the_body_once";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("async");
    let tokio = Kid::start(&server.url(), &dir.0, "async_square_tokio", &[]);
    let block_on = Kid::start(&server.url(), &dir.0, "async_square_block_on", &[]);
    let reports = [tokio.report(), block_on.report()];
    for report in &reports {
        assert!(report.starts_with("values=[25] "), "{report}");
    }
    assert_eq!(dir.runs_of("async_square"), 1, "{reports:?}");
}

#[test]
fn a_value_computed_in_one_process_is_a_redis_hit_in_another() {
    let test = "a_value_computed_in_one_process_is_a_redis_hit_in_another";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("hit");
    assert_eq!(
        run_kid(&server, &dir.0, "square"),
        "value=49 runs=1 redis_hits=0 misses=1"
    );
    assert_eq!(
        run_kid(&server, &dir.0, "square"),
        "value=49 runs=0 redis_hits=1 misses=1",
        "served from Redis"
    );
    // The documented layout: one value key, `{prefix}{identity}:{key hash}`,
    // and no lease left behind.
    let keys = server.value_keys(PREFIX);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let leases: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{PREFIX}*:lease"))
        .query(&mut server.conn())
        .unwrap();
    assert!(leases.is_empty(), "{leases:?}");
}

#[test]
fn an_err_is_not_stored_in_redis() {
    let test = "an_err_is_not_stored_in_redis";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("err");
    assert_eq!(
        run_kid(&server, &dir.0, "parse"),
        "bad=true good=Ok(12) runs=2"
    );
    assert_eq!(
        run_kid(&server, &dir.0, "parse"),
        "bad=true good=Ok(12) runs=1",
        "the Err ran again, the Ok came from Redis"
    );
    assert_eq!(server.value_keys(PREFIX).len(), 1);
}

/// One process holds a value in memory; another clears it (`mode`); the
/// first drops its memory copy and recomputes.
fn clear_reaches_another_process(test: &str, mode: &str, expected: &str) {
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new(mode);
    let mut holder = Kid::start(&server.url(), &dir.0, "hold_then_recompute", &[]);
    holder.expect("CHILD-READY");
    assert_eq!(server.value_keys(PREFIX).len(), 1);
    assert_eq!(run_kid(&server, &dir.0, mode), expected);
    assert!(server.value_keys(PREFIX).is_empty(), "gone from Redis");
    holder.send("go");
    assert_eq!(holder.report(), "dropped=true value=49 runs=2");
}

#[test]
fn a_clear_in_one_process_makes_the_others_recompute() {
    clear_reaches_another_process(
        "a_clear_in_one_process_makes_the_others_recompute",
        "clear",
        "cleared",
    );
}

#[test]
fn an_invalidate_in_one_process_makes_the_others_recompute() {
    clear_reaches_another_process(
        "an_invalidate_in_one_process_makes_the_others_recompute",
        "invalidate",
        "removed=true",
    );
}

#[test]
fn clear_all_caches_in_one_process_makes_the_others_recompute() {
    clear_reaches_another_process(
        "clear_all_caches_in_one_process_makes_the_others_recompute",
        "clear_all",
        "cleared",
    );
}

#[test]
fn a_process_killed_mid_body_hands_the_key_over_when_its_lease_expires() {
    let test = "a_process_killed_mid_body_hands_the_key_over_when_its_lease_expires";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("killed");
    let lease = (LEASE_ENV, "1500");
    let mut doomed = Kid::start(&server.url(), &dir.0, "stuck", &[(HANG_ENV, "1"), lease]);
    doomed.expect("CHILD-ENTERED");
    let mut waiter = Kid::start(&server.url(), &dir.0, "stuck", &[lease]);
    waiter.expect("CHILD-CALLING");
    // The waiter finds the lease taken (its holder is inside the body) and
    // waits; the holder dies without a word.
    drop(doomed);
    assert_eq!(waiter.report(), "value=9 runs=1");
    assert_eq!(
        dir.runs_of("stuck"),
        2,
        "the dead process's run and the waiter's"
    );
}

#[test]
fn ttl_expires_in_redis() {
    let test = "ttl_expires_in_redis";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("ttl");
    let computed = "value=[\"4\", \"4\"] runs=1";
    assert_eq!(run_kid(&server, &dir.0, "short_lived"), computed);
    let keys = server.value_keys(PREFIX);
    assert_eq!(keys.len(), 1);
    let left: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query(&mut server.conn())
        .unwrap();
    assert!(
        0 < left && left <= 2000,
        "a Redis expiry of the ttl, got {left} ms"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.value_keys(PREFIX).is_empty() {
        assert!(Instant::now() < deadline, "the key never expired");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        run_kid(&server, &dir.0, "short_lived"),
        computed,
        "expired: computed again"
    );
}

#[test]
fn a_corrupt_or_foreign_value_in_redis_is_recomputed_and_replaced() {
    let test = "a_corrupt_or_foreign_value_in_redis_is_recomputed_and_replaced";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("corrupt");
    let computed = "value=49 runs=1 redis_hits=0 misses=1";
    let served = "value=49 runs=0 redis_hits=1 misses=1";
    assert_eq!(run_kid(&server, &dir.0, "square"), computed);
    let key = server.value_keys(PREFIX).remove(0);
    let mut conn = server.conn();
    let mut bytes: Vec<u8> = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    // The payload is postcard's one-byte varint 49; 5 still decodes, as a
    // wrong value: only the checksum can tell.
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], 49);
    bytes[last] = 5;
    let plant = |conn: &mut redis::Connection, cmd: &mut redis::Cmd| {
        redis::cmd("DEL").arg(&key).query::<i64>(conn).unwrap();
        cmd.query::<()>(conn).unwrap();
    };
    plant(&mut conn, redis::cmd("SET").arg(&key).arg(bytes));
    assert_eq!(run_kid(&server, &dir.0, "square"), computed, "recomputed");
    assert_eq!(run_kid(&server, &dir.0, "square"), served, "and replaced");

    plant(&mut conn, redis::cmd("SET").arg(&key).arg("garbage"));
    assert_eq!(run_kid(&server, &dir.0, "square"), computed);
    plant(&mut conn, redis::cmd("RPUSH").arg(&key).arg("a list"));
    assert_eq!(run_kid(&server, &dir.0, "square"), computed, "another type");
    assert_eq!(run_kid(&server, &dir.0, "square"), served);
}

#[test]
fn calls_succeed_through_redis_outages_and_the_tier_comes_back() {
    let test = "calls_succeed_through_redis_outages_and_the_tier_comes_back";
    // The child starts, kills and restarts its own server on this port.
    if RedisServer::start(test).is_none() {
        return;
    }
    let dir = TempDir::new("outage");
    let url = format!("redis://127.0.0.1:{}", free_port());
    let report = Kid::start(&url, &dir.0, "outage", &[]).report();
    assert_eq!(
        report,
        "down: runs=2 warnings=1 connected=false; \
         up: reconnected=true runs=3 stored=1; \
         killed: value=2 then=9 runs=2 warnings=2; \
         restarted: reconnected=true stored=1; \
         bounded=true"
    );
}

#[test]
fn a_redis_slower_than_the_command_timeout_is_an_outage_not_a_hang() {
    let test = "a_redis_slower_than_the_command_timeout_is_an_outage_not_a_hang";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("slow");
    let report = Kid::start(
        &server.url(),
        &dir.0,
        "slow_redis",
        &[(COMMAND_TIMEOUT_ENV, "300")],
    )
    .report();
    // Key 2 was computed during the pause and kept in memory only; keys 1
    // and 3 are in Redis.
    assert_eq!(
        report,
        "value=4 bounded=true warnings=1 reconnected=true stored=2 runs=3"
    );
}

#[test]
fn apps_under_different_prefixes_share_a_server_without_sharing_entries() {
    let test = "apps_under_different_prefixes_share_a_server_without_sharing_entries";
    let Some(server) = RedisServer::start(test) else {
        return;
    };
    let dir = TempDir::new("prefixes");
    let computed = "value=49 runs=1 redis_hits=0 misses=1";
    let other_app = [("PAGESTATE_REDIS_PREFIX", "other-app:")];
    assert_eq!(run_kid(&server, &dir.0, "square"), computed);
    let report = Kid::start(&server.url(), &dir.0, "square", &other_app).report();
    assert_eq!(report, computed, "another prefix, another cache");
    assert_eq!(server.value_keys(PREFIX).len(), 1);
    assert_eq!(server.value_keys("other-app:").len(), 1);
    // A clear of every cache in one app leaves the other's entries.
    let report = Kid::start(&server.url(), &dir.0, "clear_all", &other_app).report();
    assert_eq!(report, "cleared");
    assert_eq!(server.value_keys(PREFIX).len(), 1);
    assert!(server.value_keys("other-app:").is_empty());
}
