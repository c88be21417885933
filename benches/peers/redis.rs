//! Figures 11-13: the Redis tier, `#[pagestate::cached(persist = "redis")]`,
//! against the `cached` crate's Redis store (`#[concurrent_cached(redis =
//! true)]`, feature `redis_store`), both on one `redis-server` that the
//! bench starts on a free loopback port (`REDIS_SERVER` names the binary;
//! without one these figures are skipped, with a message).
//!
//! In figures 11 and 13 both sides memoize the same body returning
//! `Result<u64, String>` (the `cached` store requires a `Result`) with a
//! 600 s ttl.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use pagestate::{RedisConfig, RedisTier};
use pagestate_benches::figure::Figure;
use pagestate_benches::measure::{busy_wait, Contender, Plan};
use pagestate_benches::report::{Report, Shown};

/// Distinct keys the hit figures cycle through.
const KEYS: u64 = 64;

/// Keys per miss storm (figure 13), each computed once per storm.
const STORM_KEYS: u64 = 1_000;

/// What one miss costs in figure 13's body.
const STORM_BODY: Duration = Duration::from_micros(10);

/// Set in the second process of figure 13.
const STORM_CHILD: &str = "PAGESTATE_BENCH_STORM_CHILD";

/// One entry in memory: with keys cycling over [`KEYS`], every call misses
/// memory and is answered by Redis.
#[pagestate::cached(persist = "redis", ttl = 600, max_entries = 1)]
fn pagestate_redis_hit(n: u64) -> Result<u64, String> {
    Ok(n.wrapping_mul(n))
}

#[cached::macros::concurrent_cached(
    redis = true,
    ttl_secs = 600,
    cache_prefix_block = r##"{ "pagestate-bench-hit" }"##,
    map_error = r##"|e| format!("{e:?}")"##
)]
fn cached_redis_hit(n: u64) -> Result<u64, String> {
    Ok(n.wrapping_mul(n))
}

/// A `persist = "redis"` function whose calls hit memory.
#[pagestate::cached(persist = "redis", ttl = 600)]
fn pagestate_redis_memory(n: u64) -> u64 {
    n.wrapping_mul(n)
}

/// Figure 1's function (memory only), for figure 12's comparison.
#[pagestate::cached(ttl = 600)]
fn pagestate_memory(n: u64) -> u64 {
    n.wrapping_mul(n)
}

/// Body runs of the storm functions in this process.
static PAGESTATE_STORM_RUNS: AtomicU64 = AtomicU64::new(0);
static CACHED_STORM_RUNS: AtomicU64 = AtomicU64::new(0);

#[pagestate::cached(persist = "redis", ttl = 600)]
fn pagestate_redis_storm(n: u64) -> Result<u64, String> {
    PAGESTATE_STORM_RUNS.fetch_add(1, Ordering::Relaxed);
    busy_wait(STORM_BODY);
    Ok(n)
}

#[cached::macros::concurrent_cached(
    redis = true,
    ttl_secs = 600,
    cache_prefix_block = r##"{ "pagestate-bench-storm" }"##,
    map_error = r##"|e| format!("{e:?}")"##
)]
fn cached_redis_storm(n: u64) -> Result<u64, String> {
    CACHED_STORM_RUNS.fetch_add(1, Ordering::Relaxed);
    busy_wait(STORM_BODY);
    Ok(n)
}

/// The bench's own `redis-server`, started by the first Redis figure and
/// killed when the bench ends.
static SERVER: Mutex<Option<Server>> = Mutex::new(None);

struct Server {
    process: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts the server and points both contenders at it; `false` when there
/// is no `redis-server` to start.
fn ensure_server() -> bool {
    let mut server = SERVER.lock().unwrap();
    if server.is_some() {
        return true;
    }
    let Some(binary) = redis_server_binary() else {
        println!("\n(figures 11-13 skipped: no redis-server; install Debian's redis-server)");
        return false;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let process = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let url = format!("redis://127.0.0.1:{port}");
    let started = Server { process, url };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answers(&started.url) {
        assert!(Instant::now() < deadline, "redis-server never answered");
        thread::sleep(Duration::from_millis(20));
    }
    // Both sides read their server from the environment (the storm's second
    // process inherits it); the tier is configured before its first use.
    std::env::set_var("PAGESTATE_REDIS_URL", &started.url);
    std::env::set_var("CACHED_REDIS_CONNECTION_STRING", &started.url);
    RedisTier::configure(RedisConfig::from_env()).expect("configured before first use");
    *server = Some(started);
    true
}

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(1)))
        .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
        .is_ok()
}

fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

/// Kills the bench's server (the process exits without running statics'
/// destructors).
pub fn stop_server() {
    SERVER.lock().unwrap().take();
}

/// Figure 11: a hit that memory misses and Redis answers, against the
/// `cached` crate's Redis store's hit (a Redis GET per call).
pub fn redis_hit(plan: Plan, report: &mut Report) {
    if !ensure_server() {
        return;
    }
    for n in 0..KEYS {
        pagestate_redis_hit(n).unwrap();
        cached_redis_hit(n).unwrap();
    }
    let mut figure = Figure::new("11. Redis-tier hit (memory miss), u64 key", Shown::Time);
    let ours = figure.add(Contender::looped(
        "pagestate #[cached(persist = \"redis\", ttl = 600, max_entries = 1)]",
        |i| {
            black_box(pagestate_redis_hit(black_box(i % KEYS))).unwrap();
        },
    ));
    let theirs = figure.add(Contender::looped(
        "cached #[concurrent_cached(redis = true, ttl_secs = 600)]",
        |i| {
            black_box(cached_redis_hit(black_box(i % KEYS))).unwrap();
        },
    ));
    figure.row(ours, theirs, Some(1.0));
    figure.run(plan, report);
    let stats = pagestate_redis_hit::stats();
    println!(
        "    pagestate: {} Redis hits of {} memory misses",
        stats.redis_hits, stats.misses
    );
}

/// Figure 12: a memory hit of a `persist = "redis"` function, against
/// figure 1's memory-only function (same signature, `fn(u64) -> u64`).
pub fn redis_memory_hit(plan: Plan, report: &mut Report) {
    if !ensure_server() {
        return;
    }
    for n in 0..KEYS {
        pagestate_redis_memory(n);
        pagestate_memory(n);
    }
    let mut figure = Figure::new(
        "12. memory hit of a persist = \"redis\" fn, u64 key",
        Shown::Time,
    );
    let ours = figure.add(Contender::looped(
        "pagestate #[cached(persist = \"redis\", ttl = 600)]",
        |i| {
            black_box(pagestate_redis_memory(black_box(i % KEYS)));
        },
    ));
    let memory = figure.add(Contender::looped(
        "pagestate #[cached(ttl = 600)] (memory only, as figure 1)",
        |i| {
            black_box(pagestate_memory(black_box(i % KEYS)));
        },
    ));
    figure.row(ours, memory, Some(1.1));
    figure.run(plan, report);
}

/// Figure 13: a miss storm from two processes. This process and a second
/// one (this bench started again) ask for the same [`STORM_KEYS`] fresh
/// keys, one ascending and one descending, each miss costing
/// [`STORM_BODY`]. pagestate's lease lets one process compute each key and
/// the other wait for it; the `cached` store has no cross-process
/// single-flight, so keys both reach before either stored are computed
/// twice. A batch is one storm; the body runs per storm are printed.
pub fn miss_storm_two_processes(plan: Plan, report: &mut Report) {
    if !ensure_server() {
        return;
    }
    let peer = Mutex::new(StormPeer::start());
    let next_key = AtomicU64::new(0);
    let storms = [AtomicU64::new(0), AtomicU64::new(0)];
    let peer_runs = [AtomicU64::new(0), AtomicU64::new(0)];
    let contender = |side: usize, name: &'static str| {
        let (peer, next_key, storms, peer_runs) = (&peer, &next_key, &storms, &peer_runs);
        Contender::timed(name, move |_| {
            let first = next_key.fetch_add(STORM_KEYS, Ordering::Relaxed);
            let mut peer = peer.lock().unwrap();
            let start = Instant::now();
            peer.send(side, first);
            storm(side, first, false);
            peer_runs[side].fetch_add(peer.done(), Ordering::Relaxed);
            let took = start.elapsed();
            storms[side].fetch_add(1, Ordering::Relaxed);
            took
        })
        .fixed_iters(1)
    };
    let mut figure = Figure::new(
        "13. miss storm, 1,000 keys x 10 µs, two processes",
        Shown::Time,
    )
    .max_samples(21);
    let ours = figure.add(contender(0, "pagestate #[cached(persist = \"redis\")]"));
    let theirs = figure.add(contender(1, "cached #[concurrent_cached(redis = true)]"));
    figure.row(ours, theirs, None);
    figure.run(plan, report);
    let local = [&PAGESTATE_STORM_RUNS, &CACHED_STORM_RUNS];
    for (side, name) in ["pagestate", "cached"].into_iter().enumerate() {
        let count = storms[side].load(Ordering::Relaxed).max(1);
        let total = local[side].load(Ordering::Relaxed) + peer_runs[side].load(Ordering::Relaxed);
        println!(
            "    {name:<10} {:.1} body runs per storm of {STORM_KEYS} keys (both processes)",
            total as f64 / count as f64
        );
    }
}

/// Calls every key of one storm, ascending or (in the peer) descending.
fn storm(side: usize, first: u64, descending: bool) {
    for i in 0..STORM_KEYS {
        let offset = if descending { STORM_KEYS - 1 - i } else { i };
        let key = black_box(first + offset);
        let value = match side {
            0 => pagestate_redis_storm(key),
            _ => cached_redis_storm(key),
        };
        assert_eq!(value, Ok(key));
    }
}

/// The second process of figure 13, driven over its stdin and stdout.
struct StormPeer {
    process: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl StormPeer {
    fn start() -> StormPeer {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .env(STORM_CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the storm's second process");
        let stdin = process.stdin.take().unwrap();
        let stdout = BufReader::new(process.stdout.take().unwrap());
        StormPeer {
            process,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, side: usize, first: u64) {
        writeln!(self.stdin, "{side} {first}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the storm's end; the body runs it cost the peer.
    fn done(&mut self) -> u64 {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("storm peer said {line:?}"))
    }
}

impl Drop for StormPeer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// In the storm's second process: serves storms until stdin closes, then
/// exits. Does nothing in the bench itself.
pub fn serve_storm_peer() {
    if std::env::var_os(STORM_CHILD).is_none() {
        return;
    }
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut parts = line.split(' ');
        let (Some(side), Some(first)) = (parts.next(), parts.next()) else {
            break;
        };
        let (side, first): (usize, u64) = (side.parse().unwrap(), first.parse().unwrap());
        let runs = [&PAGESTATE_STORM_RUNS, &CACHED_STORM_RUNS][side];
        let before = runs.load(Ordering::Relaxed);
        storm(side, first, true);
        let ran = runs.load(Ordering::Relaxed) - before;
        writeln!(stdout, "{ran}").unwrap();
        stdout.flush().unwrap();
    }
    std::process::exit(0);
}
