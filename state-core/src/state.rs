//! Per-session state that survives reruns: [`StateRef`], keyed by
//! (namespace, key) inside one [`Session`].

use std::any::{type_name, Any};
use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hashbrown::{Equivalent, HashMap};

use crate::session::{ScriptRunContext, Session};

mod recent;

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

struct Address<'a>(Option<&'a str>, &'a str);

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
    slots: Mutex<HashMap<StateKey, Arc<Slot>>>,
    /// Bumped by `clear`: slots found before belong to an older map.
    generation: AtomicU64,
}

#[derive(PartialEq, Eq)]
struct StateKey {
    namespace: Option<Box<str>>,
    key: Box<str>,
}

struct StateKeyRef<'a> {
    namespace: Option<&'a str>,
    key: &'a str,
}

// Both forms hash alike, so the map can be probed without allocating.
impl Hash for StateKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.as_deref().hash(state);
        self.key.hash(state);
    }
}

impl Hash for StateKeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespace.hash(state);
        self.key.hash(state);
    }
}

impl Equivalent<StateKey> for StateKeyRef<'_> {
    fn equivalent(&self, stored: &StateKey) -> bool {
        self.namespace == stored.namespace.as_deref() && self.key == &*stored.key
    }
}

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
        if let Some(slot) = slots.get(&probe) {
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
enum Closure {
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
struct Slot {
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

struct Stored {
    value: Box<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl Stored {
    fn new<T: Send + Sync + 'static>(value: T) -> Self {
        Stored {
            value: Box::new(value),
            type_name: type_name::<T>(),
        }
    }
}

/// A handle to one value in one session, addressed by (namespace, key).
///
/// Page code gets one from `use_state!` on every rerun; the value behind it
/// survives the reruns. A `StateRef` holds its session, not the thread, so it
/// can be cloned and moved into worker threads; every access is synchronised,
/// and concurrent [`reduce`](Self::reduce) or [`update`](Self::update) calls on
/// one state never lose an update.
///
/// A typed access never replaces or corrupts a value stored under another
/// type: it fails with [`StateError::TypeMismatch`] instead.
///
/// ```
/// use pagestate_core::{Session, StateError};
///
/// let session = Session::new();
/// let todo = session.state::<Vec<String>>("todo-page", "items");
/// assert!(matches!(todo.get(), Err(StateError::Uninitialized { .. })));
/// assert!(todo.init(Vec::new));
/// todo.update(|items| items.push("write docs".to_owned())).unwrap();
/// assert_eq!(todo.with(|items| items.len()), Ok(1));
/// todo.clear();
/// assert!(!todo.is_initialized());
/// ```
pub struct StateRef<T> {
    session: Session,
    slot: Arc<Slot>,
    _type: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> StateRef<T> {
    fn new(session: &Session, namespace: Namespace<'_>, key: &str) -> Self {
        StateRef {
            slot: recent::slot(session.state_map(), namespace.name(), key),
            session: session.clone(),
            _type: PhantomData,
        }
    }

    /// The state's key.
    pub fn key(&self) -> &str {
        self.slot.key()
    }

    /// The state's namespace; `None` is the session-wide one.
    pub fn namespace(&self) -> Option<&str> {
        self.slot.namespace()
    }

    /// The session the state belongs to.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A clone of the current value.
    pub fn get(&self) -> Result<T, StateError>
    where
        T: Clone,
    {
        // `Clone` is not expected to touch the state: no re-entry mark.
        self.read(Closure::Ours, |stored| {
            Ok(self.downcast_ref(stored)?.clone())
        })
    }

    /// Calls `f` with a reference to the current value. The state is locked
    /// for reading meanwhile: `f` may read this same state, but writing to
    /// it would wait forever, so it panics.
    pub fn with<R>(&self, f: impl FnOnce(&T) -> R) -> Result<R, StateError> {
        self.read(Closure::Callers, |stored| Ok(f(self.downcast_ref(stored)?)))
    }

    /// Sets the value, initialising the state if needed.
    ///
    /// Fails with [`StateError::TypeMismatch`], leaving the state as it was,
    /// when it holds a value of another type; [`clear`](Self::clear) it first
    /// to change its type.
    pub fn set(&self, value: T) -> Result<(), StateError> {
        let previous = self.write(Closure::Ours, |stored| match stored {
            // In place: a rerun's `set` allocates nothing.
            Some(current) => match current.value.downcast_mut::<T>() {
                Some(slot) => Ok(Some(std::mem::replace(slot, value))),
                None => Err(self.mismatch(current)),
            },
            None => {
                *stored = Some(Stored::new(value));
                Ok(None)
            }
        })?;
        // Dropped after the lock is released: a value's drop may use state.
        drop(previous);
        Ok(())
    }

    /// Replaces the value with `reducer(value, arg)` and returns the new value.
    ///
    /// The state stays locked from read to write, so concurrent reducers never
    /// lose an update; `reducer` must not touch this same state (it would
    /// wait forever, so it panics). On an
    /// uninitialised state it fails and `reducer` is never called. If
    /// `reducer` panics, the state keeps its previous value.
    ///
    /// ```
    /// # let session = pagestate_core::Session::new();
    /// let total = session.state::<i64>(None, "total");
    /// total.set(2).unwrap();
    /// assert_eq!(total.reduce(|sum, n| sum + n, 3), Ok(5));
    /// ```
    pub fn reduce<A>(&self, reducer: impl FnOnce(T, A) -> T, arg: A) -> Result<T, StateError>
    where
        T: Clone,
    {
        self.update(|value| {
            let next = reducer(value.clone(), arg);
            *value = next.clone();
            next
        })
    }

    /// Calls `f` with a mutable reference to the current value, under the
    /// state's write lock; `f` must not touch this same state (it would wait
    /// forever, so it panics).
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, StateError> {
        self.write(Closure::Callers, |stored| match stored {
            None => Err(self.uninitialized()),
            Some(current) => match current.value.downcast_mut::<T>() {
                Some(value) => Ok(f(value)),
                None => Err(self.mismatch(current)),
            },
        })
    }

    /// Sets the value to `factory()` if the state has none, and returns
    /// whether it did.
    ///
    /// `factory` runs outside the state's lock, so it may itself use state;
    /// if another thread initialises the state first, its value wins and the
    /// factory's result is dropped.
    pub fn init(&self, factory: impl FnOnce() -> T) -> bool {
        if self.slot.has_value() || self.is_initialized() {
            return false;
        }
        let value = factory();
        self.write(Closure::Ours, |stored| {
            if stored.is_some() {
                return false;
            }
            *stored = Some(Stored::new(value));
            true
        })
    }

    /// Whether the state holds a value (of any type).
    pub fn is_initialized(&self) -> bool {
        self.read(Closure::Ours, |stored| stored.is_some())
    }

    /// Removes the value, uninitialising the state. A no-op when it has none.
    pub fn clear(&self) {
        let previous = self.write(Closure::Ours, Option::take);
        drop(previous);
    }

    /// Reads through this handle's slot, or the live one after a close.
    fn read<R>(&self, closure: Closure, f: impl FnOnce(Option<&Stored>) -> R) -> R {
        self.slot.read(self.session.state_map(), closure, f)
    }

    /// Writes through this handle's slot, or the live one after a close.
    fn write<R>(&self, closure: Closure, f: impl FnOnce(&mut Option<Stored>) -> R) -> R {
        self.slot.write(self.session.state_map(), closure, f)
    }

    fn downcast_ref<'s>(&self, stored: Option<&'s Stored>) -> Result<&'s T, StateError> {
        let stored = stored.ok_or_else(|| self.uninitialized())?;
        stored
            .value
            .downcast_ref::<T>()
            .ok_or_else(|| self.mismatch(stored))
    }

    fn uninitialized(&self) -> StateError {
        StateError::Uninitialized {
            namespace: self.namespace().map(Into::into),
            key: self.key().into(),
        }
    }

    fn mismatch(&self, stored: &Stored) -> StateError {
        StateError::TypeMismatch {
            namespace: self.namespace().map(Into::into),
            key: self.key().into(),
            expected: type_name::<T>(),
            found: stored.type_name,
        }
    }
}

impl<T> Clone for StateRef<T> {
    fn clone(&self) -> Self {
        StateRef {
            session: self.session.clone(),
            slot: Arc::clone(&self.slot),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for StateRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateRef")
            .field("session", &self.session.id())
            .field("namespace", &self.slot.namespace())
            .field("key", &self.slot.key())
            .field("type", &type_name::<T>())
            .finish()
    }
}

impl Session {
    /// A handle to the state at (`namespace`, `key`) in this session, for
    /// host code that is not running a page of this session.
    pub fn state<'a, T: Send + Sync + 'static>(
        &self,
        namespace: impl Into<Namespace<'a>>,
        key: &str,
    ) -> StateRef<T> {
        StateRef::new(self, namespace.into(), key)
    }
}

/// A handle to the state at (`namespace`, `key`) in the current run
/// context's session: the function form of `use_state!`.
///
/// Fails with [`StateError::NoContext`] on a thread without a run context.
///
/// ```
/// use pagestate_core::{state, Session, StateError};
///
/// assert!(matches!(state::<u8>(None, "x"), Err(StateError::NoContext { .. })));
/// Session::new().run(|| {
///     let x = state::<u8>(None, "x").unwrap();
///     x.set(7).unwrap();
///     assert_eq!(x.get(), Ok(7));
/// });
/// ```
pub fn state<'a, T: Send + Sync + 'static>(
    namespace: impl Into<Namespace<'a>>,
    key: &str,
) -> Result<StateRef<T>, StateError> {
    let namespace = namespace.into();
    ScriptRunContext::with_current(|ctx| match ctx {
        Some(ctx) => Ok(StateRef::new(ctx.session(), namespace, key)),
        None => Err(StateError::NoContext {
            namespace: namespace.name().map(Into::into),
            key: key.into(),
        }),
    })
}

/// `use_state!` without a factory.
#[doc(hidden)]
#[track_caller]
pub fn use_state<T: Send + Sync + 'static>(namespace: Namespace<'_>, key: &str) -> StateRef<T> {
    match ScriptRunContext::with_current(|ctx| {
        ctx.map(|ctx| StateRef::new(ctx.session(), namespace, key))
    }) {
        Some(state) => state,
        None => no_context_panic(namespace, key),
    }
}

/// `use_state!` with a factory: initialised on first use.
#[doc(hidden)]
#[track_caller]
pub fn use_state_init<T: Send + Sync + 'static, F: FnOnce() -> T>(
    namespace: Namespace<'_>,
    key: &str,
    factory: F,
) -> StateRef<T> {
    let state = use_state::<T>(namespace, key);
    state.init(factory);
    state
}

#[cold]
#[track_caller]
fn no_context_panic(namespace: Namespace<'_>, key: &str) -> ! {
    panic!(
        "use_state!: {} was used outside a page run: no ScriptRunContext on this thread. \
         Run the page inside `Session::run(|| ...)`, or attach a captured context with \
         `ScriptRunContext::attach` on the thread you spawned",
        Address(namespace.name(), key)
    )
}
