//! Valid functions that `#[cached]` must take as they are: a body with inner
//! attributes, keys of more than 12 arguments, a ttl of `Duration::MAX`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pagestate::cached;

// --- inner attributes stay in the body -------------------------------------

static INNER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
fn with_inner_attribute(x: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = x;
    INNER_RUNS.fetch_add(1, Ordering::SeqCst);
    x * 2
}

#[cached(ttl = 60)]
async fn async_with_inner_attribute(x: u64) -> u64 {
    #![allow(clippy::let_and_return)]
    let doubled = x * 2;
    doubled
}

#[test]
fn a_body_may_start_with_inner_attributes() {
    assert_eq!(with_inner_attribute(4), 8);
    assert_eq!(with_inner_attribute(4), 8);
    assert_eq!(
        INNER_RUNS.load(Ordering::SeqCst),
        1,
        "the second call was a hit"
    );
    let async_calls = futures::executor::block_on(async {
        (
            async_with_inner_attribute(5).await,
            async_with_inner_attribute(5).await,
        )
    });
    assert_eq!(async_calls, (10, 10));
    assert_eq!(async_with_inner_attribute::stats().hits, 1);
}

// --- keys beyond std's 12-tuples --------------------------------------------

static THIRTEEN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
#[allow(clippy::too_many_arguments)]
fn thirteen(
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
    i: u8,
    j: u8,
    k: u8,
    l: u8,
    m: &str,
) -> u64 {
    THIRTEEN_RUNS.fetch_add(1, Ordering::SeqCst);
    [a, b, c, d, e, f, g, h, i, j, k, l]
        .iter()
        .map(|&n| u64::from(n))
        .sum::<u64>()
        + m.len() as u64
}

static TWENTY_FIVE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// 25 parts nest twice over: three tuples of at most 12.
#[cached]
#[allow(clippy::too_many_arguments)]
fn twenty_five(
    a0: u8,
    a1: u8,
    a2: u8,
    a3: u8,
    a4: u8,
    a5: u8,
    a6: u8,
    a7: u8,
    a8: u8,
    a9: u8,
    a10: u8,
    a11: u8,
    a12: u8,
    a13: u8,
    a14: u8,
    a15: u8,
    a16: u8,
    a17: u8,
    a18: u8,
    a19: u8,
    a20: u8,
    a21: u8,
    a22: u8,
    a23: u8,
    a24: String,
) -> usize {
    TWENTY_FIVE_RUNS.fetch_add(1, Ordering::SeqCst);
    let bytes = [
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19,
        a20, a21, a22, a23,
    ];
    bytes.len() + a24.len()
}

#[test]
fn thirteen_key_arguments_are_cached_and_invalidated() {
    let call = |m: &str| thirteen(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, m);
    assert_eq!(call("xy"), 80);
    assert_eq!(call("xy"), 80);
    assert_eq!(
        THIRTEEN_RUNS.load(Ordering::SeqCst),
        1,
        "the second call was a hit"
    );
    assert_eq!(call("xyz"), 81, "the 13th argument is part of the key");
    assert_eq!(THIRTEEN_RUNS.load(Ordering::SeqCst), 2);
    assert!(thirteen::invalidate(
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "xy"
    ));
    assert!(!thirteen::invalidate(
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "xy"
    ));
    assert_eq!(call("xy"), 80);
    assert_eq!(THIRTEEN_RUNS.load(Ordering::SeqCst), 3);
}

#[test]
fn twenty_five_key_arguments_are_cached() {
    let call = |last: u8| {
        twenty_five(
            0,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
            16,
            17,
            18,
            19,
            20,
            21,
            22,
            last,
            "abc".to_owned(),
        )
    };
    assert_eq!((call(23), call(23)), (27, 27));
    assert_eq!(TWENTY_FIVE_RUNS.load(Ordering::SeqCst), 1);
    call(99);
    assert_eq!(
        TWENTY_FIVE_RUNS.load(Ordering::SeqCst),
        2,
        "every argument counts"
    );
    assert_eq!(twenty_five::stats().entries, 2);
}

// --- ttl = Duration::MAX ------------------------------------------------------

static FOREVER_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = Duration::MAX)]
fn forever(x: u64) -> u64 {
    FOREVER_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 1
}

#[cached(persist = "disk", ttl = Duration::MAX)]
fn forever_on_disk(x: u64) -> u64 {
    x + 2
}

#[test]
fn a_ttl_of_duration_max_never_expires_in_memory() {
    assert_eq!((forever(1), forever(1)), (2, 2));
    assert_eq!(FOREVER_RUNS.load(Ordering::SeqCst), 1);
}

const CHILD_ENV: &str = "PAGESTATE_EDGES_CHILD";

#[test]
#[ignore = "runs only as the child process of a_ttl_of_duration_max_never_expires_on_disk"]
fn duration_max_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        println!("CHILD-REPORT value={}", forever_on_disk(5));
    }
}

#[test]
fn a_ttl_of_duration_max_never_expires_on_disk() {
    let dir = std::env::temp_dir().join(format!("pagestate-edges-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // In a child process, so that the cache directory is set before its
    // first use without changing this process's environment.
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "duration_max_child",
            "--include-ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, "1")
        .env("PAGESTATE_CACHE_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("CHILD-REPORT value=7"),
        "the child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .flat_map(|function| std::fs::read_dir(function.path()).unwrap().flatten())
        .map(|entry| entry.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let bytes = std::fs::read(&entries[0]).unwrap();
    // magic 8 | version 4 | identity 16 | key hash 16 | expiry 8 (see
    // state-core/src/cache/persist.rs): u64::MAX is "never".
    let expiry = u64::from_le_bytes(bytes[44..52].try_into().unwrap());
    assert_eq!(expiry, u64::MAX, "the entry never expires");
    let _ = std::fs::remove_dir_all(&dir);
}

// --- a cached function inside a function body ------------------------------

#[test]
fn a_function_inside_a_body_may_use_the_body_s_local_types() {
    #[derive(Clone, Hash, PartialEq, Eq)]
    struct Region(&'static str);

    const LOCAL_TTL: u64 = 60;
    static LOCAL_RUNS: AtomicUsize = AtomicUsize::new(0);

    #[cached(ttl = Duration::from_secs(LOCAL_TTL), key = region.0.len())]
    fn population(region: Region) -> usize {
        LOCAL_RUNS.fetch_add(1, Ordering::SeqCst);
        region.0.len() * 1000
    }

    assert_eq!(population(Region("north")), 5000);
    assert_eq!(population(Region("south")), 5000, "same custom key: a hit");
    assert_eq!(LOCAL_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(population::stats().hits, 1);
    assert!(population::invalidate(Region("east!")));
    population::clear();
    assert_eq!(population::stats().entries, 0);
}

// --- bodies that change or move their arguments ------------------------------

#[cached]
fn largest(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.pop().unwrap_or(0)
}

#[cached]
fn greeting(name: String) -> String {
    // Moves the argument out: the body is `FnOnce`.
    name
}

#[test]
fn a_body_may_change_or_move_its_arguments() {
    assert_eq!(largest(vec![3, 9, 4]), 9);
    assert_eq!(largest(vec![3, 9, 4]), 9);
    assert_eq!((largest::stats().hits, largest::stats().misses), (1, 1));
    assert_eq!(greeting("Ada".to_string()), "Ada");
    assert_eq!(greeting("Ada".to_string()), "Ada");
    assert_eq!((greeting::stats().hits, greeting::stats().misses), (1, 1));
}

// --- an executable without process functions never serves as a worker ----

/// This test binary has no `#[executor(process)]` function, so it links no
/// worker loop. Started as a worker anyway (the variable a process pool
/// sets, with this version's protocol), it must exit at once, before
/// `main`, and never run the application in a worker's place.
#[test]
fn started_as_a_worker_without_process_functions_it_exits_before_main() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_body_may_start_with_inner_attributes",
            "--nocapture",
        ])
        .env("PAGESTATE_WORKER", "pagestate-worker-2")
        .output()
        .unwrap();
    // 122: nothing to serve (state-core/src/executor/registry.rs).
    assert_eq!(output.status.code(), Some(122), "{output:?}");
    assert!(output.stdout.is_empty(), "main ran: {output:?}");
}
