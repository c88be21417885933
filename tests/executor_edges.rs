//! Valid functions that `#[executor]` must take as they are (a body with
//! inner attributes, many arguments), and timeouts written in the duration
//! grammar `#[cached(ttl = ..)]` uses.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::executor::block_on;
use pagestate::{cached, executor, ExecError};

// --- inner attributes stay in the body -------------------------------------

#[executor(thread)]
fn thread_job(x: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = x;
    x + 1
}

#[executor(thread)]
async fn async_thread_job(x: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = x;
    x + 2
}

#[executor(process)]
fn process_job(x: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = x;
    x + 3
}

static STACKED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
#[executor(thread)]
fn cached_thread_job(x: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = x;
    STACKED_RUNS.fetch_add(1, Ordering::SeqCst);
    x + 4
}

#[test]
fn a_body_may_start_with_inner_attributes() {
    assert_eq!(block_on(thread_job(1)), Ok(2));
    assert_eq!(block_on(async_thread_job(1)), Ok(3));
    assert_eq!(block_on(process_job(1)), Ok(4));
    assert_eq!(block_on(cached_thread_job(1)), Ok(5));
    assert_eq!(block_on(cached_thread_job(1)), Ok(5));
    assert_eq!(
        STACKED_RUNS.load(Ordering::SeqCst),
        1,
        "the second call was a hit"
    );
}

// --- more arguments than std's 12-tuples ------------------------------------

#[executor(thread)]
#[allow(clippy::too_many_arguments)]
fn thirteen_on_a_thread(
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
    m: String,
) -> usize {
    usize::from(a + b + c + d + e + f + g + h + i + j + k + l) + m.len()
}

#[executor(process)]
#[allow(clippy::too_many_arguments)]
fn thirteen_in_a_process(
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
    m: String,
) -> usize {
    usize::from(a + b + c + d + e + f + g + h + i + j + k + l) + m.len()
}

static CACHED_THIRTEEN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
#[executor(thread)]
#[allow(clippy::too_many_arguments)]
fn cached_thirteen_on_a_thread(
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
    m: String,
) -> usize {
    CACHED_THIRTEEN_RUNS.fetch_add(1, Ordering::SeqCst);
    usize::from(a + b + c + d + e + f + g + h + i + j + k + l) + m.len()
}

#[test]
fn thirteen_arguments_travel_to_threads_and_processes() {
    let m = || "abc".to_owned();
    assert_eq!(
        block_on(thirteen_on_a_thread(
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
            m()
        )),
        Ok(81)
    );
    assert_eq!(
        block_on(thirteen_in_a_process(
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
            m()
        )),
        Ok(81)
    );
    for _ in 0..2 {
        assert_eq!(
            block_on(cached_thirteen_on_a_thread(
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
                m()
            )),
            Ok(81)
        );
    }
    assert_eq!(CACHED_THIRTEEN_RUNS.load(Ordering::SeqCst), 1, "cached");
    assert!(cached_thirteen_on_a_thread::invalidate(
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
        m()
    ));
}

// --- timeouts in the shared duration grammar --------------------------------

static RELEASED: AtomicBool = AtomicBool::new(false);

/// Runs until released (or a minute has passed, so a failing test ends).
fn hold() {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !RELEASED.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[executor(thread, timeout = "50ms")]
fn held_with_a_string_timeout() {
    hold()
}

#[executor(thread, timeout = Duration::from_millis(60))]
fn held_with_an_expression_timeout() {
    hold()
}

#[test]
fn timeouts_take_duration_strings_and_expressions() {
    let string = held_with_a_string_timeout();
    let expression = held_with_an_expression_timeout();
    assert_eq!(
        block_on(string),
        Err(ExecError::Timeout(Duration::from_millis(50)))
    );
    assert_eq!(
        block_on(expression),
        Err(ExecError::Timeout(Duration::from_millis(60)))
    );
    RELEASED.store(true, Ordering::SeqCst);
}
