//! One shared timer thread for job timeouts, so a timeout needs no async
//! runtime and no thread per job.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::Instant;

type Alarm = Box<dyn FnOnce() + Send>;

struct Entry {
    deadline: Instant,
    seq: u64,
    alarm: Alarm,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    // Reversed, so that the max-heap pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

#[derive(Default)]
struct Timer {
    queue: Mutex<(BinaryHeap<Entry>, u64)>,
    wake: Condvar,
}

static TIMER: OnceLock<&'static Timer> = OnceLock::new();

/// Calls `alarm` on the timer thread at `deadline`. Alarms must be quick and
/// must not panic: they only complete a job's future.
pub(crate) fn schedule(deadline: Instant, alarm: impl FnOnce() + Send + 'static) {
    let timer = TIMER.get_or_init(|| {
        let timer: &'static Timer = Box::leak(Box::default());
        thread::Builder::new()
            .name("pagestate-timer".to_owned())
            .spawn(move || timer.run())
            .expect("pagestate: cannot start the executor timer thread");
        timer
    });
    let mut queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
    let seq = queue.1;
    queue.1 += 1;
    queue.0.push(Entry {
        deadline,
        seq,
        alarm: Box::new(alarm),
    });
    drop(queue);
    timer.wake.notify_one();
}

impl Timer {
    fn run(&self) -> ! {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            match queue.0.peek().map(|entry| entry.deadline) {
                Some(deadline) if deadline <= now => {
                    let entry = queue.0.pop().expect("peeked");
                    drop(queue);
                    // An alarm that panics must not stop every later timeout.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(entry.alarm));
                    queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                }
                Some(deadline) => {
                    queue = self
                        .wake
                        .wait_timeout(queue, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                None => {
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}
