//! Figure 8: `use_state!` get, set and reduce on an `i64`, against the
//! session store a Rust user would write by hand: a
//! `Mutex<HashMap<(String, String), Box<dyn Any + Send + Sync>>>` keyed by
//! (namespace, key).
//!
//! pagestate is measured two ways, both against the same baseline and both
//! in the table, each held to the target:
//! - **per rerun**: `use_state!("count", factory = ..)` and then the
//!   operation, as page code does on every rerun: find the run context, look
//!   the state up, initialise it if needed, operate;
//! - **through a held `StateRef`**: the operation alone, on a handle taken
//!   once, as a loop inside one page run does.
//!
//! The baseline keeps its `(String, String)` key built once, so its lookups
//! allocate nothing (page code building the key from string literals on
//! every rerun would pay two allocations more), and it writes in place
//! through `downcast_mut`. Both sides run on one thread, uncontended.

use std::any::Any;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::Instant;

use pagestate::{use_state, Session, StateRef};
use pagestate_benches::figure::Figure;
use pagestate_benches::measure::{Contender, Plan};
use pagestate_benches::report::{Report, Shown};

type AnyMap = Mutex<HashMap<(String, String), Box<dyn Any + Send + Sync>>>;

/// The hand-written store and the key of its one value.
struct Baseline {
    map: AnyMap,
    key: (String, String),
}

impl Baseline {
    fn new() -> Self {
        let key = ("page".to_owned(), "count".to_owned());
        let mut map = HashMap::new();
        map.insert(key.clone(), Box::new(0_i64) as Box<dyn Any + Send + Sync>);
        Baseline {
            map: Mutex::new(map),
            key,
        }
    }

    /// Calls `f` on the stored `i64`, under the map's lock.
    fn with<R>(&self, f: impl FnOnce(&mut i64) -> R) -> R {
        let mut map = self.map.lock().unwrap();
        let value = map
            .get_mut(black_box(&self.key))
            .and_then(|value| value.downcast_mut::<i64>())
            .expect("the baseline holds an i64");
        f(value)
    }
}

/// One of the measured operations.
#[derive(Clone, Copy)]
enum Op {
    Get,
    Set,
    Reduce,
}

impl Op {
    const ALL: [Op; 3] = [Op::Get, Op::Set, Op::Reduce];

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Reduce => "reduce",
        }
    }

    fn on_state(self, state: &StateRef<i64>, i: u64) {
        match self {
            Op::Get => {
                black_box(state.get().expect("the state is initialised"));
            }
            Op::Set => state
                .set(black_box(i as i64))
                .expect("the state holds an i64"),
            Op::Reduce => {
                black_box(
                    state
                        .reduce(|n, by| n.wrapping_add(by), black_box(1_i64))
                        .expect("the state is initialised"),
                );
            }
        }
    }

    fn on_baseline(self, baseline: &Baseline, i: u64) {
        match self {
            Op::Get => {
                black_box(baseline.with(|value| *value));
            }
            Op::Set => baseline.with(|value| *value = black_box(i as i64)),
            Op::Reduce => {
                black_box(baseline.with(|value| {
                    *value = value.wrapping_add(black_box(1));
                    *value
                }));
            }
        }
    }
}

/// The state page code reaches on every rerun.
fn count_state() -> StateRef<i64> {
    use_state!("count", namespace = "page", factory = || 0_i64)
}

/// Figure 8: for each operation, pagestate per rerun and through a held
/// handle, and the baseline, all interleaved.
pub fn use_state_ops(plan: Plan, report: &mut Report) {
    let session = Session::new();
    let held = session.run(count_state);
    let baseline = Baseline::new();
    for op in Op::ALL {
        let label = format!("8. use_state! {} on i64, per rerun", op.name());
        let mut figure = Figure::new(label, Shown::Time);
        let per_rerun = figure.add(Contender::timed(
            format!("pagestate use_state!(..) + {}", op.name()),
            |iters| {
                session.run(|| {
                    let start = Instant::now();
                    for i in 0..iters {
                        op.on_state(&count_state(), i);
                    }
                    start.elapsed()
                })
            },
        ));
        let through_handle = figure.add(Contender::looped(
            format!("pagestate StateRef::{} (held handle)", op.name()),
            |i| op.on_state(&held, i),
        ));
        let by_hand = figure.add(Contender::looped(
            "Mutex<HashMap<(String, String), Box<dyn Any>>>",
            |i| op.on_baseline(&baseline, i),
        ));
        figure.row(per_rerun, by_hand, Some(1.5));
        figure.row_as(
            format!("8. StateRef::{} on i64, held handle", op.name()),
            through_handle,
            by_hand,
            Some(1.5),
        );
        figure.run(plan, report);
    }
}
