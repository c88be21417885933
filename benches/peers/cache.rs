//! Figures 1-4: `#[pagestate::cached]` against the `cached` crate.
//!
//! Both sides memoize the same body with the same signature. `cached` 4.x
//! spells `#[cached(time = 600)]` as `#[cached(ttl_secs = 600)]`; that is
//! what these figures use. Hits cycle through [`KEYS`] keys that are cached
//! before measuring starts, so every measured call is a hit.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use pagestate_benches::figure::Figure;
use pagestate_benches::measure::{busy_wait, on_threads, Contender, Plan};
use pagestate_benches::report::{Report, Shown};

/// Distinct keys the hit figures cycle through.
const KEYS: u64 = 64;

/// Keys per miss storm (figure 4), each computed once per storm.
const STORM_KEYS: u64 = 1_000;

/// What one miss costs in figure 4's body.
const STORM_BODY: Duration = Duration::from_micros(10);

#[pagestate::cached(ttl = 600)]
fn pagestate_square(n: u64) -> u64 {
    n.wrapping_mul(n)
}

#[cached::macros::cached(ttl_secs = 600)]
fn cached_square(n: u64) -> u64 {
    n.wrapping_mul(n)
}

#[pagestate::cached(ttl = 600)]
fn pagestate_key_len(key: String) -> usize {
    key.len()
}

#[cached::macros::cached(ttl_secs = 600)]
fn cached_key_len(key: String) -> usize {
    key.len()
}

/// Body runs of the miss-storm functions, to check that each key was
/// computed once per storm.
static PAGESTATE_STORM_RUNS: AtomicU64 = AtomicU64::new(0);
static CACHED_SYNC_RUNS: AtomicU64 = AtomicU64::new(0);
static CACHED_BY_KEY_RUNS: AtomicU64 = AtomicU64::new(0);

#[pagestate::cached(ttl = 600)]
fn pagestate_storm(n: u64) -> u64 {
    PAGESTATE_STORM_RUNS.fetch_add(1, Ordering::Relaxed);
    busy_wait(STORM_BODY);
    n
}

#[cached::macros::cached(ttl_secs = 600, sync_writes = true)]
fn cached_storm_sync(n: u64) -> u64 {
    CACHED_SYNC_RUNS.fetch_add(1, Ordering::Relaxed);
    busy_wait(STORM_BODY);
    n
}

#[cached::macros::cached(ttl_secs = 600, sync_writes = "by_key")]
fn cached_storm_by_key(n: u64) -> u64 {
    CACHED_BY_KEY_RUNS.fetch_add(1, Ordering::Relaxed);
    busy_wait(STORM_BODY);
    n
}

/// Figure 1: a hit on `fn(u64) -> u64` from one thread, against `cached`,
/// and for context against a raw moka `get` and a `Mutex<HashMap>` lookup
/// (no function call around them, no clone of the value beyond a copy).
pub fn hit_one_thread(plan: Plan, report: &mut Report) {
    let moka = moka::sync::Cache::<u64, u64>::builder()
        .time_to_live(Duration::from_secs(600))
        .build();
    let map = Mutex::new(HashMap::<u64, u64>::new());
    for n in 0..KEYS {
        pagestate_square(n);
        cached_square(n);
        moka.insert(n, n.wrapping_mul(n));
        map.lock().unwrap().insert(n, n.wrapping_mul(n));
    }

    let mut figure = Figure::new("1. cached hit, u64 key, one thread", Shown::Time);
    let ours = figure.add(Contender::looped("pagestate #[cached(ttl = 600)]", |i| {
        black_box(pagestate_square(black_box(i % KEYS)));
    }));
    let theirs = figure.add(Contender::looped("cached #[cached(ttl_secs = 600)]", |i| {
        black_box(cached_square(black_box(i % KEYS)));
    }));
    let moka_get = figure.add(Contender::looped("moka::sync::Cache::get", |i| {
        black_box(moka.get(&black_box(i % KEYS)));
    }));
    let mutex_get = figure.add(Contender::looped("Mutex<HashMap<u64, u64>> lookup", |i| {
        black_box(map.lock().unwrap().get(&black_box(i % KEYS)).copied());
    }));
    figure.row(ours, theirs, Some(1.0));
    figure.row(ours, moka_get, None);
    figure.row(ours, mutex_get, None);
    figure.run(plan, report);
}

/// Figure 2: two threads hitting one cache, as combined throughput.
pub fn hit_two_threads(plan: Plan, report: &mut Report) {
    for n in 0..KEYS {
        pagestate_square(n);
        cached_square(n);
    }
    let mut figure = Figure::new(
        "2. cached hit, u64 key, two threads (throughput)",
        Shown::Throughput,
    );
    let ours = figure.add(Contender::threaded(
        "pagestate #[cached(ttl = 600)]",
        2,
        |_, i| {
            black_box(pagestate_square(black_box(i % KEYS)));
        },
    ));
    let theirs = figure.add(Contender::threaded(
        "cached #[cached(ttl_secs = 600)]",
        2,
        |_, i| {
            black_box(cached_square(black_box(i % KEYS)));
        },
    ));
    figure.row(ours, theirs, Some(0.67));
    figure.run(plan, report);
}

/// Figure 3: a hit with an owned `String` key. Both functions take the
/// `String` by value, so each call clones one of the prepared keys: the same
/// allocation on both sides, as a caller holding a `String` would write it.
pub fn hit_string_key(plan: Plan, report: &mut Report) {
    let keys: Vec<String> = (0..KEYS)
        .map(|n| format!("reports/2026/page-{n:04}"))
        .collect();
    for key in &keys {
        pagestate_key_len(key.clone());
        cached_key_len(key.clone());
    }
    let key = |i: u64| black_box(&keys[(i % KEYS) as usize]).clone();
    let mut figure = Figure::new("3. cached hit, String key, one thread", Shown::Time);
    let ours = figure.add(Contender::looped("pagestate #[cached(ttl = 600)]", |i| {
        black_box(pagestate_key_len(key(i)));
    }));
    let theirs = figure.add(Contender::looped("cached #[cached(ttl_secs = 600)]", |i| {
        black_box(cached_key_len(key(i)));
    }));
    figure.row(ours, theirs, Some(1.0));
    figure.run(plan, report);
}

/// Figure 4: a miss storm. Two threads ask for the same [`STORM_KEYS`] fresh
/// keys, one in ascending and one in descending order, and each miss costs
/// [`STORM_BODY`] of CPU. A cache that computes distinct keys in parallel and
/// each key once finishes in about half the serial time; `cached` with
/// `sync_writes = true` holds its cache lock while computing, so its misses
/// run one at a time. `sync_writes = "by_key"` (per-key locks) is shown for
/// context. A batch is one storm; each storm uses keys never asked before.
pub fn miss_storm(plan: Plan, report: &mut Report) {
    let ours = StormFn::new(
        "pagestate #[cached(ttl = 600)]",
        pagestate_storm,
        &PAGESTATE_STORM_RUNS,
    );
    let sync = StormFn::new(
        "cached #[cached(ttl_secs = 600, sync_writes = true)]",
        cached_storm_sync,
        &CACHED_SYNC_RUNS,
    );
    let by_key = StormFn::new(
        "cached #[cached(ttl_secs = 600, sync_writes = \"by_key\")]",
        cached_storm_by_key,
        &CACHED_BY_KEY_RUNS,
    );
    let mut figure = Figure::new(
        "4. miss storm, 1,000 keys x 10 µs, two threads",
        Shown::Time,
    )
    .max_samples(31);
    let ours_entry = figure.add(ours.contender());
    let sync_entry = figure.add(sync.contender());
    let by_key_entry = figure.add(by_key.contender());
    figure.row(ours_entry, sync_entry, Some(1.0));
    figure.row(ours_entry, by_key_entry, None);
    figure.run(plan, report);
    for function in [&ours, &sync, &by_key] {
        function.print_runs();
    }
}

/// Where the next storm's keys start: every storm gets keys never asked
/// before, whichever function it calls.
static NEXT_STORM_KEY: AtomicU64 = AtomicU64::new(0);

/// A memoized function in the miss storm, with the count of its body runs.
struct StormFn {
    name: &'static str,
    function: fn(u64) -> u64,
    body_runs: &'static AtomicU64,
    storms: AtomicU64,
}

impl StormFn {
    fn new(name: &'static str, function: fn(u64) -> u64, body_runs: &'static AtomicU64) -> Self {
        StormFn {
            name,
            function,
            body_runs,
            storms: AtomicU64::new(0),
        }
    }

    /// A contender whose batch is one storm on fresh keys.
    fn contender(&self) -> Contender<'_> {
        Contender::timed(self.name, move |_| {
            self.storms.fetch_add(1, Ordering::Relaxed);
            let first = NEXT_STORM_KEY.fetch_add(STORM_KEYS, Ordering::Relaxed);
            on_threads(2, |thread| {
                for i in 0..STORM_KEYS {
                    let offset = if thread == 0 { i } else { STORM_KEYS - 1 - i };
                    black_box((self.function)(black_box(first + offset)));
                }
            })
        })
        .fixed_iters(1)
    }

    /// Prints how many times the body ran per storm: the key count when
    /// every key was computed once.
    fn print_runs(&self) {
        let storms = self.storms.load(Ordering::Relaxed).max(1);
        println!(
            "    {:<56} {:.1} body runs per storm of {STORM_KEYS} keys",
            self.name,
            self.body_runs.load(Ordering::Relaxed) as f64 / storms as f64
        );
    }
}
