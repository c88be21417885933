//! Interleaved sampling: every contender of a figure is measured in
//! alternating batches, so that whatever the machine does meanwhile (another
//! build, frequency scaling, a noisy neighbour) lands on all of them alike.

use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// How much to measure: samples per contender, and the time one batch aims for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Batches measured per contender; the median of their per-operation
    /// times is the contender's figure.
    pub samples: usize,
    /// Calibration picks the number of operations per batch so that a batch
    /// takes about this long. Operations slower than this run once a batch.
    pub batch_time: Duration,
}

impl Plan {
    /// The full run, whose numbers the README quotes.
    pub const FULL: Plan = Plan {
        samples: 51,
        batch_time: Duration::from_millis(25),
    };

    /// `--quick`: the same figures with fewer, shorter samples.
    pub const QUICK: Plan = Plan {
        samples: 15,
        batch_time: Duration::from_millis(5),
    };

    /// This plan with at most `samples` samples, for figures whose single
    /// operation takes tens of milliseconds.
    pub fn at_most(self, samples: usize) -> Plan {
        Plan {
            samples: self.samples.min(samples),
            ..self
        }
    }
}

/// Shorter batches say more about the clock than about the operation.
const MIN_TIMED_BATCH: Duration = Duration::from_micros(20);

type Batch<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// One side of a comparison: a name and a way to run a batch of operations.
pub struct Contender<'a> {
    name: String,
    batch: Batch<'a>,
    fixed_iters: Option<u64>,
}

impl<'a> Contender<'a> {
    /// A contender whose batch calls `op` once per operation on the measuring
    /// thread, with the operation's index (for cycling through keys).
    ///
    /// Wrap inputs and results in [`std::hint::black_box`] inside `op`, so
    /// that the compiler can neither precompute nor discard the work.
    pub fn looped(name: impl Into<String>, mut op: impl FnMut(u64) + 'a) -> Self {
        Contender::timed(name, move |iters| {
            let start = Instant::now();
            for i in 0..iters {
                op(i);
            }
            start.elapsed()
        })
    }

    /// A contender that times its own batches: `batch(iters)` performs
    /// `iters` operations and returns how long they took. For bodies whose
    /// set-up (starting threads, entering a runtime) must not be counted.
    pub fn timed(name: impl Into<String>, batch: impl FnMut(u64) -> Duration + 'a) -> Self {
        Contender {
            name: name.into(),
            batch: Box::new(batch),
            fixed_iters: None,
        }
    }

    /// A contender whose operations run on `threads` threads at once, each
    /// thread calling `op(thread, i)` for its share of a batch. A batch's
    /// time runs from the first thread's start to the last thread's end,
    /// thread start-up excluded, so the per-operation time is the inverse of
    /// the threads' combined throughput.
    pub fn threaded(
        name: impl Into<String>,
        threads: usize,
        op: impl Fn(usize, u64) + Sync + 'a,
    ) -> Self {
        Contender::timed(name, move |iters| {
            let threads = threads.max(1);
            let per_thread = iters.div_ceil(threads as u64);
            let wall = on_threads(threads, |thread| {
                for i in 0..per_thread {
                    op(thread, i);
                }
            });
            // Report the time the batch's `iters` operations took at this rate.
            wall.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
        })
    }

    /// Runs exactly `iters` operations per batch instead of calibrating: for
    /// operations that cannot repeat freely (a miss must find an empty key)
    /// or that are slow anyway.
    pub fn fixed_iters(mut self, iters: u64) -> Self {
        self.fixed_iters = Some(iters.max(1));
        self
    }

    /// Warms the contender up, then finds the number of operations per batch
    /// that makes a batch last about `target`.
    ///
    /// The warm-up runs growing batches for at least `target` in all, so
    /// that one-off costs (starting pool threads or worker processes,
    /// filling caches) are paid before calibrating: counted in a calibration
    /// batch, they would make every later batch far too short.
    fn calibrate(&mut self, target: Duration) -> u64 {
        if let Some(iters) = self.fixed_iters {
            (self.batch)(iters);
            return iters;
        }
        let mut warmed = Duration::ZERO;
        let mut iters = 1_u64;
        while warmed < target {
            warmed += (self.batch)(iters);
            iters *= 2;
        }
        // Double the batch until it lasts an eighth of the target, and size
        // batches by the fastest per-operation time seen on the way: a batch
        // the scheduler interrupted only ever looks slower.
        let mut iters = 1_u64;
        let mut fastest = f64::INFINITY;
        let mut timed_batches = 0;
        loop {
            let took = (self.batch)(iters);
            if took >= MIN_TIMED_BATCH {
                fastest = fastest.min(took.as_secs_f64() / iters as f64);
                timed_batches += 1;
            }
            if took >= target || (took >= target / 8 && timed_batches >= 3) {
                return ((target.as_secs_f64() / fastest).ceil() as u64).max(1);
            }
            iters *= 2;
        }
    }
}

/// The samples of one contender.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The contender's name.
    pub name: String,
    /// Operations per batch.
    pub iters: u64,
    /// Nanoseconds per operation, one value per batch, in measuring order.
    pub ns_per_op: Vec<f64>,
}

impl Measured {
    /// The median of the per-batch times, in nanoseconds per operation.
    pub fn median(&self) -> f64 {
        quantile(&self.ns_per_op, 0.5)
    }

    /// The first and third quartiles of the per-batch times: how much the
    /// samples spread around the median.
    pub fn quartiles(&self) -> (f64, f64) {
        (
            quantile(&self.ns_per_op, 0.25),
            quantile(&self.ns_per_op, 0.75),
        )
    }
}

/// Measures every contender in `plan.samples` rounds of one batch each.
///
/// Each round rotates the order (A B C, B C A, C A B, ...), so that each
/// contender takes each position equally often and a slow drift of the
/// machine cancels out of the medians. Results come back in the order given.
pub fn interleave(plan: Plan, mut contenders: Vec<Contender<'_>>) -> Vec<Measured> {
    let iters: Vec<u64> = contenders
        .iter_mut()
        .map(|c| c.calibrate(plan.batch_time))
        .collect();
    let mut samples = vec![Vec::with_capacity(plan.samples); contenders.len()];
    let count = contenders.len();
    for round in 0..plan.samples {
        for offset in 0..count {
            let which = (round + offset) % count;
            let took = (contenders[which].batch)(iters[which]);
            samples[which].push(took.as_nanos() as f64 / iters[which] as f64);
        }
    }
    contenders
        .into_iter()
        .zip(iters)
        .zip(samples)
        .map(|((contender, iters), ns_per_op)| Measured {
            name: contender.name,
            iters,
            ns_per_op,
        })
        .collect()
}

/// The `q` quantile (0.0 ..= 1.0) of `values`, interpolating between the two
/// nearest ranks; NaN for no values.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// Runs `work(thread)` on `threads` threads released together, and returns
/// the time from the first one's start to the last one's end (starting the
/// threads is not counted).
///
/// A panic on a thread propagates to the caller.
pub fn on_threads(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(thread);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let first_start = spans.iter().map(|span| span.0).min();
    let last_end = spans.iter().map(|span| span.1).max();
    match (first_start, last_end) {
        (Some(start), Some(end)) => end - start,
        _ => Duration::ZERO,
    }
}

/// Spins until `duration` has passed: a stand-in for a function body that
/// costs CPU time, unlike a sleep, which lets the thread go.
pub fn busy_wait(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}
