//! The table behind per-session state: each session's values by
//! (namespace, key), and the rules of their locks.
//!
//! This module knows nothing about sessions: [`crate::session`] builds
//! `Session` and `StateRef` on it. It owns:
//! - the public vocabulary of addresses and failures: [`Namespace`] and
//!   [`StateError`];
//! - one session's table, `StateMap`: one `Slot` per address, probed
//!   without allocating; `clear` (what `Session::close` does) orphans every
//!   slot and bumps the map's generation, and a read or write through an
//!   orphaned slot goes on in the live one;
//! - the slot locks and their re-entry checks: a caller's closure that
//!   touches the state whose lock its own call holds, or clears the map,
//!   panics instead of waiting for itself forever;
//! - in [`recent`], each thread's memory of the slots it found last.

use std::any::{type_name, Any};
use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use foldhash::fast::RandomState;

pub(crate) mod recent;

/// The namespace part of a state's (namespace, key) address.
///
/// The default, [`Namespace::SESSION`], is shared by the whole session; a
/// named one (often `module_path!()` or a page's name) keeps a page's keys from
/// meeting another page's.
///
/// ```
/// use pagestate_core::Namespace;
///
/// assert_eq!(Namespace::from("settings").name(), Some("settings"));
/// assert_eq!(Namespace::from(None).name(), None);
/// assert_eq!(Namespace::default(), Namespace::SESSION);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Namespace<'a>(Option<&'a str>);

impl<'a> Namespace<'a> {
    /// The session-wide namespace.
    pub const SESSION: Namespace<'static> = Namespace(None);

    /// The namespace's name, or `None` for the session-wide one.
    pub fn name(self) -> Option<&'a str> {
        self.0
    }
}

impl<'a> From<&'a str> for Namespace<'a> {
    fn from(name: &'a str) -> Self {
        Namespace(Some(name))
    }
}

impl<'a> From<&'a String> for Namespace<'a> {
    fn from(name: &'a String) -> Self {
        Namespace(Some(name))
    }
}

impl<'a> From<Option<&'a str>> for Namespace<'a> {
    fn from(name: Option<&'a str>) -> Self {
        Namespace(name)
    }
}

/// Why an access to a state failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The state has no value: it was never set, or it was cleared.
    Uninitialized {
        /// The state's namespace; `None` is the session-wide one.
        namespace: Option<String>,
        /// The state's key.
        key: String,
    },
    /// The state holds a value of another type than the one asked for. The
    /// stored value is left as it was.
    TypeMismatch {
        /// The state's namespace; `None` is the session-wide one.
        namespace: Option<String>,
        /// The state's key.
        key: String,
        /// The type the access asked for.
        expected: &'static str,
        /// The type of the value the state holds.
        found: &'static str,
    },
    /// There is no run context on this thread, so no session to look in.
    NoContext {
        /// The state's namespace; `None` is the session-wide one.
        namespace: Option<String>,
        /// The state's key.
        key: String,
    },
}

pub(crate) struct Address<'a>(pub(crate) Option<&'a str>, pub(crate) &'a str);

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(namespace) => write!(f, "state `{}` in namespace `{namespace}`", self.1),
            None => write!(f, "state `{}` in the session namespace", self.1),
        }
    }
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Uninitialized { namespace, key } => write!(
                f,
                "{} is not initialised: set it, or give use_state! a `factory`",
                Address(namespace.as_deref(), key)
            ),
            StateError::TypeMismatch {
                namespace,
                key,
                expected,
                found,
            } => write!(
                f,
                "{} holds a `{found}`, not a `{expected}`: access it as `{found}`, \
                 or `clear()` it before storing another type",
                Address(namespace.as_deref(), key)
            ),
            StateError::NoContext { namespace, key } => write!(
                f,
                "{} cannot be reached: no ScriptRunContext on this thread \
                 (run the page inside `Session::run`, or attach a captured context)",
                Address(namespace.as_deref(), key)
            ),
        }
    }
}

impl Error for StateError {}

/// One session's states.
pub(crate) struct StateMap {
    /// Tells maps apart: unique in the process, never reused.
    id: u64,
    slots: Mutex<HashMap<StateKey, Arc<Slot>, RandomState>>,
    /// Bumped by `clear`: slots found before belong to an older map.
    generation: AtomicU64,
}

/// A stored state's address.
struct StateKey {
    namespace: Option<Box<str>>,
    key: Box<str>,
}

/// A state's address as page code gives it: borrowed.
struct StateKeyRef<'a> {
    namespace: Option<&'a str>,
    key: &'a str,
}

/// Either form of an address. The map stores `StateKey`s and is probed
/// through `dyn Addressed`, so a lookup with a borrowed address allocates
/// nothing; both forms hash and compare by the same parts.
trait Addressed {
    fn parts(&self) -> (Option<&str>, &str);
}

impl Addressed for StateKey {
    fn parts(&self) -> (Option<&str>, &str) {
        (self.namespace.as_deref(), &self.key)
    }
}

impl Addressed for StateKeyRef<'_> {
    fn parts(&self) -> (Option<&str>, &str) {
        (self.namespace, self.key)
    }
}

impl<'a> Borrow<dyn Addressed + 'a> for StateKey {
    fn borrow(&self) -> &(dyn Addressed + 'a) {
        self
    }
}

impl Hash for dyn Addressed + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn Addressed + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Addressed + '_ {}

// The map's own key: the same hash and equality as `dyn Addressed`'s, as
// `Borrow` requires.
impl Hash for StateKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for StateKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for StateKey {}

impl StateMap {
    /// A new, empty map.
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        StateMap {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots: Mutex::default(),
            generation: AtomicU64::new(0),
        }
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn slot(&self, namespace: Option<&str>, key: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let probe = StateKeyRef { namespace, key };
        if let Some(slot) = slots.get(&probe as &dyn Addressed) {
            return Arc::clone(slot);
        }
        let slot = Arc::new(Slot {
            namespace: namespace.map(Into::into),
            key: key.into(),
            value: RwLock::default(),
            has_value: AtomicBool::new(false),
        });
        let stored_key = StateKey {
            namespace: namespace.map(Into::into),
            key: key.into(),
        };
        slots.insert(stored_key, Arc::clone(&slot));
        slot
    }

    /// The addresses of the states that hold a value now.
    #[cfg(feature = "durable")]
    pub(crate) fn initialized(&self) -> Vec<(Option<String>, String)> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .values()
            .filter(|slot| slot.has_value.load(Ordering::Acquire))
            .map(|slot| {
                (
                    slot.namespace.as_deref().map(Into::into),
                    slot.key.to_string(),
                )
            })
            .collect()
    }

    /// Drops every value and detaches every slot, so that handles taken
    /// before find the live map again.
    ///
    /// # Panics
    ///
    /// If this thread is inside an `update`, `reduce` or `with` closure of
    /// one of these states: clearing it would wait for that closure's lock,
    /// held by this very call, forever.
    #[track_caller]
    pub(crate) fn clear(&self) {
        let mut guard = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = guard.values().find(|slot| Held::holds(slot)) {
            let address = Address(held.namespace.as_deref(), &held.key).to_string();
            drop(guard);
            close_inside_closure_panic(&address);
        }
        let slots = std::mem::take(&mut *guard);
        // Under the lock, once the map is empty: whoever reads the new
        // generation finds only new slots (see `recent`).
        self.generation.fetch_add(1, Ordering::AcqRel);
        drop(guard);
        let mut dropped = Vec::with_capacity(slots.len());
        for slot in slots.into_values() {
            let mut value = slot.value.write().unwrap_or_else(PoisonError::into_inner);
            value.orphaned = true;
            slot.has_value.store(false, Ordering::Release);
            dropped.push(value.stored.take());
        }
        // Values drop here, after every lock is released: a value's own drop
        // may touch state.
        drop(dropped);
    }
}

thread_local! {
    /// The slots whose lock this thread holds while it runs a caller's
    /// closure (`with`, `update`, `reduce`), and whether for writing.
    static HELD: RefCell<Vec<(usize, bool)>> = const { RefCell::new(Vec::new()) };
    /// How many entries `HELD` has: a destructor-free thread-local, so the
    /// check on every access costs one plain read when nothing is held.
    static HELD_COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Marks a slot as locked by this thread while a caller's closure runs, so
/// that the closure touching the same state panics instead of deadlocking
/// on the lock its own call holds.
struct Held(usize);

impl Held {
    fn id(slot: &Arc<Slot>) -> usize {
        Arc::as_ptr(slot) as usize
    }

    /// Panics if locking `slot` (for writing, or reading) now would wait
    /// for this thread itself.
    #[track_caller]
    fn check(slot: &Arc<Slot>, write: bool) {
        if HELD_COUNT.get() == 0 {
            return;
        }
        let id = Held::id(slot);
        let conflict = HELD
            .try_with(|held| {
                held.borrow()
                    .iter()
                    .any(|&(held, held_write)| held == id && (write || held_write))
            })
            .unwrap_or(false);
        if conflict {
            reentry_panic(slot);
        }
    }

    /// Whether this thread runs a caller's closure under `slot`'s lock.
    fn holds(slot: &Arc<Slot>) -> bool {
        if HELD_COUNT.get() == 0 {
            return false;
        }
        let id = Held::id(slot);
        HELD.try_with(|held| held.borrow().iter().any(|&(held, _)| held == id))
            .unwrap_or(false)
    }

    /// Marks `slot` as locked while a caller's closure runs; pagestate's
    /// own closures never touch state, and skip the bookkeeping.
    fn enter(closure: Closure, slot: &Arc<Slot>, write: bool) -> Option<Held> {
        if closure == Closure::Ours {
            return None;
        }
        let id = Held::id(slot);
        if HELD
            .try_with(|held| held.borrow_mut().push((id, write)))
            .is_err()
        {
            return None; // thread teardown: nothing to record in
        }
        HELD_COUNT.set(HELD_COUNT.get() + 1);
        Some(Held(id))
    }
}

/// Whose code runs while a state's lock is held.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closure {
    /// pagestate's own, which never touches state.
    Ours,
    /// The caller's (`with`, `update`, `reduce`), which might.
    Callers,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = HELD.try_with(|held| {
            let mut held = held.borrow_mut();
            if let Some(at) = held.iter().rposition(|&(id, _)| id == self.0) {
                held.remove(at);
                HELD_COUNT.set(held.len());
            }
        });
    }
}

#[cold]
#[track_caller]
fn reentry_panic(slot: &Slot) -> ! {
    panic!(
        "{} was used inside its own `update`, `reduce` or `with` closure, which holds its \
         lock: this would wait forever. Read what the closure needs before the call, or \
         change the value through the closure's argument",
        Address(slot.namespace.as_deref(), &slot.key)
    )
}

#[cold]
#[track_caller]
fn close_inside_closure_panic(address: &str) -> ! {
    panic!(
        "Session::close was called inside an `update`, `reduce` or `with` closure of \
         {address} of the same session, which holds that state's lock: closing would wait \
         forever. Close the session after the closure returns"
    )
}

/// The home of one (namespace, key) in one session.
pub(crate) struct Slot {
    namespace: Option<Box<str>>,
    key: Box<str>,
    value: RwLock<SlotValue>,
    /// Whether `value` holds a value, kept in step under its write lock: lets
    /// `use_state!`'s factory check on every rerun skip the lock.
    has_value: AtomicBool,
}

impl Slot {
    /// Applies `f` to the value under its write lock and keeps `has_value`
    /// in step. (The only user code `f` runs is `update`'s, which cannot
    /// remove the value, so a panic leaves the flag right.)
    fn change<R>(&self, value: &mut SlotValue, f: impl FnOnce(&mut Option<Stored>) -> R) -> R {
        let result = f(&mut value.stored);
        self.has_value
            .store(value.stored.is_some(), Ordering::Release);
        result
    }

    /// The state's namespace; `None` is the session-wide one.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The state's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Whether the slot holds a value, read without its lock.
    pub(crate) fn has_value(&self) -> bool {
        self.has_value.load(Ordering::Acquire)
    }

    /// Runs `f` on the value under the slot's read lock. If `map` was
    /// cleared since this slot was found, runs it on the slot `map` holds
    /// now for the same address instead.
    #[inline]
    pub(crate) fn read<R>(
        self: &Arc<Self>,
        map: &StateMap,
        closure: Closure,
        f: impl FnOnce(Option<&Stored>) -> R,
    ) -> R {
        Held::check(self, false);
        let value = self.value.read().unwrap_or_else(PoisonError::into_inner);
        if !value.orphaned {
            let _held = Held::enter(closure, self, false);
            return f(value.stored.as_ref());
        }
        drop(value);
        self.read_live(map, closure, f)
    }

    /// [`read`](Self::read) once this slot is orphaned: in the slot `map`
    /// holds now for the same address.
    #[cold]
    #[inline(never)]
    fn read_live<R>(
        &self,
        map: &StateMap,
        closure: Closure,
        f: impl FnOnce(Option<&Stored>) -> R,
    ) -> R {
        loop {
            let slot = map.slot(self.namespace(), self.key());
            Held::check(&slot, false);
            let value = slot.value.read().unwrap_or_else(PoisonError::into_inner);
            if !value.orphaned {
                let _held = Held::enter(closure, &slot, false);
                return f(value.stored.as_ref());
            }
        }
    }

    /// Runs `f` on the value under the slot's write lock, keeping
    /// `has_value` in step. If `map` was cleared since this slot was found,
    /// runs it on the slot `map` holds now for the same address instead.
    #[inline]
    pub(crate) fn write<R>(
        self: &Arc<Self>,
        map: &StateMap,
        closure: Closure,
        f: impl FnOnce(&mut Option<Stored>) -> R,
    ) -> R {
        Held::check(self, true);
        let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
        if !value.orphaned {
            let _held = Held::enter(closure, self, true);
            return self.change(&mut value, f);
        }
        drop(value);
        self.write_live(map, closure, f)
    }

    /// [`write`](Self::write) once this slot is orphaned: in the slot `map`
    /// holds now for the same address.
    #[cold]
    #[inline(never)]
    fn write_live<R>(
        &self,
        map: &StateMap,
        closure: Closure,
        f: impl FnOnce(&mut Option<Stored>) -> R,
    ) -> R {
        loop {
            let slot = map.slot(self.namespace(), self.key());
            Held::check(&slot, true);
            let mut value = slot.value.write().unwrap_or_else(PoisonError::into_inner);
            if !value.orphaned {
                let _held = Held::enter(closure, &slot, true);
                return slot.change(&mut value, f);
            }
        }
    }
}

#[derive(Default)]
struct SlotValue {
    stored: Option<Stored>,
    /// Set when the session was closed: the map no longer holds this slot.
    orphaned: bool,
}

pub(crate) struct Stored {
    pub(crate) value: Box<dyn Any + Send + Sync>,
    pub(crate) type_name: &'static str,
}

impl Stored {
    pub(crate) fn new<T: Send + Sync + 'static>(value: T) -> Self {
        Stored {
            value: Box::new(value),
            type_name: type_name::<T>(),
        }
    }
}
