//! The single-flight table of one cache: the computations running now, one
//! per key, and what a computation hands its waiters.
//!
//! This module owns the table's rules: at most one flight per key; a flight
//! leaves the table when its leader finishes or when its key is cleared,
//! invalidated or its session ends, and in the second case it is
//! *cancelled*: its value is neither stored nor handed to waiters, so no
//! call after the clear observes a value computed from before it. The table
//! lives under the cache's writer lock (see `store.rs`); the call protocol
//! that leads, waits and retries is in `compute.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use event_listener::{Event, EventListener};

use super::key::{ErasedKey, ErasedValue, PassThrough};

/// One running computation of a key.
pub(crate) struct Flight {
    value: OnceLock<ErasedValue>,
    /// Set when the key was cleared, invalidated or its session ended while
    /// the computation ran: its result is neither stored nor handed to the
    /// waiters (only the leader returns it), and the flight has left the
    /// flight table, so later calls compute afresh.
    cancelled: AtomicBool,
    done: Event,
}

impl Flight {
    fn new() -> Self {
        Flight {
            value: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            done: Event::new(),
        }
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The leader's value for its waiters; set once, by the leader only.
    pub(crate) fn set_value(&self, value: ErasedValue) {
        let _ = self.value.set(value);
    }

    /// The value the leader handed over, if it has and the flight was not
    /// cancelled.
    pub(crate) fn handed_over(&self) -> Option<&ErasedValue> {
        if self.is_cancelled() {
            return None;
        }
        self.value.get()
    }

    /// A listener for the end of this flight. Register it under the writer
    /// lock while the flight is in the table, so that its end cannot be
    /// missed.
    pub(crate) fn listen(&self) -> EventListener {
        self.done.listen()
    }

    /// Wakes every waiter when dropped, also during a panic.
    pub(crate) fn wake_on_drop(&self) -> WakeOnDrop<'_> {
        WakeOnDrop(&self.done)
    }
}

/// Wakes every waiter of a flight when dropped.
pub(crate) struct WakeOnDrop<'a>(&'a Event);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify(usize::MAX);
    }
}

/// The flights of one cache by key. Only used under the writer lock.
#[derive(Default)]
pub(crate) struct Flights(HashMap<ErasedKey, Arc<Flight>, PassThrough>);

impl Flights {
    /// The flight running for `key`, if any.
    pub(crate) fn get(&self, key: &ErasedKey) -> Option<&Arc<Flight>> {
        self.0.get(key)
    }

    /// Registers a new flight for `key`, which has none.
    pub(crate) fn start(&mut self, key: &ErasedKey) -> Arc<Flight> {
        let flight = Arc::new(Flight::new());
        self.0.insert(key.clone(), flight.clone());
        flight
    }

    /// Removes `flight` at the end of its leader's computation, unless a
    /// clear has taken it out already (and maybe a newer flight took its
    /// place).
    pub(crate) fn finish(&mut self, key: &ErasedKey, flight: &Arc<Flight>) {
        if self
            .0
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, flight))
        {
            self.0.remove(key);
        }
    }

    /// Cancels the flight of `key`, if any.
    pub(crate) fn cancel(&mut self, key: &ErasedKey) {
        if let Some(flight) = self.0.remove(key) {
            flight.cancel();
        }
    }

    /// Cancels the flights whose key `doomed` accepts; returns how many
    /// flights it examined.
    pub(crate) fn cancel_where(&mut self, doomed: impl Fn(&ErasedKey) -> bool) -> usize {
        let examined = self.0.len();
        self.0.retain(|key, flight| {
            let cancel = doomed(key);
            if cancel {
                flight.cancel();
            }
            !cancel
        });
        examined
    }

    /// Cancels every flight.
    pub(crate) fn cancel_all(&mut self) {
        for (_, flight) in self.0.drain() {
            flight.cancel();
        }
    }
}

thread_local! {
    /// The flights whose computation runs on this thread now, innermost
    /// last: a sync body, or an async body during one of its polls.
    static RUNNING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks a flight as computing on this thread until dropped (also during a
/// panic). The mark is the flight's address, which stays unique while the
/// mark lives: the leader holds the flight.
pub(crate) struct Running(usize);

impl Running {
    pub(crate) fn enter(flight: &Arc<Flight>) -> Running {
        let id = Arc::as_ptr(flight) as usize;
        // During thread teardown the list may be gone: then nothing is
        // marked, and nothing can be detected, but the call still works.
        let _ = RUNNING.try_with(|running| running.borrow_mut().push(id));
        Running(id)
    }

    /// Whether `flight` is computing on this thread right now: waiting for
    /// it here would wait forever.
    pub(crate) fn is_running(flight: &Arc<Flight>) -> bool {
        let id = Arc::as_ptr(flight) as usize;
        RUNNING
            .try_with(|running| running.borrow().contains(&id))
            .unwrap_or(false)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|running| {
            let mut running = running.borrow_mut();
            if let Some(at) = running.iter().rposition(|id| *id == self.0) {
                running.remove(at);
            }
        });
    }
}
